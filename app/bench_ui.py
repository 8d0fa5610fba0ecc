"""``matchscope bench ui``: how fast the window answers a probe, raises a dock and starts, and
how fast a video seeks and how much memory a long sequence takes.

The window is the app's own `MainWindow` in its default layout (1400 x 900, the pair view and the
Probe, Certainty and Warp docks visible; True error, Anchors and Attention tabbed behind
Certainty; Benchmarks, Keypoints and Matches behind Warp), showing a RoMa-sized result made
without a network (:mod:`core.bench.ui_data`). The window's figures:

* **Probe update** (``probe_update_ms_*``): from ``AppState.click_a(x, y)`` until every visible
  view has repainted: the clock starts before the call, Qt's events are then processed
  (``QApplication.processEvents()``, repeatedly) until each visible view (the pair view and the
  visible docks' widgets, or any widget inside them) has received a paint event since the call
  and one more pass of the event loop delivers no paint event at all; the clock stops there. The
  paints are Qt's own, into the window's backing store (no ``grab()``, no forced repaint), so
  this counts the state's signal, every view's ``set_probe`` (hidden docks' too), pyqtgraph's
  scene updates and the painting. Probes lie on a jittered grid over A, visited in a random
  order, after ``WARMUP`` probes that are not counted.
* **Dock raise** (``dock_raise_ms_*``): for each tabbed-away dock, the probe is moved (while it
  is hidden) and its tab group's default dock is showing; the clock runs from its tab chosen as
  a click on it does (``QTabBar.setCurrentIndex``) until the raised dock's widget has painted
  and a pass of the event loop paints nothing more. ``dock_raise_ms_p95`` is the worst dock's
  95th percentile.
* **Start-up** (``startup_s``): ``python main.py`` spawned with ``QT_QPA_PLATFORM=offscreen``,
  an empty settings folder and ``MATCHSCOPE_EXIT_WHEN_SHOWN`` (:data:`app.gui.SHOWN_ENV`): the
  seconds from just before the spawn to the child's wall clock once its window has painted (it
  has loaded the demo pair and started its matcher's run in the worker); the median of
  ``--startup-runs``.

References measured in the same run, for a shared machine: a full render of the whole window
with nothing changed (``window.grab()``, every widget painted into a pixmap, median), and the
start-up of a bare ``python -c "from PySide6 import QtWidgets"``. Qt is imported only when
measuring.

And the sequences' figures, without the window (:func:`measure_sequences`):

* **Seek** (``seek_ms_median``, ``seek_ms_p95``): exact random seeks (``--seeks``) in a
  ``--seek-frames`` H.264 video of KITTI's size (1240 x 376, a keyframe every 30 frames,
  textured content that moves), read with :class:`core.sequence.video.VideoReader`, every frame
  checked to be the one asked for; the reference is decoding the same video in order
  (``sequential_decode_ms``, per frame). See :mod:`core.bench.sequence_speed`.
* **Sequence memory** (``sequence_peak_over_budget_mb``): a ``--memory-frames`` sequence of
  1241 x 376 frames walked pair by pair through a 256 MiB frame cache, each pair's small sparse
  result kept in a 64 MiB cache: the peak growth of the resident set less both budgets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.bench import measure
from core.bench.ui_data import TINY, UiSize, make_ui_pair, make_ui_result
from core.errors import MatchscopeError

JSON_KEYS = (
    "probe_update_ms_median",
    "probe_update_ms_p95",
    "dock_raise_ms_p95",
    "startup_s",
    # sequences: the window following a scrub (app.bench_scrub), a video's seeks and a long
    # sequence's memory (measure_sequences)
    "scrub_fps",
    "seek_ms_median",
    "seek_ms_p95",
    "sequential_decode_ms",
    "sequence_peak_over_budget_mb",
)
WARMUP = 10
"""Probes before the measured ones (first paints fill pyqtgraph's caches)."""
SETTLE_TIMEOUT_S = 5.0
"""A wait for paints longer than this counts as timed out (and is left out of the figures)."""
WINDOW_SIZE = (1400, 900)
MAIN_PY = Path(__file__).resolve().parent.parent / "main.py"
TARGETS = {
    "scrub_fps": 30.0,
    "probe_update_ms_p95": 16.0,
    "dock_raise_ms_p95": 50.0,
    "startup_s": 2.0,
    "seek_ms_p95": 50.0,
    "sequence_peak_over_budget_mb": 500,
}
SEEK_VIDEO_SIZE = (1240, 376)
"""The seek benchmark video's (width, height): KITTI odometry's (even, for yuv420p)."""
SEEK_GOP = 30
"""Frames between the seek benchmark video's keyframes."""
MEMORY_FRAME_SIZE = (1241, 376)
"""The memory benchmark's frames (width, height): KITTI odometry's images."""
FRAME_CACHE_BYTES = 256 * measure.MB
TINY_FRAME_SIZE = (64, 48)
"""``--tiny``: the seek video's and the memory benchmark's frames."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--probes", type=int, default=200, help="probes measured (default 200)")
    parser.add_argument(
        "--raises", type=int, default=10, help="raises measured per tabbed dock (default 10)"
    )
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=5,
        help="spawns of `python main.py` for the start-up time (default 5; 0 skips it)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a tiny result (96 x 96, 4 x 4 cells) in place of the RoMa-sized one, and 64 x 48 "
        "frames for the sequence figures: a quick check",
    )
    parser.add_argument(
        "--scrub-frames",
        type=int,
        default=500,
        help="frames (1241 x 376, each pair's result cached) of the sequence the window scrubs "
        "through for scrub_fps (default 500; 0 skips it)",
    )
    parser.add_argument(
        "--seek-frames",
        type=int,
        default=500,
        help="frames of the H.264 video (1240 x 376, a keyframe every 30) the seeks are timed "
        "in (default 500; 0 skips the seek figures)",
    )
    parser.add_argument(
        "--seeks", type=int, default=200, help="exact random seeks timed (default 200)"
    )
    parser.add_argument(
        "--memory-frames",
        type=int,
        default=5000,
        help="frames (1241 x 376) of the sequence walked through the 256 MiB frame cache for "
        "the peak memory over budget (default 5000; 0 skips it)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic result")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def probe_points(count: int, size_hw: tuple[int, int], seed: int) -> np.ndarray:
    """(count, 2) pixels (x, y) of A on a jittered grid covering A, in a random order."""
    rng = np.random.default_rng(seed)
    height, width = size_hw
    side = int(np.ceil(np.sqrt(max(count, 1))))
    cells = np.stack(np.meshgrid(np.arange(side), np.arange(side)), axis=-1).reshape(-1, 2)
    cells = cells[rng.permutation(len(cells))[:count]]
    points = (cells + rng.random(cells.shape)) / side * [width, height] - 0.5
    return np.clip(points, 0, [width - 1, height - 1])


class _Painted:
    """Counts Qt paint events per view (a view: its widget and every widget inside it)."""

    def __init__(self, views: dict):
        from PySide6.QtCore import QEvent, QObject
        from PySide6.QtWidgets import QWidget

        paint = QEvent.Type.Paint
        owner: dict[int, str] = {}
        self.painted: set[str] = set()
        self.count = 0

        class Filter(QObject):
            def eventFilter(inner, obj, event):
                if event.type() == paint:
                    self.count += 1
                    self.painted.add(owner.get(id(obj), ""))
                return False

        self._filter = Filter()
        self._widgets = []  # kept alive: ``owner`` is keyed by id
        for name, view in views.items():
            for widget in [view, *view.findChildren(QWidget)]:
                owner[id(widget)] = name
                widget.installEventFilter(self._filter)
                self._widgets.append(widget)

    def settle(self, app, expected: set[str]) -> bool:
        """Process events until every view in ``expected`` painted since the last `reset` and
        a pass paints nothing more; False after ``SETTLE_TIMEOUT_S``."""
        deadline = time.perf_counter() + SETTLE_TIMEOUT_S
        while True:
            before = self.count
            app.processEvents()
            if expected <= self.painted and self.count == before:
                return True
            if time.perf_counter() > deadline:
                return False

    def reset(self) -> None:
        self.painted.clear()


def _window(rgb_a: np.ndarray, rgb_b: np.ndarray, result):
    """The main window in its default layout, shown, with the pair and the result."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from app.state import AppState
    from app.window import MainWindow
    from core.figures import warp_pictures
    from core.imageio import LoadedImage

    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(imageAxisOrder="row-major")
    state = AppState("roma", {"intermediates": True})
    window = MainWindow(state)
    window.resize(*WINDOW_SIZE)
    window.show()
    with window.holding_runs():
        state.set_images(LoadedImage(rgb_a, "a.png"), LoadedImage(rgb_b, "b.png"))
    request = state.begin_request()
    state.set_result(request, result, None, warp_pictures(rgb_b, result.warp_ab))
    app.processEvents()  # the layout: which docks show
    return app, state, window


def _docks(window) -> tuple[dict, dict]:
    """The visible views {name: widget} (the pair view and the visible docks') and the tabbed
    docks {name: (dock, the dock showing in its tab group)}."""
    from PySide6.QtWidgets import QDockWidget

    docks = window.findChildren(QDockWidget)

    def showing(dock: QDockWidget) -> bool:  # a tab behind another is "visible" but covered
        return dock.isVisible() and not dock.visibleRegion().isEmpty()

    visible = {"pair view": window.pair_view}
    visible.update({dock.windowTitle(): dock.widget() for dock in docks if showing(dock)})
    tabbed = {}
    for dock in docks:
        if showing(dock):
            continue
        shown = next((d for d in window.tabifiedDockWidgets(dock) if showing(d)), None)
        if shown is not None:
            tabbed[dock.windowTitle()] = (dock, shown)
    return visible, tabbed


def _tab(window, dock) -> tuple:
    """The main window's tab bar that holds ``dock``'s tab and the tab's index: raising a dock
    as a click on its tab does (``QTabBar.setCurrentIndex``; ``QDockWidget.raise_`` would also
    restack the window's widgets and repaint the pair view)."""
    from PySide6.QtWidgets import QTabBar

    for bar in window.findChildren(QTabBar):
        if not bar.isVisible() or bar.visibleRegion().isEmpty():  # Qt keeps unused tab bars
            continue
        for index in range(bar.count()):
            if bar.tabText(index) == dock.windowTitle():
                return bar, index
    raise MatchscopeError(f"no tab for the {dock.windowTitle()} dock")


def measure_views(size: UiSize, probes: int, raises: int, seed: int) -> dict:
    """Probe-update and dock-raise times (module docstring) in this process."""
    rgb_a, rgb_b = make_ui_pair(size, seed)
    result = make_ui_result(size, seed)
    with measure.PeakMemory("cpu") as peak:
        app, state, window = _window(rgb_a, rgb_b, result)
        visible, tabbed = _docks(window)
        all_views = {**visible, **{name: dock.widget() for name, (dock, _) in tabbed.items()}}
        painted = _Painted(all_views)
        painted.settle(app, set(visible))
        points = probe_points(WARMUP + probes, result.size_a, seed)
        times, timed_out = [], 0
        for index, (x, y) in enumerate(points):
            painted.reset()
            start = time.perf_counter()
            state.click_a(float(x), float(y))
            settled = painted.settle(app, set(visible))
            elapsed = (time.perf_counter() - start) * 1e3
            if index < WARMUP:
                continue
            if settled:
                times.append(elapsed)
            else:
                timed_out += 1
        reference = []
        for _ in range(20):
            start = time.perf_counter()
            window.grab()
            reference.append((time.perf_counter() - start) * 1e3)
        raise_times: dict[str, list[float]] = {}
        more = probe_points(len(tabbed) * raises, result.size_a, seed + 1)
        for number, (name, (dock, shown)) in enumerate(tabbed.items()):
            raise_times[name] = []
            (bar, index), (_, shown_index) = _tab(window, dock), _tab(window, shown)
            for repeat in range(raises):
                bar.setCurrentIndex(shown_index)
                painted.reset()
                painted.settle(app, {shown.windowTitle()})
                x, y = more[number * raises + repeat]
                state.click_a(float(x), float(y))
                painted.reset()
                painted.settle(app, set(visible))
                painted.reset()
                start = time.perf_counter()
                bar.setCurrentIndex(index)
                settled = painted.settle(app, {name})
                if settled:
                    raise_times[name].append((time.perf_counter() - start) * 1e3)
                else:
                    timed_out += 1
            bar.setCurrentIndex(shown_index)
        painted.settle(app, set())
        rss = measure.current_rss()
        window.close()
    by_dock = {name: _percentile(values, 95) for name, values in raise_times.items()}
    worst = max((v for v in by_dock.values() if v is not None), default=None)
    return {
        "probe_update_ms_median": _median(times),
        "probe_update_ms_p95": _percentile(times, 95),
        "probe_update_ms_max": max(times, default=None),
        "dock_raise_ms_p95": worst,
        "dock_raise_ms_p95_by_dock": by_dock,
        "dock_raise_ms_median": _median([v for values in raise_times.values() for v in values]),
        "probes": len(times),
        "raises": sum(len(values) for values in raise_times.values()),
        "timed_out": timed_out,
        "visible_views": sorted(visible),
        "tabbed_docks": sorted(tabbed),
        "reference_render_ms_median": _median(reference),
        "peak_mb": peak.bytes / measure.MB,
        "rss_mb": None if rss is None else rss / measure.MB,
        "peak_memory_method": peak.method,
        "qt_platform": app.platformName(),
    }


def _spawn_seconds(command: list[str], env: dict, wait_for_shown: bool) -> float:
    """Seconds from just before spawning ``command`` until it exits, or (``wait_for_shown``)
    until the wall clock its ``window shown at T`` line reports."""
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    end = time.time()
    if not wait_for_shown:
        return end - start
    for line in done.stdout.splitlines():
        if line.startswith("matchscope: window shown at "):
            return float(line.rsplit(" ", 1)[1]) - start
    raise MatchscopeError(
        f"`python main.py` did not report its window (exit {done.returncode}): "
        f"{(done.stderr or done.stdout).strip()[-500:]}"
    )


def measure_startup(runs: int) -> dict:
    """`python main.py` to its window shown, and the bare PySide6 import (reference)."""
    from app.gui import SHOWN_ENV

    if runs <= 0:
        return {"startup_s": None, "startup_runs_s": [], "reference_startup_s": None}
    with tempfile.TemporaryDirectory(prefix="matchscope-bench-ui-") as home:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "XDG_CONFIG_HOME": home,  # no remembered layout or settings
            SHOWN_ENV: "1",
        }
        seconds = [_spawn_seconds([sys.executable, str(MAIN_PY)], env, True) for _ in range(runs)]
        bare = [sys.executable, "-c", "from PySide6 import QtWidgets"]
        reference = [_spawn_seconds(bare, env, False) for _ in range(runs)]
    return {
        "startup_s": _median(seconds),
        "startup_runs_s": seconds,
        "reference_startup_s": _median(reference),
    }


