"""`KeypointView` with synthetic keypoint results: real clicks snap to A's keypoints, the top-5
assignment scores, the unmatched probability, pruning, the layer slider, and missing parts."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from app.state import AppState
from core.result import MatchResult
from tests.core.keypoint_results import (
    STOP,
    H,
    W,
    keypoint_result,
    lightglue_intermediates,
    synthetic_assignment,
)
from widgets.keypoint_view import (
    DENSE_HINT,
    LAYERS_HINT,
    LIGHTGLUE_HINT,
    NO_KEYPOINTS_HINT,
    SCORES_HINT,
    KeypointView,
)

RGB = np.random.default_rng(1).integers(0, 255, (H, W, 3), np.uint8)


@pytest.fixture
def wired(qtbot) -> tuple[KeypointView, AppState]:
    """The view wired to an app state as the window wires them."""
    view = KeypointView()
    qtbot.addWidget(view)
    view.resize(450, 700)
    view.show()
    qtbot.waitExposed(view)
    state = AppState("aliked-lightglue")
    view.clicked_a.connect(state.select_keypoint)
    state.keypoint_changed.connect(view.set_keypoint)
    state.result_changed.connect(lambda result: view.set_data(RGB, RGB, result))
    return view, state


def show(state: AppState, result: MatchResult) -> None:
    assert state.set_result(state.begin_request(), result)


def click_a(qtbot, view: KeypointView, x: float, y: float) -> None:
    """A real left click on A in the view at pixel (x, y)."""
    panel = view.side_a.panel
    view.canvas.viewport().repaint()  # apply the latest view ranges to the transforms
    pos = view.canvas.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def table_rows(view: KeypointView) -> list[tuple[str, ...]]:
    table = view.table
    return [
        tuple(table.item(row, col).text() for col in range(table.columnCount()))
        for row in range(table.rowCount())
    ]


def test_a_click_snaps_to_a_keypoint_and_shows_its_assignment(qtbot, wired):
    view, state = wired
    show(state, keypoint_result())
    assert view.shown_counts() == (5, 6)  # the slider starts at the last layer
    assert view.table.rowCount() == 0 and state.keypoint is None

    click_a(qtbot, view, 83, 27)  # near keypoint 1 of A (80, 30), matched to keypoint 0 of B
    keypoint = state.keypoint
    assert keypoint is not None and keypoint.index == 1
    row = synthetic_assignment()[1]
    best = np.argsort(-np.nan_to_num(row, nan=-1.0))[:5]
    assert [int(r[0]) for r in table_rows(view)] == best.tolist()
    assert [float(r[2]) for r in table_rows(view)] == pytest.approx(row[best], abs=1e-4)
    assert table_rows(view)[0][1] == "(30.0, 25.0)"
    assert "unmatched probability 0.1600" in view.details.text()  # linspace(0.05, 0.6, 6)[1]
    assert "matched to keypoint 0 of B" in view.details.text()
    assert "active through all 9 layers" in view.details.text()
    marker = view.side_a.panel.marker
    assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (80, 30)
    match = view.side_b.panel.marker
    assert match.isVisible() and (match.pos().x(), match.pos().y()) == (30, 25)
    assert (view.top_marker.pos().x(), view.top_marker.pos().y()) == (30, 25)
    assert view.side_b.color_bar.axis.labelText == "P_ij"

    click_a(qtbot, view, 121, 108)  # keypoint 4: unmatched, pruned after layer 1
    assert state.keypoint.index == 4 and view.table.rowCount() == 0
    text = view.details.text()
    assert "no match in B" in text and "pruned after layer 1 (active in 2 of 9)" in text
    assert "no assignment scores: pruned before the last layer" in text
    assert "unmatched probability" not in text  # NaN for a pruned keypoint

    click_a(qtbot, view, 100, 150)  # far from every keypoint: nothing selected
    assert state.keypoint is None and view.details.text() == ""


def test_the_layer_slider_dims_the_pruned_keypoints(qtbot, wired):
    view, state = wired
    show(state, keypoint_result())
    slider = view.layer_slider
    assert slider.isEnabled() and (slider.minimum(), slider.maximum()) == (0, STOP - 1)
    counts = {}
    for layer in (0, 1, 2, 3, 4, 8):
        slider.setValue(layer)
        counts[layer] = view.shown_counts()
    assert counts == {0: (6, 7), 1: (6, 7), 2: (5, 7), 3: (5, 7), 4: (5, 6), 8: (5, 6)}
    slider.setValue(2)
    assert len(view.side_a.inactive.data) == 1
    assert "layer 2 of 0–8: active A 5/6, B 7/7" in view.layer_label.text()

    click_a(qtbot, view, 20, 20)  # the selection colours B's active keypoints by P_ij
    assert state.keypoint.index == 0 and view.shown_counts() == (5, 7)
    slider.setValue(8)
    assert view.shown_counts() == (5, 6) and state.keypoint.index == 0
    assert "matchability at layer 8: 0.900" in view.details.text()  # 0.5 + 0.05 * layer

    show(state, keypoint_result())  # a new result clears the selection, slider at the end
    assert state.keypoint is None and view.details.text() == "" and slider.value() == STOP - 1


def test_without_lightglue_intermediates_the_keypoints_still_show(qtbot, wired):
    view, state = wired
    xfeat = {
        key: value
        for key, value in lightglue_intermediates().items()
        if key.startswith(("keypoint_scores", "score_map"))
    }
    show(state, keypoint_result(xfeat))
    assert LIGHTGLUE_HINT in view.summary.text() and SCORES_HINT not in view.summary.text()
    assert not view.layer_slider.isEnabled() and view.layer_label.text() == LAYERS_HINT
    assert view.shown_counts() == (6, 7)
    assert view.side_a.score_map.image.shape == (40, 50, 4)
    drawn = view.side_a.score_map.mapToParent(QPointF(50, 40))  # the map spans all of A
    assert (drawn.x(), drawn.y()) == pytest.approx((W - 0.5, H - 0.5))
    click_a(qtbot, view, 42, 98)
    assert state.keypoint.index == 3 and view.table.rowCount() == 0
    assert "matched to keypoint 5 of B" in view.details.text()
    assert view.side_b.panel.marker.isVisible()

    show(state, keypoint_result({}))  # sift: keypoints only
    assert SCORES_HINT in view.summary.text() and view.shown_counts() == (6, 7)
    assert view.side_a.score_map.image is None
    view.map_box.setChecked(False)  # the switch hides score maps
    show(state, keypoint_result(xfeat))
    assert view.side_a.score_map.image is None


def test_dense_and_keypoint_less_results_say_what_the_dock_needs(wired):
    from tests.app.plugins import shift_result

    view, state = wired
    dense = shift_result(H, W, 6.0, 4.0)
    show(state, dense)
    assert view.summary.text() == DENSE_HINT and view.shown_counts() == (0, 0)
    state.select_keypoint(20, 20)
    assert state.keypoint is None

    sparse = keypoint_result()
    sparse.keypoints_a = sparse.keypoints_b = sparse.match_indices = None
    show(state, sparse)
    assert view.summary.text() == NO_KEYPOINTS_HINT and view.shown_counts() == (0, 0)


def test_a_probability_bar_below_one_is_labelled_in_its_own_units(qtbot):
    """pyqtgraph's SI prefix would label (0, 0.35) as 0..300 "(x0.001)"."""
    import pyqtgraph as pg

    from tests.widgets import tick_labels
    from widgets import certainty_colormap, set_colour_bar_range

    canvas = pg.GraphicsLayoutWidget()
    qtbot.addWidget(canvas)
    bar = pg.ColorBarItem(values=(0, 1), colorMap=certainty_colormap(), interactive=False)
    canvas.addItem(bar)
    canvas.resize(200, 400)
    canvas.show()
    qtbot.waitExposed(canvas)
    set_colour_bar_range(bar, (0.0, 0.35), "P_ij")
    canvas.repaint()
    labels = tick_labels(bar.axis)
    assert bar.axis.labelString().find("x0.001") < 0 and "0.3" in labels, labels
