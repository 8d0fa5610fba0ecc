"""`MainWindow` end to end with real matchers in the worker thread and real mouse clicks."""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import QObject, QPointF, Qt, Signal

from app.gui import run_gui
from app.state import AppState
from app.window import MainWindow
from app.worker import MatchRunner

SHIFT = (6, 4)  # B shows A's pixel (x, y) at (x + 6, y + 4)
FAST_FLOW = {"max_size": 200, "num_samples": 400, "preset": "fast"}
SLOW = "tests.app.plugins:SlowMatcher"
STUBBORN = "tests.app.plugins:StubbornMatcher"


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
    pictures = state.warp_pictures  # made in the worker, shown as they are
    assert pictures is not None and pictures.flow_rgb.shape == (160, 200, 3)
    np.testing.assert_array_equal(window.warp_view.flow_panel.image.image, pictures.flow_rgb)
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


def test_threshold_starts_at_the_matchers_display_threshold(qtbot, pair):
    window = make_window(qtbot, "tests.core.plugin_matchers:SureMatcher")
    assert window.threshold_slider.value() == pytest.approx(0.9)
    assert window.pair_view.threshold_line.pos().y() == pytest.approx(0.9 * 256)
    window.matcher_combo.setCurrentText("roma")  # no pair: chosen, not run
    assert window.state.threshold == 0.05
    assert window.threshold_slider.value() == pytest.approx(0.05)
    assert window.pair_view.threshold_line.pos().y() == pytest.approx(0.05 * 256)


def test_cancel_stops_the_run_and_leaves_no_result(qtbot, pair):
    window = make_window(qtbot, SLOW, {"stages": 100, "seconds": 0.05})
    stages = []
    window.state.progress_changed.connect(lambda stage, fraction: stages.append(stage))
    open_pair(window, pair)
    qtbot.waitUntil(lambda: "sleep 1" in stages, timeout=3000)
    assert window.cancel_action.isEnabled()
    assert "sleep" in window.progress.format()

    qtbot.keyClick(window, Qt.Key.Key_Escape)  # Esc is Cancel
    assert window.statusBar().currentMessage() == "Cancelling…"  # at once, before it stops
    assert window.progress.format().startswith("Cancelling…")
    assert window.state.running and not window.cancel_action.isEnabled()
    qtbot.waitUntil(lambda: not window.state.running, timeout=3000)
    assert "cancelled" in window.statusBar().currentMessage().lower()
    assert window.progress.format() == "idle"
    assert window.state.result is None and not window.cancel_action.isEnabled()
    assert len(stages) < 50 and stages[-1] == "Cancelling…"  # later progress is dropped
    assert window.runner.wait(3.0)


def test_a_plugin_that_ignores_cancel_is_abandoned_and_its_late_result_dropped(qtbot, pair):
    assert MatchRunner().abandon_after == 2.0
    window = make_window(qtbot, STUBBORN, {"seconds": 1.5})
    window.runner.abandon_after = 0.3  # the default is 2 s
    results = []
    window.state.result_changed.connect(results.append)
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.runner.is_running, timeout=2000)
    window.cancel_action.trigger()
    assert window.statusBar().currentMessage() == "Cancelling…"
    qtbot.waitUntil(lambda: not window.state.running, timeout=1500)  # after 0.3 s, not 1.5 s
    assert "did not stop" in window.statusBar().currentMessage()
    assert not window.runner.is_running and window.progress.format() == "idle"

    window.state.set_matcher("tests.app.plugins:ShiftMatcher")  # the window is free again
    window.run_match()
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=3000)
    shift = window.state.result
    assert window.runner.wait(3.0)  # the abandoned run has finished in the background
    qtbot.wait(100)  # its late result would have arrived by now
    assert window.state.result is shift and results[-1] is shift
    assert "matches with tests.app.plugins:ShiftMatcher" in window.statusBar().currentMessage()


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
    assert window.runner.wait(0.0)  # shutdown waited for the thread
    assert window.state.result is None


def test_closing_does_not_wait_long_for_a_plugin_that_ignores_cancel(qtbot, pair):
    window = make_window(qtbot, STUBBORN, {"seconds": 2.0})
    window.runner.abandon_after = 0.3  # the default is 2 s
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.runner.is_running, timeout=2000)
    start = time.monotonic()
    window.close()
    runner = window.runner
    assert time.monotonic() - start < 1.0 and not runner.is_running
    assert not runner.wait(0.0)  # still sleeping, in the background
    window.deleteLater()  # the window goes before the plugin ends: its late report is dropped
    qtbot.waitUntil(lambda: not shiboken6.isValid(runner), timeout=2000)
    assert runner.wait(3.0)
    qtbot.wait(50)  # the late report reaches the event loop, and nothing crashes


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


