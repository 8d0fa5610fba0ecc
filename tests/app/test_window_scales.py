"""Every scale in the window: the Certainty and Warp docks' selectors choose one scale together,
the Warp dock shows the coarse warp, A's grid over B and the consistency layer, clicks still
probe, and a workspace keeps the scale. The result is `tests.core.scale_results`' (no model)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.figures import displacement, flow_to_rgb, warp_pictures
from core.scales import FINAL, coarse_warp, scale_warp
from tests.app.test_window import make_window, open_pair
from tests.core.scale_results import CERTAINTY, FINAL_CERTAINTY, FINAL_SHIFT, SHIFTS, H, W
from tests.widgets.hover import hover

SCALES = "tests.app.plugins:ScaleMatcher"
SHIFT = "tests.app.plugins:ShiftMatcher"


@pytest.fixture
def pair(tmp_path):
    """Two W x H smooth random textures, as PNG files."""
    rng = np.random.default_rng(3)
    noise = rng.uniform(0, 255, (H + 8, W + 8, 3)).astype(np.float32)
    texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
    texture = texture.astype(np.uint8)
    paths = tmp_path / "a.png", tmp_path / "b.png"
    for path, image in zip(paths, (texture[4 : H + 4, 4 : W + 4], texture[:H, :W]), strict=True):
        cv2.imwrite(str(path), image)
    return tuple(str(path) for path in paths)


@pytest.fixture
def window(qtbot, pair):
    window = make_window(qtbot, SCALES)
    with qtbot.waitSignal(window.state.run_finished, timeout=10_000):
        open_pair(window, pair)
    return window


def click(qtbot, canvas, panel, x: float, y: float) -> None:
    """A real left click at pixel (x, y) of ``panel`` in ``canvas``."""
    canvas.viewport().repaint()  # apply the latest view ranges to the transforms
    pos = canvas.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_a_scale_chosen_in_the_warp_dock_is_shown_by_both_docks(window, qtbot):
    state, warp = window.state, window.warp_view
    warp_box, certainty_box = warp.scale_box, window.certainty_scale_box
    assert warp_box.scales() == certainty_box.scales() == [*SHIFTS, FINAL]
    assert warp_box.isEnabled() and state.scale == FINAL
    np.testing.assert_allclose(window.certainty_view.heatmap.image, FINAL_CERTAINTY)

    warp_box.setCurrentIndex(warp_box.findData("upsample_s4"))
    assert state.scale == "upsample_s4" and certainty_box.currentData() == "upsample_s4"
    np.testing.assert_allclose(window.certainty_view.heatmap.image, CERTAINTY["upsample_s4"])
    assert window.certainty_view.panel.title.text == "certainty of A (upsample pass, scale 4)"
    shown = warp_pictures(state.image_b.rgb, scale_warp(state.result, "upsample_s4")[0])
    np.testing.assert_array_equal(warp.flow_panel.image.image, shown.flow_rgb)
    assert "upsample pass, scale 4" in warp.flow_panel.title.text

    certainty_box.setFocus()
    qtbot.keyClick(certainty_box, Qt.Key.Key_Up)  # the one before: upsample pass, scale 8
    assert state.scale == "upsample_s8" and warp_box.currentData() == "upsample_s8"
    np.testing.assert_allclose(window.certainty_view.heatmap.image, CERTAINTY["upsample_s8"])


def test_the_warp_dock_shows_the_coarse_warp_and_as_grid_over_b(window):
    state, warp = window.state, window.warp_view
    state.set_scale("upsample_s4")
    scale_px = warp_pictures(state.image_b.rgb, scale_warp(state.result, "upsample_s4")[0])
    expected = flow_to_rgb(displacement(coarse_warp(state.result)), max_magnitude=scale_px.scale_px)
    np.testing.assert_array_equal(warp.coarse_panel.image.image, expected)
    np.testing.assert_array_equal(warp.grid_panel.image.image, state.image_b.rgb)
    xs, ys = warp.grid_curve.getData()
    finite = np.isfinite(xs)
    # rows y = 0, 32 (points every 4 px, and x = 63) and columns x = 0, 32 (and y = 47)
    assert finite.sum() == 2 * 17 + 2 * 13 and (~finite).sum() == 4  # a break after each
    dx, dy = SHIFTS["upsample_s4"]
    assert (xs[0], ys[0]) == pytest.approx((dx, dy))  # A's top-left pixel, moved by the warp
    # A's row y = 0 in B: every point of the first line at y = dy
    first = np.flatnonzero(~finite)[0]
    np.testing.assert_allclose(ys[:first], dy, atol=1e-4)

    state.set_threshold(0.5)  # above coarse_s16's certainty (0.1): no point of it is drawn
    state.set_scale("coarse_s16")
    assert not np.isfinite(warp.grid_curve.getData()[0]).any()
    warp.mask_box.setChecked(False)
    assert np.isfinite(warp.grid_curve.getData()[0]).any()


def test_the_consistency_layer_shows_the_round_trip_in_pixels_of_a(window):
    warp = window.warp_view
    assert not warp.consistency.isVisible() and not warp.color_bar.isVisible()
    assert warp.consistency.image is None  # made only once the layer is chosen
    assert warp.layer_box.model().item(1).isEnabled()  # a symmetric result
    warp.layer_box.setCurrentIndex(1)
    assert warp.consistency.isVisible() and warp.color_bar.isVisible()
    assert not warp.flow_panel.image.isVisible()
    assert warp.flow_panel.title.text.startswith("forward-backward consistency")
    values = warp.consistency.image
    assert values.shape == (H, W)
    # ScaleMatcher's B->A warp is off by 1 px: the round trip misses by 1 px where B holds A's
    np.testing.assert_allclose(values[: H - 4, : W - 6], 1.0, atol=1e-3)
    assert warp.color_bar.levels() == (0.0, 10.0)
    assert "px of A" in warp.color_bar.axis.labelText


def test_the_warp_readout_reads_the_scale_shown_and_the_consistency(window, qtbot):
    state, warp = window.state, window.warp_view
    text = hover(qtbot, warp.canvas, warp.flow_panel, 20, 20)
    dx, dy = FINAL_SHIFT
    assert text == f"flow ({dx:+.2f}, {dy:+.2f}) px, |{np.hypot(dx, dy):.2f}|\n" + (
        f"certainty {FINAL_CERTAINTY:.3f}"
    )
    state.set_scale("upsample_s4")  # full-size grid: exactly its shift at every pixel
    dx, dy = SHIFTS["upsample_s4"]
    for panel in (warp.flow_panel, warp.warped_panel):
        text = hover(qtbot, warp.canvas, panel, 30, 20)
        assert text == f"flow ({dx:+.2f}, {dy:+.2f}) px, |{np.hypot(dx, dy):.2f}|\n" + (
            f"certainty {CERTAINTY['upsample_s4']:.3f} (upsample pass, scale 4)"
        )
    warp.layer_box.setCurrentIndex(1)  # the consistency layer: its value too, in the flow panel
    text = hover(qtbot, warp.canvas, warp.flow_panel, 30, 20)
    assert text.endswith("(upsample pass, scale 4)\nconsistency 1.00 px of A")
    assert "consistency" not in hover(qtbot, warp.canvas, warp.warped_panel, 30, 20)


def test_clicks_in_the_warp_and_certainty_docks_still_probe(window, qtbot):
    state, warp = window.state, window.warp_view
    state.set_scale("coarse_s8")
    click(qtbot, warp.canvas, warp.coarse_panel, 20, 30)
    assert (state.probe.xa, state.probe.ya) == (20, 30)
    assert (state.probe.xb, state.probe.yb) == (26, 34)  # the final warp answers
    grid_marker = warp.grid_panel.marker
    assert grid_marker.isVisible() and (grid_marker.pos().x(), grid_marker.pos().y()) == (26, 34)
    certainty = window.certainty_view
    click(qtbot, certainty.canvas, certainty.panel, 40, 10)
    assert (state.probe.xa, state.probe.ya) == (40, 10)
    assert state.scale == "coarse_s8"


def test_a_result_without_the_scale_falls_back_to_final(window, qtbot):
    state = window.state
    state.set_scale("coarse_s2")
    with qtbot.waitSignal(state.run_finished, timeout=10_000):
        state.set_matcher(SHIFT)
        window.run_match()  # a result without intermediates
    assert state.scale == FINAL
    for box in (window.warp_view.scale_box, window.certainty_scale_box):
        assert box.scales() == [FINAL] and not box.isEnabled()
    np.testing.assert_allclose(window.certainty_view.heatmap.image, state.result.certainty_ab)
    assert not window.warp_view.layer_box.model().item(1).isEnabled()  # not symmetric
    assert np.isfinite(window.warp_view.grid_curve.getData()[0]).any()  # the final warp's grid


def test_a_workspace_keeps_the_scale(window, qtbot, tmp_path):
    window.state.set_scale("coarse_s4")
    path = tmp_path / "ws.json"
    assert window.save_workspace(path)
    other = make_window(qtbot, "dense-flow")
    with qtbot.waitSignal(other.state.run_finished, timeout=10_000):
        assert other.open_workspace(path)
    assert other.state.scale == "coarse_s4"
    assert other.warp_view.scale_box.currentData() == "coarse_s4"
    np.testing.assert_allclose(other.certainty_view.heatmap.image, CERTAINTY["coarse_s4"])


def test_the_warp_screenshot_shows_the_coarse_warp_and_the_grid_on_b(window, tmp_path):
    assert window.view_exporter.save_views(tmp_path) == []
    shot = cv2.cvtColor(cv2.imread(str(tmp_path / "warp.png")), cv2.COLOR_BGR2RGB)
    warp = window.warp_view

    def shown(panel, x: float, y: float) -> np.ndarray:
        """The screenshot's colour at pixel (x, y) of ``panel``'s image."""
        point = warp.canvas.mapFromScene(panel.view.mapViewToScene(QPointF(x, y)))
        point = warp.canvas.mapTo(warp, point)
        return shot[point.y(), point.x()].astype(int)

    coarse = warp.coarse_panel.image.image
    assert np.abs(shown(warp.coarse_panel, 10, 10) - coarse[10, 10]).max() <= 2
    rgb_b = window.state.image_b.rgb
    assert np.abs(shown(warp.grid_panel, 50, 20) - rgb_b[20, 50]).max() <= 2
    flow = warp.flow_panel.image.image
    assert np.abs(coarse[10, 10].astype(int) - flow[10, 10]).max() > 30  # not the same picture
