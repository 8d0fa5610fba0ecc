"""`AnchorView`: where the drawn anchor distribution peaks, its numbers, and the hint."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from core.probe import ProbeReading
from core.result import MatchResult
from tests.app.plugins import shift_result
from tests.widgets import tick_labels
from widgets.anchor_view import HINT, AnchorView

H_A, W_A = 160, 200  # A; a coarse cell is 25 x 20 pixels of A
H_B, W_B = 120, 256  # B; an anchor cell is 4 x 1.875 pixels of B
GRID = 8  # coarse cells per side of A
SIDE = 64  # anchors per side of B
PEAK = 10.0  # the peaked anchor's logit; all others are 0


def peak_anchor(row: int, col: int) -> tuple[int, int]:
    """The anchor (row, col of the 64 x 64 grid over B) that coarse cell (row, col) peaks at."""
    return 8 * row + 3, 63 - 7 * col


def synthetic_intermediates(heads: int = 3, uniform: bool = False) -> dict[str, np.ndarray]:
    """RoMa-like intermediates on an 8 x 8 coarse grid, without a model.

    anchor_logits_ab (8, 8, 4096) float16: each cell peaks at `peak_anchor` (all 0 if
    ``uniform``); attention_a (heads, 8, 8): head h is 1 everywhere and 5 at cell (h, 2 h),
    normalised to sum to 1.
    """
    logits = np.zeros((GRID, GRID, SIDE * SIDE), np.float16)
    if not uniform:
        for row, col in np.ndindex(GRID, GRID):
            i, j = peak_anchor(row, col)
            logits[row, col, i * SIDE + j] = PEAK
    attention = np.ones((heads, GRID, GRID), np.float32)
    for head in range(heads):
        attention[head, head, 2 * head] = 5.0
    attention /= attention.sum(axis=(1, 2), keepdims=True)
    return {"anchor_logits_ab": logits, "attention_a": attention}


def synthetic_result(**kwargs) -> MatchResult:
    """A shifted by (6, 4) into B, with `synthetic_intermediates` (``kwargs`` go there)."""
    result = shift_result(H_A, W_A, 6.0, 4.0)
    result.intermediates = synthetic_intermediates(**kwargs)
    return result


def expected_centre(i: int, j: int) -> tuple[float, float]:
    """B pixel at the centre of anchor (i, j)."""
    return (j + 0.5) * W_B / SIDE - 0.5, (i + 0.5) * H_B / SIDE - 0.5


@pytest.fixture
def view(qtbot) -> AnchorView:
    view = AnchorView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    return view


RGB_B = np.random.default_rng(0).integers(0, 255, (H_B, W_B, 3), np.uint8)


def test_the_drawn_distribution_peaks_at_the_cells_anchor(view):
    view.set_data(RGB_B, synthetic_result())
    view.set_probe(ProbeReading(130.0, 70.0, 136.0, 74.0, 0.9, "warp"))  # cell (row 3, col 5)
    i, j = peak_anchor(3, 5)
    x, y = expected_centre(i, j)

    rgba = view.heatmap.image
    assert rgba.shape == (SIDE, SIDE, 4)
    assert np.unravel_index(rgba[..., 3].argmax(), rgba.shape[:2]) == (i, j)
    drawn = view.heatmap.mapToParent(QPointF(j + 0.5, i + 0.5))  # that image cell's centre in B
    assert (drawn.x(), drawn.y()) == pytest.approx((x, y))
    marker = view.anchor_marker
    assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == pytest.approx((x, y))
    match = view.panel.marker
    assert match.isVisible() and (match.pos().x(), match.pos().y()) == (136.0, 74.0)

    top = np.exp(PEAK) / (np.exp(PEAK) + SIDE * SIDE - 1)
    text = view.label.text()
    assert f"top-1 p = {top:.3f}" in text
    assert "coarse cell (row 3, col 5) of 8x8" in text
    assert f"top anchor at ({x:.1f}, {y:.1f})" in text
    assert f"{np.hypot(136.0 - x, 74.0 - y):.1f} px from it" in text


def test_a_uniform_distribution_has_twelve_bits(view):
    view.set_data(RGB_B, synthetic_result(uniform=True))
    view.set_probe(ProbeReading(10.0, 10.0))  # no final match: only the anchor marker
    assert view.probs.sum() == pytest.approx(1.0)
    assert "entropy 12.00 of 12 bits" in view.label.text()
    assert "top-1 p = 0.000" in view.label.text()
    # the colour bar reads absolute probabilities: 0 .. 1/4096 = 2.44e-4, labelled in 1e-4
    assert view.color_bar.isVisible()
    assert view.color_bar.levels() == pytest.approx((0.0, 1 / 4096), rel=1e-3)
    assert view.color_bar.axis.labelText == "probability (x 1e-4)"
    ticks = [float(text) for text in tick_labels(view.color_bar.axis)]
    assert len(ticks) >= 3 and min(ticks) == 0 and max(ticks) <= 2.45
    assert "no final match" in view.label.text()
    assert view.anchor_marker.isVisible() and not view.panel.marker.isVisible()


def test_without_intermediates_the_view_shows_the_hint(view):
    view.set_data(RGB_B, synthetic_result())
    view.set_probe(ProbeReading(10.0, 10.0, 16.0, 14.0, 0.5, "warp"))
    view.set_data(RGB_B, shift_result(H_A, W_A, 6.0, 4.0))
    assert view.label.text() == HINT
    assert view.heatmap.image is None and view.probs is None
    assert not view.anchor_marker.isVisible() and not view.panel.marker.isVisible()
    assert not view.color_bar.isVisible()

    view.set_data(None, None)
    assert view.label.text() == ""