def measure_sequences(
    seek_frames: int, seeks: int, memory_frames: int, tiny: bool, seed: int
) -> dict:
    """The seek figures (a video encoded into a temporary folder) and the sequence memory
    (module docstring); a count of 0 leaves its figures None."""
    from core.bench import sequence_speed

    summary = {"seeks": None, "sequence_memory": None}
    if seek_frames > 0:
        size = TINY_FRAME_SIZE if tiny else SEEK_VIDEO_SIZE
        with tempfile.TemporaryDirectory(prefix="matchscope-bench-seek-") as folder:
            video = sequence_speed.encode_bench_video(
                Path(folder) / "seek.mp4", size, seek_frames, SEEK_GOP, seed=seed
            )
            summary["seeks"] = {
                **sequence_speed.measure_seeks(video, seeks, seed),
                "size_wh": list(size),
                "gop": SEEK_GOP,
                "codec": sequence_speed.CODEC,
            }
    if memory_frames > 0:
        size = TINY_FRAME_SIZE if tiny else MEMORY_FRAME_SIZE
        memory = sequence_speed.measure_sequence_memory(
            memory_frames, size, FRAME_CACHE_BYTES, seed
        )
        summary["sequence_memory"] = {**memory, "size_wh": list(size)}
    seek_figures, memory_figures = summary["seeks"] or {}, summary["sequence_memory"] or {}
    summary.update(
        seek_ms_median=seek_figures.get("seek_ms_median"),
        seek_ms_p95=seek_figures.get("seek_ms_p95"),
        sequential_decode_ms=seek_figures.get("sequential_ms_per_frame"),
        sequence_peak_over_budget_mb=memory_figures.get("peak_over_budget_mb"),
    )
    return summary


