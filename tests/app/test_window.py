"""`MainWindow` end to end with real matchers in the worker thread and real mouse clicks."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QObject, QPointF, Qt, QThreadPool, Signal

from app.gui import run_gui
from app.state import AppState
from app.window import MainWindow

SHIFT = (6, 4)  # B shows A's pixel (x, y) at (x + 6, y + 4)
FAST_FLOW = {"max_size": 200, "num_samples": 400, "preset": "fast"}
SLOW = "tests.app.plugins:SlowMatcher"


@pytest.fixture
def pair(tmp_path):
    """A 200x160 smooth random texture and a copy shifted by SHIFT, as PNG files."""
    rng = np.random.default_rng(7)
    noise = rng.uniform(0, 255, (200, 240, 3)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 2.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    dx, dy = SHIFT
    a, b = texture[20:180, 20:220], texture[20 - dy : 180 - dy, 20 - dx : 220 - dx]
    paths = tmp_path / "a.png", tmp_path / "b.png"
    for path, image in zip(paths, (a, b), strict=True):
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return tuple(str(path) for path in paths)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True is immortal from Python 3.12")
def test_qt_signals_keep_their_references():
    """PySide6 6.12.0 drops a reference to True on every Signal.emit(): on Python 3.11 the app
    then aborts ("bool_dealloc") after a few thousand emits, e.g. while panning a view."""

    class Emitter(QObject):
        fired = Signal()

    emitter = Emitter()
    before = sys.getrefcount(True)
    for _ in range(100):
        emitter.fired.emit()
    assert sys.getrefcount(True) - before > -50, "this PySide6 build leaks; use another version"


def make_window(qtbot, matcher: str, settings: dict | None = None) -> MainWindow:
    window = MainWindow(AppState(matcher, settings))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_pair(window: MainWindow, pair) -> None:
    assert window.state.load_pair(*pair)  # both present: matching starts by itself


def click_pixel(qtbot, window: MainWindow, x: float, y: float) -> QPointF:
    """A real left click on the pair view at pixel (x, y) of A; returns the pixel it hit."""
    pair_view = window.pair_view
    pair_view.canvas.viewport().repaint()  # apply the latest view ranges to the transforms
    scene = pair_view.view_a.mapViewToScene(QPointF(x, y))
    pos = pair_view.canvas.mapFromScene(scene)
    qtbot.mouseClick(pair_view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    return pair_view.view_a.mapSceneToView(pair_view.canvas.mapToScene(pos))


def test_click_in_a_probes_the_match_in_b(qtbot, pair):
    window = make_window(qtbot, "dense-flow", FAST_FLOW)
    open_pair(window, pair)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None, timeout=4000)
    assert "400 matches" in window.statusBar().currentMessage()
    assert window.pair_view.lines.drawn_count > 0
    assert (state.probe.xa, state.probe.ya) == (100, 80)  # a first result probes A's centre
    before = window.pair_view.lines.probe_ends[1]

    hit = click_pixel(qtbot, window, 60, 50)  # delivered at once: no waiting
    probe = state.probe
    assert (probe.xa, probe.ya) == (round(hit.x()), round(hit.y()))
    assert abs(probe.xa - 60) <= 1 and abs(probe.ya - 50) <= 1
    assert probe.xb == pytest.approx(probe.xa + SHIFT[0], abs=1.0)
    assert probe.yb == pytest.approx(probe.ya + SHIFT[1], abs=1.0)
    assert window.probe_panel.fields["A pixel"].text() == f"({probe.xa:.0f}, {probe.ya:.0f})"

    window.pair_view.canvas.viewport().repaint()
    mark_b = window.pair_view.lines.probe_ends[1]
    assert mark_b != before
    on_b = window.pair_view.view_b.mapSceneToView(mark_b)
    assert (on_b.x(), on_b.y()) == pytest.approx((probe.xb, probe.yb), abs=1e-3)
    marker = window.certainty_view.panel.marker
    assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (probe.xa, probe.ya)


def test_threshold_slider_changes_the_drawn_lines(qtbot, pair):
    window = make_window(qtbot, "tests.app.plugins:ShiftMatcher")
    window.pair_view.max_lines_box.setValue(10_000)
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=4000)
    certainty = window.state.result.match_certainty
    lines = window.pair_view.lines
    assert lines.drawn_count == np.count_nonzero(certainty >= 0.5)

    window.threshold_slider.setValue(0.9)
    assert window.state.threshold == pytest.approx(0.9)
    assert lines.drawn_count == np.count_nonzero(certainty >= window.state.threshold)
    assert 0 < lines.drawn_count < np.count_nonzero(certainty >= 0.5)


def test_cancel_stops_the_run_and_leaves_no_result(qtbot, pair):
    window = make_window(qtbot, SLOW, {"stages": 100, "seconds": 0.05})
    stages = []
    window.state.progress_changed.connect(lambda stage, fraction: stages.append(stage))
    open_pair(window, pair)
    qtbot.waitUntil(lambda: "sleep 1" in stages, timeout=3000)
    assert window.cancel_action.isEnabled()
    assert "sleep" in window.progress.format()

    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window.state.running, timeout=3000)
    assert "cancelled" in window.statusBar().currentMessage().lower()
    assert window.state.result is None and not window.cancel_action.isEnabled()
    assert len(stages) < 50
    assert QThreadPool.globalInstance().waitForDone(3000)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("runtime", "RuntimeError: plugin exploded"),
        ("memory", "out of memory"),
    ],
)
def test_a_failing_plugin_shows_its_error_and_the_app_goes_on(qtbot, pair, error, message):
    window = make_window(qtbot, "tests.app.plugins:FailingMatcher", {"error": error})
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.state.error != "", timeout=3000)
    assert message in window.statusBar().currentMessage()
    assert message in window.probe_panel.message.text()
    assert window.probe_panel.message.isVisible()
    assert "second line" not in window.state.error

    window.matcher_combo.setCurrentText("dense-flow")  # choosing a matcher runs it
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=4000)
    assert not window.probe_panel.message.isVisible()


def test_closing_while_running_cancels_the_worker(qtbot, pair):
    window = make_window(qtbot, SLOW, {"stages": 200, "seconds": 0.05})
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.runner.is_running, timeout=2000)
    window.close()
    assert not window.runner.is_running
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    assert window.state.result is None


def test_screenshot_mode_saves_the_window_and_exits(qtbot, pair, tmp_path, capsys):
    shot = tmp_path / "shot.png"
    assert run_gui(*pair, "dense-flow", FAST_FLOW, screenshot=str(shot)) == 0
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (900, 1400)

    assert run_gui(pair[0], str(tmp_path / "nope.png"), screenshot=str(shot)) == 2
    assert "nope.png: no such file" in capsys.readouterr().err

    assert run_gui(*pair, "tests.app.plugins:FailingMatcher", screenshot=str(shot)) == 1


def test_the_weights_folder_is_chosen_remembered_and_passed_to_model_matchers(
    qtbot, tmp_path, monkeypatch
):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QFileDialog

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    window = make_window(qtbot, "roma")
    window.weights_action.trigger()
    assert window.state.run_settings()["settings_dir"] == str(folder)
    assert QSettings().value("weights_dir") == str(folder)
    again = make_window(qtbot, "roma-indoor")  # a new window reads the app's settings
    assert again.state.run_settings() == {"settings_dir": str(folder)}
    again.state.set_matcher("sift")  # matchers without weights do not get the option
    assert "settings_dir" not in again.state.run_settings()