class AnchorMatcher:
    """`shift_result` by SHIFT with synthetic RoMa intermediates (8 x 8 coarse grid), no model."""

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray):
        from tests.app.plugins import shift_result
        from tests.widgets.test_anchor_view import synthetic_intermediates

        result = shift_result(*rgb_a.shape[:2], *SHIFT)
        result.intermediates = synthetic_intermediates()
        return result


def test_anchors_and_attention_follow_the_probe(qtbot, pair):
    from PySide6.QtWidgets import QDockWidget

    from tests.widgets.test_anchor_view import peak_anchor

    window = make_window(qtbot, "tests.app.test_window:AnchorMatcher")
    docks = {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}
    tabbed = {dock.objectName() for dock in window.tabifiedDockWidgets(docks["Certainty"])}
    assert tabbed == {"True error", "Uncertainty", "Anchors", "Attention"}
    open_pair(window, pair)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None, timeout=4000)

    hit = click_pixel(qtbot, window, 130, 70)  # A is 200 x 160: coarse cell (row 3, col 5)
    probe = state.probe
    assert abs(probe.xa - hit.x()) <= 0.5 and abs(probe.ya - hit.y()) <= 0.5
    row, col = int((probe.ya + 0.5) / 160 * 8), int((probe.xa + 0.5) / 200 * 8)
    assert (row, col) == (3, 5)
    view = window.anchor_view
    i, j = peak_anchor(row, col)
    assert np.unravel_index(view.probs.argmax(), view.probs.shape) == (i, j)
    x, y = (j + 0.5) * 200 / 64 - 0.5, (i + 0.5) * 160 / 64 - 0.5  # B is 200 x 160 too
    drawn = view.heatmap.mapToParent(QPointF(j + 0.5, i + 0.5))
    assert (drawn.x(), drawn.y()) == pytest.approx((x, y))
    assert (view.anchor_marker.pos().x(), view.anchor_marker.pos().y()) == pytest.approx((x, y))
    match = view.panel.marker.pos()
    assert (match.x(), match.y()) == (probe.xb, probe.yb)
    assert "coarse cell (row 3, col 5) of 8x8" in view.label.text()
    attention_marker = window.attention_view.panel.marker.pos()
    assert (attention_marker.x(), attention_marker.y()) == (probe.xa, probe.ya)

    docks["Attention"].raise_()  # a click on the attention view probes too
    qtbot.waitUntil(window.attention_view.isVisible, timeout=2000)
    attention = window.attention_view
    attention.canvas.viewport().repaint()
    scene = attention.panel.view.mapViewToScene(QPointF(20, 30))
    pos = attention.canvas.mapFromScene(scene)
    qtbot.mouseClick(attention.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert abs(state.probe.xa - 20) <= 1 and abs(state.probe.ya - 30) <= 1
    assert state.probe.xb == pytest.approx(state.probe.xa + SHIFT[0])


def test_the_intermediates_switch_adds_them_to_model_runs_only(qtbot, pair):
    window = make_window(qtbot, "roma")
    box = window.intermediates_box
    assert not box.isChecked() and "intermediates" not in window.state.run_settings()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
    assert window.state.keep_intermediates
    assert window.state.run_settings()["intermediates"] is True
    assert not window.state.running  # no pair: nothing to re-run
    window.state.set_matcher("sift")
    assert "intermediates" not in window.state.run_settings()

    from_cli = make_window(qtbot, "roma", {"intermediates": True})  # --intermediates
    assert from_cli.intermediates_box.isChecked()
    from_cli.intermediates_box.setChecked(False)
    assert "intermediates" not in from_cli.state.run_settings()

    plugin = make_window(qtbot, "tests.app.plugins:ShiftMatcher")  # not a model: no re-run
    open_pair(plugin, pair)
    qtbot.waitUntil(lambda: plugin.state.result is not None, timeout=4000)
    result = plugin.state.result
    plugin.intermediates_box.setChecked(True)
    assert not plugin.state.running and plugin.state.result is result
    assert "intermediates" not in plugin.state.run_settings()


def test_roma_reruns_with_intermediates_and_fills_the_docks(qtbot, pair, checkpoint_dir):
    import torch

    from core.models.testing import random_roma
    from widgets import anchor_view, attention_view

    model = random_roma("dinov2_vits14", seed=0)
    torch.save(model.state_dict(), checkpoint_dir / "roma_outdoor.pth")
    torch.save(model.backbone.state_dict(), checkpoint_dir / "dinov2_vits14_pretrain.pth")
    settings = {
        "backbone": "dinov2_vits14",
        "coarse_res": "112",
        "upsample_res": "0",
        "roma_weights": str(checkpoint_dir / "roma_outdoor.pth"),
        "dino_weights": str(checkpoint_dir / "dinov2_vits14_pretrain.pth"),
        "num_samples": 500,
    }
    window = make_window(qtbot, "roma", settings)
    state = window.state
    open_pair(window, pair)
    qtbot.waitUntil(lambda: state.result is not None, timeout=20000)
    assert state.result.intermediates == {}
    assert window.anchor_view.label.text() == anchor_view.HINT
    assert window.attention_view.label.text() == attention_view.HINT

    box = window.intermediates_box
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
    assert state.running  # the switch re-ran the model
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20000)
    assert state.result.provenance.settings["intermediates"] is True
    assert state.result.intermediates["anchor_logits_ab"].shape == (8, 8, 4096)
    anchors = window.anchor_view
    assert anchors.probs.shape == (64, 64) and anchors.probs.sum() == pytest.approx(1.0)
    assert "coarse cell (row 4, col 4) of 8x8" in anchors.label.text()  # A's centre
    table = anchors.path_table  # the anchor inspector: the coarse pass's refiners (no upsample)
    steps = [table.item(row, 0).text() for row in range(table.rowCount())]
    final = ["final"] if state.probe.source == "warp" else []
    assert steps == ["anchors s16", *(f"coarse s{s}" for s in (16, 8, 4, 2, 1)), *final]
    assert anchors.direction_box.isEnabled()  # a symmetric run: B -> A too
    anchors.set_direction("ba")
    assert anchors.inspection.direction == "ba" and anchors.inspection.probs.shape == (64, 64)
    dino = window.attention_view
    heads = [dino.head_box.itemText(i) for i in range(7)]
    assert heads == ["mean of heads", *(f"head {k}" for k in range(6))]
    assert dino.block_box.count() == 12 and dino.block_box.currentText() == "block 11"
    assert dino.heatmap.image.shape == (8, 8) and dino.heatmap_b.image.shape == (8, 8)
    # the DINO view's choices redraw from the result: no new run
    result, last = state.result, dino.heatmap.image.copy()
    dino.block_box.setCurrentIndex(0)
    dino.head_box.setCurrentIndex(2)
    attention = result.intermediates["attention_a"]
    assert np.array_equal(dino.heatmap.image, attention[0, 1])
    assert not np.array_equal(dino.heatmap.image, last)
    dino.mode_box.setCurrentText("similarity")
    assert dino.heatmap.image[4, 4] == pytest.approx(1.0, abs=1e-5)  # the probe: A's centre
    dino.mode_box.setCurrentText("PCA")
    assert dino.pca_a.image.shape == (8, 8, 3)
    # every refiner's scale, chosen in the Warp dock, without a new run either
    scales = window.warp_view.scale_box
    assert scales.scales() == [*(f"coarse_s{s}" for s in (16, 8, 4, 2, 1)), "final"]
    scales.setCurrentIndex(0)
    assert state.scale == "coarse_s16" and window.certainty_scale_box.currentIndex() == 0
    certainty = result.intermediates["coarse_s16_certainty_ab"]
    assert window.certainty_view.heatmap.image.shape == (160, 200)
    assert window.certainty_view.heatmap.image.mean() == pytest.approx(certainty.mean(), abs=0.02)
    assert not state.running and state.result is result


