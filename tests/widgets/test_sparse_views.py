"""Certainty and Warp views of a sparse result: dots of a fixed screen size at its matches."""

from __future__ import annotations

import numpy as np
import pytest

from widgets.heatmap_view import POINT_SIZE_PX, certainty_view
from widgets.warp_view import WarpView

H, W = 300, 400
MATCHES = np.array([[10, 20, 15, 22], [200, 150, 190, 160], [390, 290, 380, 280]], np.float32)
CERTAINTY = np.array([0.1, 0.6, 1.0], np.float32)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8)


def show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_sparse_certainty_is_drawn_as_dots_of_a_fixed_screen_size(qtbot, rgb):
    view = show(qtbot, certainty_view())
    view.set_points(rgb, MATCHES[:, :2], CERTAINTY)
    assert view.heatmap.image is None  # no per-pixel map
    points = view.points
    np.testing.assert_array_equal(
        np.column_stack(points.getData()), MATCHES[:, :2].astype(np.float64)
    )
    colors = {spot.brush().color().name() for spot in points.points()}
    assert len(colors) == 3  # coloured by certainty
    # sized in screen pixels (pxMode): the same dot whether A is seen whole or zoomed in
    assert points.opts["pxMode"] and {spot.size() for spot in points.points()} == {POINT_SIZE_PX}
    view.set_data(rgb, np.zeros((H, W), np.float32))  # a dense result: no dots
    assert len(view.points.points()) == 0


def test_sparse_warp_shows_each_matchs_flow_and_bs_colour(qtbot, rgb):
    view = show(qtbot, WarpView())
    view.set_matches((H, W), rgb, MATCHES, CERTAINTY)
    assert view.flow_panel.size_hw == (H, W)
    assert len(view.flow_points.points()) == 3 and view.flow_points.opts["pxMode"]
    assert "3 matches" in view.legend.text()
    view.set_threshold(0.5)  # masked by threshold: the least certain match goes
    shown = view.warped_points.points()
    assert len(shown) == 2
    expected = rgb[280, 380] // 16 * 17  # B's colour at the last match's B end
    assert shown[-1].brush().color().getRgb()[:3] == tuple(int(v) for v in expected)
    view.mask_box.setChecked(False)
    assert len(view.warped_points.points()) == 3
    view.set_data(None, None)
    assert len(view.flow_points.points()) == 0 and len(view.warped_points.points()) == 0
