"""The Compare dock in the window: runs listed from the run store, difference maps, sparse
against dense, errors on one scale, linked zoom, both answers at the probe, eviction."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QDockWidget

from app.state import AppState
from app.window import MainWindow
from core.bench.truth import GroundTruth
from core.imageio import from_array
from core.result import MatchResult, Provenance
from tests.app import test_window
from tests.app.plugins import shift_result
from widgets.compare_view import DIFF_CERTAINTY, SHOW_B, SHOW_ERRORS

H, W = 40, 60


@pytest.fixture
def window(qtbot) -> MainWindow:
    """A shown window on a 60x40 pair that starts no run by itself, its Compare dock raised."""
    window = MainWindow(AppState("dense-flow"))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    rng = np.random.default_rng(3)
    image = from_array(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    with window.holding_runs():
        window.state.set_images(image, image)
    window.compare_dock.raise_()
    qtbot.waitUntil(lambda: window.compare.shown)
    return window


def add_run(window: MainWindow, result: MatchResult, matcher: str, settings=None, errors=None):
    state = window.state
    state.set_matcher(matcher, settings)
    assert state.set_result(state.begin_request(), result, errors)


def sparse(points_b_offset: list[tuple[float, float]]) -> MatchResult:
    """Matches at A points (10, 10), (30, 20), ... landing at A + (6, 4) + the given offsets."""
    a = np.array([(10 + 20 * i, 10 + 5 * i) for i in range(len(points_b_offset))], np.float32)
    b = a + np.float32([6, 4]) + np.array(points_b_offset, np.float32)
    return MatchResult(
        matches=np.column_stack([a, b]),
        match_certainty=np.full(len(a), 0.5, np.float32),
        provenance=Provenance(size_a=(H, W), size_b=(H, W)),
    )


def titles(box) -> list[str]:
    return [box.itemText(i) for i in range(box.count())]


def click_on(qtbot, view, panel, x: float, y: float) -> None:
    view.canvas.viewport().repaint()  # apply the latest view ranges to the transforms
    pos = view.canvas.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_two_dense_runs_show_their_warp_and_certainty_differences(qtbot, window):
    view = window.compare_view
    add_run(window, shift_result(H, W, 6.0, 4.0), "dense-flow", {"preset": "fast"})
    assert titles(view.run_boxes[0]) == ["1: dense-flow (preset=fast)"]
    assert view.diff.heatmap.image is None  # one run: nothing to compare yet
    other = shift_result(H, W, 3.0, 0.0)  # 5 px from the first everywhere
    other.certainty_ab = other.certainty_ab * 0.5
    add_run(window, other, "dense-flow", {"preset": "medium"})
    second = "2: dense-flow (preset=medium)"
    for box in view.run_boxes:
        assert titles(box) == ["1: dense-flow (preset=fast)", second]
    assert view.chosen() == (1, 2) and view.run_boxes[1].currentText() == second

    np.testing.assert_allclose(view.diff.heatmap.image, 5.0, atol=1e-5)  # end-point difference
    assert view.summary.text() == (
        "End-point difference: 2400 of 2400 pixels of A: median 5.00 px; within 1/3/5 px: 0/0/100%"
    )
    assert view.diff_bar.levels() == pytest.approx((0.0, 5.0))
    assert view.diff_bar.axis.labelText == "px of B"
    view.diff_box.setCurrentText(DIFF_CERTAINTY)
    expected = shift_result(H, W, 0, 0).certainty_ab * 0.5
    np.testing.assert_allclose(view.diff.heatmap.image, expected, atol=1e-6)
    low, high = view.diff_bar.levels()
    assert low == -high and high == pytest.approx(0.5, abs=0.01)  # centred on 0

    window.state.click_a(30, 20)
    text = view.probe_text.toPlainText()
    assert "run 1 (1: dense-flow (preset=fast)): A (30, 20) -> B (36.0, 24.0)" in text
    assert "run 2 (2: dense-flow (preset=medium)): A (30, 20) -> B (33.0, 20.0)" in text
    assert "at A (30, 20) the runs are 5.00 px apart in B" in text
    marker = view.layers[1].panel.marker
    assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (30, 20)

    click_on(qtbot, view, view.diff.panel, 12, 8)  # a click in a compare panel probes A
    assert abs(window.state.probe.xa - 12) <= 1 and abs(window.state.probe.ya - 8) <= 1


def test_the_panels_zoom_together(window):
    view = window.compare_view
    add_run(window, shift_result(H, W, 6.0, 4.0), "dense-flow")
    add_run(window, shift_result(H, W, 5.0, 4.0), "sift")
    first, second = (layer.panel.view for layer in view.layers)
    first.setRange(QRectF(10, 5, 20, 10), padding=0)
    for other in (second, view.diff.panel.view):
        (x0, x1), (y0, y1) = other.viewRange()
        assert (x0, x1) == pytest.approx(first.viewRange()[0])
        assert (y0, y1) == pytest.approx(first.viewRange()[1])
    view.show_box.setCurrentText(SHOW_B)  # B's frame: the difference (over A) goes its own way
    second.setRange(QRectF(0, 0, 8, 8), padding=0)
    assert first.viewRange()[0] == pytest.approx(second.viewRange()[0])
    assert view.diff.panel.view.viewRange()[0] != pytest.approx(second.viewRange()[0])


def test_a_sparse_run_is_measured_against_a_dense_one(window):
    view = window.compare_view
    add_run(window, sparse([(0, 0), (3, 4), (0, 1)]), "sift")
    add_run(window, shift_result(H, W, 6.0, 4.0), "dense-flow")
    assert view.chosen() == (1, 2) and not view.diff_box.isEnabled()
    points = view.diff.points.getData()
    np.testing.assert_allclose(np.column_stack(points), [[10, 10], [30, 15], [50, 20]])
    assert "run 1's matches" in view.diff.panel.title.text
    assert view.summary.text() == (
        "Run 1 against the warp of the other: 3 of 3 matches: median 1.00 px; "
        "within 1/3/5 px: 67/67/100%"
    )
    window.state.click_a(30, 15)
    text = view.probe_text.toPlainText()
    assert "run 1 (1: sift): A (30, 15) -> B (39.0, 23.0), certainty 0.50" in text
    assert "run 2 (2: dense-flow): A (30, 15) -> B (36.0, 19.0)" in text
    assert "5.00 px apart" in text


def test_with_ground_truth_both_runs_errors_share_one_scale(window):
    state, view = window.state, window.compare_view
    truth = GroundTruth("homography", homography=np.array([[1, 0, 6], [0, 1, 4], [0, 0, 1.0]]))
    with window.holding_runs():
        state.set_images(state.image_a, state.image_b, truth)
    near, far = shift_result(H, W, 6.0, 5.0), shift_result(H, W, 6.0, 7.0)  # 1 and 3 px off
    add_run(window, near, "dense-flow", errors=truth.errors_of(near))
    add_run(window, far, "sift", errors=truth.errors_of(far))
    view.show_box.setCurrentText(SHOW_ERRORS)
    first, second = (layer.heatmap for layer in view.layers)
    np.testing.assert_allclose(first.image, 1.0, atol=1e-5)
    np.testing.assert_allclose(second.image, 3.0, atol=1e-5)
    assert first.levels == pytest.approx(second.levels) and tuple(first.levels) == (0.0, 3.0)
    assert view.color_bar.levels() == pytest.approx((0.0, 3.0))
    assert view.color_bar.axis.labelText == "px (true error)"
    state.click_a(30, 20)
    assert "true error 1.00 px" in view.probe_text.toPlainText()
    assert "true error 3.00 px" in view.probe_text.toPlainText()


def test_evicted_runs_leave_the_lists_and_other_pairs_have_their_own(window):
    state, view = window.state, window.compare_view
    for dx in (1.0, 2.0, 3.0):
        add_run(window, shift_result(H, W, dx, 0.0), "dense-flow", {"dx": dx})
    assert view.run_boxes[0].count() == 3 and view.chosen() == (2, 3)
    state.set_run_budget(2 * state.runs.current.nbytes)  # two runs fit
    assert titles(view.run_boxes[0]) == ["2: dense-flow (dx=2.0)", "3: dense-flow (dx=3.0)"]
    state.set_run_budget(1)  # only the current run stays
    assert titles(view.run_boxes[1]) == ["3: dense-flow (dx=3.0)"]
    assert view.diff.heatmap.image is None and "Choose two runs" in view.summary.text()

    image_a = state.image_a
    flipped = from_array(np.ascontiguousarray(image_a.rgb[::-1]))
    with window.holding_runs():
        state.set_images(flipped, state.image_b)
    assert view.run_boxes[0].count() == 0  # no runs on these pixels
    with window.holding_runs():
        state.set_images(from_array(image_a.rgb.copy()), state.image_b)
    assert titles(view.run_boxes[0]) == ["3: dense-flow (dx=3.0)"]  # found by content


def test_a_tabbed_away_dock_draws_when_raised_and_lets_go_meanwhile(qtbot, window):
    view = window.compare_view
    add_run(window, shift_result(H, W, 6.0, 4.0), "dense-flow")
    add_run(window, shift_result(H, W, 3.0, 0.0), "sift")
    assert view.layers[0].heatmap.image is not None
    warp = next(d for d in window.findChildren(QDockWidget) if d.objectName() == "Warp")
    warp.raise_()
    qtbot.waitUntil(lambda: not window.compare.shown)
    add_run(window, shift_result(H, W, 3.0, 2.0), "dense-flow", {"preset": "fast"})
    assert view.diff.heatmap.image is None and view.layers[0].heatmap.image is None
    window.compare_dock.raise_()
    qtbot.waitUntil(lambda: view.diff.heatmap.image is not None)
    assert view.chosen() == (2, 3)
    np.testing.assert_allclose(view.diff.heatmap.image, 2.0, atol=1e-5)
    assert "2.00 px apart" in view.probe_text.toPlainText()


pair = test_window.pair  # the fixture: a texture and its copy shifted by (6, 4)


def test_sift_against_dense_flow_from_real_runs(qtbot, pair):
    window = MainWindow(AppState("sift"))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.compare_dock.raise_()
    state, view = window.state, window.compare_view
    assert state.load_pair(*pair)  # sift runs by itself
    qtbot.waitUntil(lambda: len(state.runs) == 1 and not state.running, timeout=10000)
    state.set_matcher("dense-flow", {"max_size": 200, "num_samples": 400, "preset": "fast"})
    window.run_match()
    qtbot.waitUntil(lambda: len(state.runs) == 2 and not state.running, timeout=10000)
    assert titles(view.run_boxes[0]) == [
        "1: sift",
        "2: dense-flow (max_size=200, num_samples=400, preset=fast)",
    ]
    summary = view.summary.text()
    assert summary.startswith("Run 1 against the warp of the other")
    median = float(summary.split("median ")[1].split(" px")[0])
    assert median < 1.5  # both find the (6, 4) shift
    assert len(view.diff.points.getData()[0]) == state.runs.get(1).result.num_matches