class KeypointMatcher:
    """The synthetic aliked-lightglue result of the Keypoints dock's tests (A is 200 x 160)."""

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray):
        from tests.core.keypoint_results import keypoint_result

        assert rgb_a.shape[:2] == (160, 200)
        return keypoint_result()


def test_the_window_opens_on_a_trained_keypoint_matcher_with_its_intermediates(qtbot):
    import inspect

    from app import WINDOW_MATCHER
    from app.cli_window import _gui_parser

    assert WINDOW_MATCHER == "aliked-lightglue"
    assert inspect.signature(run_gui).parameters["matcher"].default == "aliked-lightglue"
    assert _gui_parser().parse_args([]).matcher == "aliked-lightglue"
    window = make_window(qtbot, WINDOW_MATCHER)
    assert window.intermediates_box.isChecked()
    assert window.state.run_settings()["intermediates"] is True
    assert window.keypoint_view.isVisible()  # its dock is the raised tab
    assert "intermediates" not in window.state.settings_for(WINDOW_MATCHER)  # benchmarks


def test_the_keypoints_dock_follows_clicks_and_clears_on_a_new_result(qtbot, pair):
    from PySide6.QtWidgets import QDockWidget

    from tests.core.keypoint_results import synthetic_assignment
    from tests.widgets.test_keypoint_view import click_a

    window = make_window(qtbot, "tests.app.test_window:KeypointMatcher")
    docks = {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}
    assert docks["Keypoints"] in window.tabifiedDockWidgets(docks["Warp"])  # wide, as the pair
    docks["Keypoints"].raise_()
    view = window.keypoint_view
    qtbot.waitUntil(view.isVisible, timeout=2000)
    open_pair(window, pair)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None, timeout=4000)
    assert view.shown_counts() == (5, 6) and "6 keypoints" in view.summary.text()
    probe = state.probe

    click_a(qtbot, view, 78, 33)  # keypoint 1 of A at (80, 30)
    assert state.keypoint.index == 1 and view.table.rowCount() == 5
    assert float(view.table.item(0, 2).text()) == pytest.approx(synthetic_assignment()[1, 0])
    assert state.probe == probe  # the dock's click selects a keypoint, not the probe
    view.layer_slider.setValue(0)
    assert view.shown_counts() == (6, 7)

    window.run_match()  # a new result clears the selection
    qtbot.waitUntil(lambda: not state.running, timeout=4000)
    assert state.keypoint is None and view.table.rowCount() == 0 and view.details.text() == ""
    assert view.shown_counts() == (5, 6)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No weights anywhere: an empty torch hub cache, no $MATCHSCOPE_WEIGHTS, fresh settings."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch" / ("long_folder_name/" * 6)))
    monkeypatch.delenv("MATCHSCOPE_WEIGHTS", raising=False)


