"""`run_gui`: start the Qt application with the main window (what `main.py` runs by default)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import assets
from app import WINDOW_MATCHER
from app.figure_dialog import FigureRequest
from app.sequence_export import SequenceExport, export_sequence_view
from app.state import AppState
from app.window import MainWindow
from core.errors import MatchscopeError
from core.matchers import matcher_weights

SHOWN_ENV = "MATCHSCOPE_EXIT_WHEN_SHOWN"
"""When set (``bench ui`` sets it), the app prints ``matchscope: window shown at T`` (T: the
wall clock, ``time.time()``, once the window has painted once) and exits at once."""

SCREENSHOT_SETTLE_MS = 300
"""Time the views get to paint after the match ends, before a screenshot is taken."""

_EXIT_CODES = {"ok": 0, "failed": 1, "cancelled": 1}


@dataclass(frozen=True)
class SequenceRequest:
    """A sequence to open in the window (``python main.py SEQUENCE``; the options as on the
    command line)."""

    path: str
    camera: str | None = None
    intrinsics: str | None = None
    frames: str | None = None
    results: str | None = None
    step: int = 1
    reference: int | None = None
    export: SequenceExport | None = None  # --export-sequence: export, then exit
    max_size: int | None = None


def run_gui(
    path_a: str | None,
    path_b: str | None,
    matcher: str = WINDOW_MATCHER,
    settings: dict | None = None,
    screenshot: str | None = None,
    dataset: str | None = None,
    screenshot_views: str | None = None,
    probe: tuple[float, float] | None = None,
    workspace: str | None = None,
    figure: FigureRequest | None = None,
    sequence: SequenceRequest | None = None,
    vo: str | None = None,
) -> int:
    """Show the window on the pair (the demo pair when both paths are None and no dataset is
    given) and match it; with ``dataset``, benchmark ``matcher`` on that folder in the
    Benchmarks dock (the pair view stays empty until a pair of it is clicked).

    With ``screenshot``, the window is saved to that PNG once the match (or the benchmark)
    ends and the app exits: 0 when it succeeded, 1 when it failed, 2 when an image could not
    be loaded or the matcher's weights are missing (then nothing is shown); every failure is
    one ``matchscope: error: ...`` line on stderr, as the command line's. With
    ``screenshot_views`` (a folder), the same, and every view is saved as its own PNG there
    (``pair_view.png``, ``certainty.png``, ...: see :meth:`ViewExporter.save_views`).

    With ``figure``, the same, and the composed figure of the result for the probe is written
    (see :mod:`app.figure_dialog`); when it cannot be made (a panel the result lacks) the app
    exits 2 with one error line.

    ``probe`` (x, y): once the first match ends, probe that pixel of A as a click would.

    ``workspace`` (a file, see :mod:`app.workspace`): reopen it in place of the paths; what it
    lacks (an image, weights) is shown in the window, or with a screenshot exits 2. Without
    a workspace or a screenshot the window starts with the dock layout it was closed with.

    ``sequence``: open it on the timeline in place of a pair (see `app.window_sequence`); a
    screenshot is taken once the first pair's result is shown.

    ``vo`` (a folder with a ``scene.npz``): reopen that visual odometry run, with its sequence
    when it can be found (see `app.window_vo`); a screenshot is taken at once.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Matchscope")
    app.setOrganizationName("Matchscope")  # QSettings: ~/.config/Matchscope/Matchscope.conf
    pg.setConfigOptions(imageAxisOrder="row-major")
    state = AppState(matcher, settings)
    window = MainWindow(state)
    exporting = sequence is not None and sequence.export is not None
    headless = bool(screenshot or screenshot_views or figure or exporting)
    missing = _missing_weights(state) if headless and not workspace else None
    if missing is not None:  # without --screenshot the window shows it, with a folder to choose
        _print_error(str(missing))
        return 2
    window.remember_layout = not headless
    if headless or workspace or not window.restore_remembered_layout():
        window.resize(1400, 900)
    window.show()
    no_pair = path_a is None and path_b is None and not (dataset or workspace or sequence or vo)
    if no_pair and assets.DEMO_A.exists() and assets.DEMO_B.exists():
        path_a, path_b = str(assets.DEMO_A), str(assets.DEMO_B)
    loaded = True
    if sequence is not None:
        loaded = _open_sequence(window, sequence)
    elif vo is not None:
        loaded = window.open_vo_run(vo)
    elif workspace:
        loaded = window.open_workspace(workspace)
    elif path_a and path_b:
        loaded = state.load_pair(path_a, path_b)
    elif path_a or path_b:
        loaded = state.load("a" if path_a else "b", path_a or path_b)
    if dataset:
        window.benchmark_view.dataset_edit.setText(dataset)
        window.benchmark_dock.raise_()
        window.run_benchmark(dataset, [matcher], None, None)
    if os.environ.get(SHOWN_ENV):
        QTimer.singleShot(0, lambda: _exit_when_shown(window))
    if probe is not None and state.result is not None and not state.running:
        state.click_a(*probe)  # a workspace's saved result is there already
    elif probe is not None:

        def set_probe(outcome: str) -> None:
            state.run_finished.disconnect(set_probe)
            if outcome == "ok":
                state.click_a(*probe)

        state.run_finished.connect(set_probe)  # before `finish`: the views show it when saved
    if headless:

        def finish(code: int) -> None:
            QTimer.singleShot(
                SCREENSHOT_SETTLE_MS,
                lambda: _save_and_quit(app, window, screenshot, screenshot_views, figure, code),
            )

        if not loaded:
            _print_error(state.error)
            finish(2)
        elif exporting:
            QTimer.singleShot(0, lambda: app.exit(_export(window, sequence.export)))
        elif sequence is not None:
            _finish_on_first_result(state, finish)
        elif vo is not None:
            finish(0)
        elif dataset:
            bench = window.bench_state
            if bench.running:

                def bench_finished(outcome: str, message: str) -> None:
                    if outcome != "ok":
                        _print_error(message)
                    finish(_EXIT_CODES[outcome])

                bench.finished.connect(bench_finished)
            else:
                _print_error(window.benchmark_view.message.text())
                finish(1)
        elif state.running:

            def run_finished(outcome: str) -> None:
                if outcome == "failed":
                    _print_error(state.error)
                finish(_EXIT_CODES[outcome])

            state.run_finished.connect(run_finished)
        else:
            finish(0)
    return app.exec()


