"""`AttentionView`, the DINO view: block and head selectors, A and B, similarity to the probe,
the tokens' PCA, the colour bar's range, real clicks and the hints."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.probe import ProbeReading
from core.result import Provenance
from core.tokens import unit_tokens
from tests.app.plugins import shift_result
from tests.widgets import tick_labels
from tests.widgets.test_anchor_view import H_A, W_A, synthetic_result
from widgets.attention_view import HINT, PROBE_HINT, TOKENS_HINT, AttentionView

RGB_A = np.random.default_rng(1).integers(0, 255, (H_A, W_A, 3), np.uint8)
RGB_B = np.random.default_rng(2).integers(0, 255, (H_A, W_A, 3), np.uint8)
BLOCKS, HEADS, GRID, DIM = 4, 3, 8, 16


def dino_result(block: int = -1, head: int = -1):
    """A RoMa-like result on an 8 x 8 coarse grid: attention_a / _b (4 blocks, 3 heads, 8, 8),
    where block k, head h peaks at cell (k, h) of A and (h, k) of B; random tokens
    backbone_a / _b (8, 8, 16) float16, B's cell (2, 6) a copy of A's (5, 1); the run's
    attention_block / attention_head settings ``block`` / ``head``."""
    result = shift_result(H_A, W_A, 6.0, 4.0)
    attention = np.ones((2, BLOCKS, HEADS, GRID, GRID), np.float32)
    for k, h in np.ndindex(BLOCKS, HEADS):
        attention[0, k, h, k, h] = attention[1, k, h, h, k] = 10.0 + k + h
    attention /= attention.sum(axis=(-1, -2), keepdims=True)
    rng = np.random.default_rng(3)
    tokens = rng.normal(size=(2, GRID, GRID, DIM)).astype(np.float16)
    tokens[1, 2, 6] = tokens[0, 5, 1]
    result.intermediates = {
        "attention_a": attention[0],
        "attention_b": attention[1],
        "backbone_a": tokens[0],
        "backbone_b": tokens[1],
    }
    result.provenance = Provenance(
        matcher="roma", settings={"attention_block": block, "attention_head": head}
    )
    return result


def peak(image: np.ndarray) -> tuple[int, int]:
    return tuple(int(v) for v in np.unravel_index(image.argmax(), image.shape[:2]))


def items(box) -> list[str]:
    return [box.itemText(i) for i in range(box.count())]


@pytest.fixture
def view(qtbot) -> AttentionView:
    view = AttentionView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_block_and_head_selectors_redraw_a_and_b_from_the_stored_attention(view):
    result = dino_result(block=2, head=1)  # the run's settings are the starting choice
    attention_a = result.intermediates["attention_a"]
    view.set_data(RGB_A, RGB_B, result)
    assert items(view.block_box) == [f"block {k}" for k in range(BLOCKS)]
    assert items(view.head_box) == ["mean of heads", "head 0", "head 1", "head 2"]
    assert view.block_box.currentText() == "block 2" and view.head_box.currentText() == "head 1"
    assert peak(view.heatmap.image) == (2, 1) and peak(view.heatmap_b.image) == (1, 2)
    assert np.array_equal(view.heatmap.image, attention_a[2, 1])

    view.block_box.setCurrentIndex(3)
    view.head_box.setCurrentIndex(3)  # head 2
    assert peak(view.heatmap.image) == (3, 2) and peak(view.heatmap_b.image) == (2, 3)
    view.head_box.setCurrentIndex(0)
    assert np.allclose(view.heatmap.image, attention_a[3].mean(axis=0))
    # one colour scale over A and B, in attention's own units
    both = np.concatenate((view.heatmap.image, view.heatmap_b.image))
    assert view.color_bar.levels() == pytest.approx((both.min(), both.max()))
    low, high = both.min(), both.max()
    assert view.label.text() == f"block 3, mean of heads: min {low:.3g}, max {high:.3g}"
    cell = view.heatmap_b.mapToParent(QPointF(2.5, 1.5))  # a cell's centre in B's pixels
    assert (cell.x(), cell.y()) == pytest.approx((2.5 * W_A / 8 - 0.5, 1.5 * H_A / 8 - 0.5))

    view.set_data(RGB_A, RGB_B, dino_result(block=2, head=1))  # the same run: the choice stays
    assert (
        view.block_box.currentText() == "block 3" and view.head_box.currentText() == "mean of heads"
    )
    view.set_data(RGB_A, RGB_B, dino_result(block=-1, head=0))  # new settings: their choice
    assert view.block_box.currentText() == "block 3" and view.head_box.currentText() == "head 0"
    assert peak(view.heatmap.image) == (3, 0)


def test_the_similarity_map_follows_the_probe(view):
    result = dino_result()
    units = unit_tokens(result.intermediates["backbone_a"])
    view.set_data(RGB_A, RGB_B, result)
    view.mode_box.setCurrentText("similarity")
    assert not view.block_box.isVisible() and not view.head_box.isVisible()
    assert view.label.text() == PROBE_HINT and view.heatmap.image is None

    # A's pixel (30, 110): cell (row 5, col 1) of 8 x 8 (25 x 20 pixels each)
    view.set_probe(ProbeReading(30.0, 110.0, 36.0, 114.0, 0.5, "warp"))
    similarity = view.heatmap.image
    assert similarity.shape == (8, 8) and similarity[5, 1] == pytest.approx(1.0, abs=1e-6)
    assert peak(similarity) == (5, 1) and peak(view.heatmap_b.image) == (2, 6)  # the copy
    assert np.allclose(similarity, units @ units[5, 1], atol=1e-6)
    assert "A's patch (row 5, col 1)" in view.label.text()
    assert view.color_bar.levels()[1] == pytest.approx(1.0, abs=1e-6)
    assert view.color_bar.axis.labelText == "cosine similarity"
    marker_b = view.panel_b.marker
    assert marker_b.isVisible() and (marker_b.pos().x(), marker_b.pos().y()) == (36.0, 114.0)

    view.set_probe(ProbeReading(190.0, 10.0, 196.0, 14.0, 0.5, "warp"))  # cell (0, 7)
    assert peak(view.heatmap.image) == (0, 7)
    assert not np.array_equal(view.heatmap.image, similarity)


def test_pca_mode_shows_rgb_images_of_a_and_b_without_the_colour_bar(view):
    result = dino_result()
    view.set_data(RGB_A, RGB_B, result)
    view.mode_box.setCurrentText("PCA")
    rgb_a, rgb_b = view.pca_a.image, view.pca_b.image
    assert rgb_a.shape == (8, 8, 3) and rgb_b.shape == (8, 8, 3)
    assert rgb_a.min() >= 0 and rgb_a.max() <= 1 and rgb_a.std() > 0.1
    assert np.allclose(rgb_a[5, 1], rgb_b[2, 6])  # the same token, the same colour
    assert view.heatmap.image is None and not view.color_bar.isVisible()
    view.mode_box.setCurrentText("attention")
    assert view.pca_a.image is None and view.color_bar.isVisible()
    assert view.heatmap.image.shape == (8, 8)


def test_an_older_result_with_one_block_and_no_tokens(view):
    view.set_data(RGB_A, None, synthetic_result(heads=3))  # attention_a (3, 8, 8), A only
    assert items(view.block_box) == ["the kept block"] and not view.block_box.isEnabled()
    assert view.head_box.isEnabled() and view.heatmap.image.shape == (8, 8)
    assert view.heatmap_b.image is None
    view.mode_box.setCurrentText("similarity")
    assert view.label.text() == TOKENS_HINT
    view.set_data(RGB_A, None, synthetic_result(heads=1))  # one head kept by the run
    view.mode_box.setCurrentText("attention")
    assert items(view.head_box) == ["the kept head"] and not view.head_box.isEnabled()


def test_a_real_click_reports_the_pixel_of_a_and_the_probe_is_marked(view, qtbot):
    view.set_data(RGB_A, RGB_B, dino_result())
    view.canvas.viewport().repaint()  # apply the view range to the transforms
    pos = view.canvas.mapFromScene(view.panel.view.mapViewToScene(QPointF(37, 121)))
    with qtbot.waitSignal(view.clicked_a, timeout=2000) as clicked:
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    x, y, _ = clicked.args
    assert abs(x - 37) < 0.5 and abs(y - 121) < 0.5

    view.set_probe(ProbeReading(37.0, 121.0, 43.0, 125.0, 0.5, "warp"))
    marker = view.panel.marker
    assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (37.0, 121.0)


def test_without_intermediates_the_view_shows_the_hint(view):
    view.set_data(RGB_A, RGB_B, dino_result())
    view.set_data(RGB_A, RGB_B, shift_result(H_A, W_A, 6.0, 4.0))
    assert view.label.text() == HINT
    assert view.heatmap.image is None and view.heatmap_b.image is None
    assert view.head_box.count() == 0 and not view.head_box.isEnabled()
    assert view.block_box.count() == 0 and not view.block_box.isEnabled()


def test_a_narrow_range_of_attention_keeps_its_tick_labels(view, qtbot):
    """The mean of many heads is close to uniform (1/64 here, +- 1e-6): labels like 0.0156245
    would not fit the colour bar; they are shown in units of 1e-2, named in the label."""
    result = synthetic_result()
    uniform = np.full((4, 8, 8), 1 / 64, np.float32)
    result.intermediates["attention_a"] = uniform + np.linspace(0, 1e-5, 64).reshape(1, 8, 8)
    view.set_data(RGB_A, RGB_B, result)
    qtbot.wait(10)
    labels = tick_labels(view.color_bar.axis)
    assert len(labels) >= 2
    assert all(float(text) == pytest.approx(1.5625, abs=2e-3) for text in labels)
    assert view.color_bar.axis.labelText == "attention (x 1e-2)"

    result.intermediates["attention_a"] = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    view.set_data(RGB_A, RGB_B, result)
    qtbot.wait(10)
    assert "1.0" in tick_labels(view.color_bar.axis)
    assert view.color_bar.axis.labelText == "attention"


def test_the_selectors_show_their_whole_text_in_a_narrow_dock(view, qtbot):
    view.set_data(RGB_A, RGB_B, dino_result())
    view.resize(180, 300)
    qtbot.wait(10)
    for box in (view.mode_box, view.block_box, view.head_box):
        assert box.width() >= box.sizeHint().width()
    box = view.head_box
    assert box.currentText() == "mean of heads"
    assert box.fontMetrics().horizontalAdvance("mean of heads") < box.width()