def run(args: argparse.Namespace) -> dict:
    """``matchscope bench ui``: measure, write ``--json``, print; the summary."""
    json_path = measure.json_output(args.json)
    if args.probes < 1 or args.raises < 1:
        raise MatchscopeError("--probes and --raises must be at least 1")
    if args.scrub_frames == 1 or args.scrub_frames < 0:
        raise MatchscopeError("--scrub-frames must be 0 (skip) or at least 2")
    if args.seek_frames < 0 or args.memory_frames < 0:
        raise MatchscopeError("--seek-frames and --memory-frames must be 0 (skip) or more")
    if args.seek_frames == 1 or args.memory_frames == 1:
        raise MatchscopeError("--seek-frames and --memory-frames need at least 2 frames")
    if args.seeks < 1:
        raise MatchscopeError("--seeks must be at least 1")
    size = TINY if args.tiny else UiSize()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    load_before = measure.load_average()
    views = measure_views(size, args.probes, args.raises, args.seed)
    startup = measure_startup(args.startup_runs)
    sequences = measure_sequences(
        args.seek_frames, args.seeks, args.memory_frames, args.tiny, args.seed
    )
    scrub = {"scrub_fps": None}
    if args.scrub_frames:
        from app.bench_scrub import SCRUB_SIZE_WH, measure_scrub

        scrub_size = TINY_FRAME_SIZE if args.tiny else SCRUB_SIZE_WH
        scrub = measure_scrub(args.scrub_frames, scrub_size, args.seed, WINDOW_SIZE)
    figures = {**views, **startup, **scrub, **sequences}
    summary = {
        **{key: figures[key] for key in JSON_KEYS},
        **figures,
        "settings": {
            **size.as_dict(),
            "probes": args.probes,
            "raises": args.raises,
            "scrub_frames": args.scrub_frames,
            "seek_frames": args.seek_frames,
            "seeks": args.seeks,
            "memory_frames": args.memory_frames,
        },
        "machine": measure.machine_info(load_before=load_before, load_after=measure.load_average()),
    }
    measure.write_json(json_path, summary)
    print_report(summary)
    return summary


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def print_report(summary: dict) -> None:
    settings, machine = summary["settings"], summary["machine"]
    print(
        f"UI speed: synthetic RoMa result {settings['size']} x {settings['size']}, "
        f"{settings['cells']} x {settings['cells']} cells of {settings['anchors']} x "
        f"{settings['anchors']} anchors, {settings['matches']} matches; Qt "
        f"{summary['qt_platform']}; views shown: {', '.join(summary['visible_views'])}"
    )
    loads = [machine["load_before"], machine["load_after"]]
    print(
        f"machine: {machine['cpu']} ({machine['cpu_count']} CPUs), load average (1 min) before "
        f"/ after {' / '.join('-' if v is None else f'{v:.1f}' for v in loads)}"
    )
    reference = summary["reference_render_ms_median"]
    print(
        f"probe update ({summary['probes']} probes): median "
        f"{_ms(summary['probe_update_ms_median'])}, p95 {_ms(summary['probe_update_ms_p95'])} "
        f"(target {TARGETS['probe_update_ms_p95']:g} ms); a full window render (reference) "
        f"{_ms(reference)}"
    )
    by_dock = ", ".join(f"{k} {_ms(v)}" for k, v in summary["dock_raise_ms_p95_by_dock"].items())
    print(
        f"dock raise p95, worst dock: {_ms(summary['dock_raise_ms_p95'])} (target "
        f"{TARGETS['dock_raise_ms_p95']:g} ms); by dock: {by_dock}"
    )
    if summary["startup_s"] is not None:
        print(
            f"start-up to the window shown: {summary['startup_s']:.2f} s median (target "
            f"{TARGETS['startup_s']:g} s); bare Python + PySide6 (reference) "
            f"{summary['reference_startup_s']:.2f} s"
        )
    print_sequence_report(summary)
    if summary["timed_out"]:
        print(f"{summary['timed_out']} waits for paints timed out ({SETTLE_TIMEOUT_S:g} s each)")
    print(f"peak memory {summary['peak_mb']:.0f} MB ({summary['peak_memory_method']})")