def _open_sequence(window: MainWindow, request: SequenceRequest) -> bool:
    """Open ``request`` in ``window`` with its pairing; False (the error shown) when it fails."""
    return window.open_sequence(
        request.path,
        request.camera,
        request.intrinsics,
        request.frames,
        request.results,
        request.step,
        request.reference,
        max_size=request.max_size,
    )


def _export(window: MainWindow, request: SequenceExport) -> int:
    """``--export-sequence``: write the frames (waiting for each pair's result); the exit
    status (0, or 2 with one error line)."""
    try:
        count = export_sequence_view(window, request)
    except MatchscopeError as exc:
        _print_error(str(exc))
        return 2
    print(f"matchscope: exported {count} frames of the {request.view} to {request.path}")
    return 0


def _finish_on_first_result(state: AppState, finish) -> None:
    """``finish(0)`` once the shown pair has a result, ``finish(1)`` on the first error."""
    if state.result is not None:
        finish(0)
        return

    def result_changed(result) -> None:
        if result is not None:
            disconnect()
            finish(0)

    def error_changed(message: str) -> None:
        if message:
            disconnect()
            _print_error(message)
            finish(1)

    def disconnect() -> None:
        state.result_changed.disconnect(result_changed)
        state.error_changed.disconnect(error_changed)

    state.result_changed.connect(result_changed)
    state.error_changed.connect(error_changed)


def _exit_when_shown(window: MainWindow) -> None:
    """Paint the window (its first paint, if the event loop has not done it yet), print the
    time and leave at once: a running match's thread is not waited for (see `SHOWN_ENV`)."""
    window.repaint()
    print(f"matchscope: window shown at {time.time():.6f}", flush=True)
    os._exit(0)


def _print_error(message: str) -> None:
    print(f"matchscope: error: {message}", file=sys.stderr)


def _missing_weights(state: AppState) -> MatchscopeError | None:
    """Why the current matcher's weights cannot be found (with the app's weights folder), or
    None when they are all there or will be downloaded."""
    settings = state.run_settings()
    if settings.get("download"):
        return None
    problems = [
        place
        for place in matcher_weights(state.matcher, settings).values()
        if isinstance(place, MatchscopeError)
    ]
    return problems[0] if problems else None


def _save_and_quit(
    app: QApplication,
    window: MainWindow,
    path: str | None,
    views: str | None,
    figure: FigureRequest | None,
    code: int,
) -> None:
    app.processEvents()
    if path and not window.grab().save(path):
        print(f"matchscope: cannot write the screenshot {path}", file=sys.stderr)
        code = code or 1
    for error in window.view_exporter.save_views(views) if views else []:
        _print_error(error)
        code = code or 1
    if figure is not None and code == 0:
        try:
            figure.export(window)
        except MatchscopeError as exc:
            _print_error(str(exc))
            code = 2
    app.exit(code)
