"""Hover readouts: each view shows the value of its layer under the cursor in its corner, and
draws pinned probes; the Probe panel lists the pins."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.probe import PIN_COLOURS, PinnedProbe, ProbeReading
from core.tokens import patch_cell
from tests.core.keypoint_results import keypoint_result
from tests.widgets.hover import hover, hovered
from tests.widgets.test_anchor_view import H_A, H_B, W_A, W_B, synthetic_result
from tests.widgets.test_attention_view import RGB_A, RGB_B, dino_result
from widgets import NearestPoints
from widgets.anchor_view import AnchorView
from widgets.attention_view import AttentionView
from widgets.export import export_view
from widgets.heatmap_view import certainty_view, error_view
from widgets.keypoint_view import KeypointView
from widgets.probe_panel import ProbePanel

H, W = 160, 200
RGB = np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8)


def show(qtbot, widget, size=(600, 420)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_heatmaps_show_the_value_at_the_pixel_or_the_nearest_dot(qtbot):
    view = show(qtbot, certainty_view())
    values = np.random.default_rng(1).uniform(0, 1, (H, W)).astype(np.float32)
    view.set_data(RGB, values)
    text = hover(qtbot, view.canvas, view.panel, 37, 121)
    x, y = hovered(view.panel)
    assert text == f"({x:.0f}, {y:.0f}): certainty {values[round(y), round(x)]:.3f}"

    errors = show(qtbot, error_view())
    points = np.array([[30.0, 40.0], [150.0, 100.0]])
    errors.set_points(RGB, points, np.array([1.25, np.nan]))
    text = hover(qtbot, errors.canvas, errors.panel, 32, 41)
    x, y = hovered(errors.panel)
    assert text == f"({x:.0f}, {y:.0f}): error 1.25 px (match at 30.0, 40.0)"
    assert "none" in hover(qtbot, errors.canvas, errors.panel, 150, 100)  # unknown error
    assert hover(qtbot, errors.canvas, errors.panel, 90, 140) == ""  # no dot near: hidden


def test_exports_leave_the_readout_out(qtbot, tmp_path):
    view = show(qtbot, certainty_view())
    view.set_data(RGB, np.full((H, W), 0.5, np.float32))
    assert hover(qtbot, view.canvas, view.panel, 37, 121)
    export_view(view, tmp_path / "hovered.png", dpi=96)
    assert view.panel.readout.text.isVisible()  # back after the export
    view.panel.readout.text.hide()
    export_view(view, tmp_path / "plain.png", dpi=96)
    hovered_png, plain_png = (cv2.imread(str(tmp_path / n)) for n in ("hovered.png", "plain.png"))
    np.testing.assert_array_equal(hovered_png, plain_png)


def test_attention_shows_the_value_at_the_patch_in_a_and_b(qtbot):
    view = show(qtbot, AttentionView(), (700, 400))
    result = dino_result(block=2, head=1)
    view.set_data(RGB_A, RGB_B, result)
    attention_b = result.intermediates["attention_b"][2, 1]
    row, col = patch_cell(162, 30, RGB_B.shape[:2], attention_b.shape)  # a patch centre
    text = hover(qtbot, view.canvas, view.panel_b, 162, 30)
    assert text == f"B patch (row {row}, col {col}): attention {attention_b[row, col]:.4g}"

    view.mode_box.setCurrentText("PCA")  # no scalar map: the patch only
    assert hover(qtbot, view.canvas, view.panel, 162, 30).endswith(f"(row {row}, col {col})")


def test_keypoints_show_the_score_map_and_the_nearest_keypoints_score(qtbot):
    view = show(qtbot, KeypointView(), (900, 500))
    result = keypoint_result()
    view.set_data(RGB, RGB, result)
    score_map = result.intermediates["score_map_a"]  # 40 x 50 over 160 x 200: 4 px a cell
    text = hover(qtbot, view.canvas, view.side_a.panel, 81, 29)
    x, y = hovered(view.side_a.panel)
    assert text.split("\n") == [
        f"A ({x:.0f}, {y:.0f})",
        f"score map {score_map[int((y + 0.5) / 4), int((x + 0.5) / 4)]:.3f}",
        f"keypoint 1 score {result.intermediates['keypoint_scores_a'][1]:.3f}",
    ]


def test_anchors_show_the_probability_of_the_anchor_under_the_cursor(qtbot):
    view = show(qtbot, AnchorView(), (500, 400))
    view.set_data(
        np.zeros((H_A, W_A, 3), np.uint8), np.zeros((H_B, W_B, 3), np.uint8), synthetic_result()
    )
    view.set_probe(ProbeReading(130.0, 70.0, 136.0, 74.0, 0.9, "warp"))
    i, j = np.unravel_index(view.probs.argmax(), view.probs.shape)
    x, y = (j + 0.5) * W_B / 64 - 0.5, (i + 0.5) * H_B / 64 - 0.5  # the top anchor's centre
    text = hover(qtbot, view.canvas, view.panel, x, y)
    assert text == f"anchor (row {i}, col {j}): p = {view.probs[i, j]:.4g}"


def test_the_probe_panel_lists_pins_with_their_colours_and_unpins_each(qtbot):
    panel = show(qtbot, ProbePanel(), (400, 600))
    pins = [
        PinnedProbe(ProbeReading(10.0, 20.0, 15.5, 24.25, 0.9, "warp"), 0),
        PinnedProbe(ProbeReading(50.5, 60.25, 55.0, 64.0, 0.8, "match", "b"), 4),
    ]
    panel.show_pins(pins)
    table = panel.pins_table
    assert table.isVisible() and table.rowCount() == 2
    rows = [[table.item(r, c).text() for c in range(1, 5)] for r in range(2)]
    assert rows == [
        ["(10, 20)", "(15.5, 24.2)", "0.900", "warp"],
        ["(50.5, 60.2)", "(55, 64)", "0.800", "match"],  # clicked in B: B's pixel whole
    ]
    assert table.item(1, 0).foreground().color().getRgb()[:3] == PIN_COLOURS[4]
    with qtbot.waitSignal(panel.unpin_requested) as unpinned:
        qtbot.mouseClick(table.cellWidget(1, 5), Qt.MouseButton.LeftButton)
    assert unpinned.args == [1]
    with qtbot.waitSignal(panel.pin_requested):
        qtbot.mouseClick(panel.pin_button, Qt.MouseButton.LeftButton)

    panel.show_probe(pins[1].reading)
    assert panel.fields["clicked in"].text() == "B"
    panel.show_pins([])
    assert not table.isVisible() and not panel.clear_pins_button.isEnabled()


@pytest.mark.parametrize("factory", [certainty_view, AttentionView, KeypointView, AnchorView])
def test_every_view_draws_pins(qtbot, factory):
    view = show(qtbot, factory())
    pins = [PinnedProbe(ProbeReading(10.0, 20.0, 15.0, 24.0, 0.9, "warp"), 5)]
    view.set_pins(pins)
    drawn = {
        (p["x"], p["y"], p["brush"].color().getRgb()[:3])
        for panel in _panels(view)
        for p in panel.pins.data
    }
    assert drawn and drawn <= {(10, 20, PIN_COLOURS[5]), (15, 24, PIN_COLOURS[5])}


def _panels(view) -> list:
    """The ImagePanels of a view."""
    panels = [getattr(view, name) for name in ("panel", "panel_b") if hasattr(view, name)]
    sides = [getattr(view, name) for name in ("side_a", "side_b") if hasattr(view, name)]
    return panels + [side.panel for side in sides]


def test_nearest_points_agrees_with_a_full_search():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 500, (3000, 2))
    nearest = NearestPoints(points)
    for x, y in rng.uniform(-20, 520, (300, 2)):
        distance = np.hypot(points[:, 0] - x, points[:, 1] - y)
        best = int(np.argmin(distance))
        for radius in (0.5, 5.0, 40.0):
            assert nearest.nearest(x, y, radius) == (best if distance[best] <= radius else None)
    assert NearestPoints(np.zeros((0, 2))).nearest(1.0, 2.0, 10.0) is None