def print_sequence_report(summary: dict) -> None:
    """The sequence figures' lines (those measured)."""
    seeks, memory = summary["seeks"], summary["sequence_memory"]
    if summary.get("scrub_fps") is not None:
        width, height = summary["scrub_size_wh"]
        print(
            f"scrub ({summary['scrub_frames']} frames {width} x {height}, results cached; views "
            f"shown: {', '.join(summary['scrub_visible_views'])}): {summary['scrub_fps']:.1f} "
            f"frames/s (target {TARGETS['scrub_fps']:g}), a frame median "
            f"{_ms(summary['scrub_ms_median'])}, p95 {_ms(summary['scrub_ms_p95'])}"
        )
    if seeks is not None:
        width, height = seeks["size_wh"]
        exact = "every frame exact" if seeks["seek_exact"] else f"{seeks['wrong_frames']} WRONG"
        ratio = seeks["seek_ms_p95"] / seeks["sequential_ms_per_frame"]
        print(
            f"seek ({seeks['seeks']} random exact seeks, {seeks['frames']} frames {width} x "
            f"{height} {seeks['codec']}, a keyframe every {seeks['gop']}): median "
            f"{_ms(seeks['seek_ms_median'])}, p95 {_ms(seeks['seek_ms_p95'])} (target "
            f"{TARGETS['seek_ms_p95']:g} ms), {exact}; in-order decode (reference) "
            f"{_ms(seeks['sequential_ms_per_frame'])} per frame (p95 = {ratio:.1f} of them)"
        )
    if memory is not None:
        width, height = memory["size_wh"]
        print(
            f"sequence memory ({memory['sequence_frames']} frames {width} x {height}, a "
            f"{memory['cache_budget_mb']:.0f} MiB frame cache and {memory['results_budget_mb']:.0f}"
            f" MiB of pair results): peak growth {memory['peak_growth_mb']:.0f} MB, "
            f"{memory['peak_over_budget_mb']:.0f} MB over the budgets (target "
            f"{TARGETS['sequence_peak_over_budget_mb']:g} MB)"
        )