def test_screenshot_failures_are_one_line_like_the_command_line(
    qtbot, pair, tmp_path, capsys, no_weights
):
    shot = tmp_path / "shot.png"
    assert run_gui(*pair, "roma", {}, screenshot=str(shot)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("matchscope: error: roma_outdoor weights not found")
    assert "--download" in err[0] and not shot.exists()
    assert run_gui(*pair, "tests.app.plugins:FailingMatcher", screenshot=str(shot)) == 1
    err = capsys.readouterr().err
    assert "matchscope: error: tests.app.plugins:FailingMatcher failed: RuntimeError" in err


def test_missing_weights_in_the_window_offer_the_weights_folder(qtbot, pair, no_weights):
    window = make_window(qtbot, "roma")
    window.resize(1400, 700)
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.state.error != "", timeout=30000)
    message = window.probe_panel.message
    assert "roma_outdoor weights not found" in message.text()
    assert "--download" not in message.text() and "Weights folder…" in message.text()
    qtbot.wait(50)  # the layout settles
    assert message.height() >= message.heightForWidth(message.width())  # nothing cut off


def test_the_trained_matcher_runs_in_the_window_and_the_keypoints_dock_explains_it(qtbot):
    """aliked-lightglue for real on the demo pair (small settings), through the worker: the
    Keypoints dock shows every keypoint, a click on one lists its top assignment scores, which
    are the result's own P_ij row, and the layer slider spans the layers LightGlue ran."""
    import assets
    from tests.widgets.test_keypoint_view import click_a

    settings = {"resize": 320, "max_keypoints": 256}
    window = make_window(qtbot, "aliked-lightglue", settings)
    assert window.state.load_pair(str(assets.DEMO_A), str(assets.DEMO_B))
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None or bool(state.error), timeout=120_000)
    result = state.result
    assert result is not None, state.error
    assert result.is_sparse and result.num_matches > 30
    assignment = result.intermediates["assignment"]
    k_a, k_b = len(result.keypoints_a), len(result.keypoints_b)
    assert assignment.shape == (k_a, k_b)
    view = window.keypoint_view
    qtbot.waitUntil(view.isVisible, timeout=2000)
    assert "keypoints" in view.summary.text()
    stop = int(result.intermediates["stop_layer"])
    assert view.layer_slider.maximum() == stop - 1
    index = int(result.match_indices[0, 0])
    x, y = result.keypoints_a[index]
    click_a(qtbot, view, float(x), float(y))
    assert state.keypoint is not None and state.keypoint.index == index
    top = float(view.table.item(0, 2).text())
    assert top == pytest.approx(float(np.nanmax(assignment[index])), abs=5e-4)
