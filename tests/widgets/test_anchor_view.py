"""`AnchorView`: where the drawn anchor distribution peaks, its numbers and the hint; the anchor
inspector's modes, coarse anchors, path, tables and B -> A toggle."""

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


RGB_A = np.random.default_rng(1).integers(0, 255, (H_A, W_A, 3), np.uint8)
RGB_B = np.random.default_rng(0).integers(0, 255, (H_B, W_B, 3), np.uint8)


def test_the_drawn_distribution_peaks_at_the_cells_anchor(view):
    view.set_data(RGB_A, RGB_B, synthetic_result())
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
    view.set_data(RGB_A, RGB_B, synthetic_result(uniform=True))
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
    view.set_data(RGB_A, RGB_B, synthetic_result())
    view.set_probe(ProbeReading(10.0, 10.0, 16.0, 14.0, 0.5, "warp"))
    view.set_data(RGB_A, RGB_B, shift_result(H_A, W_A, 6.0, 4.0))
    assert view.label.text() == HINT
    assert view.heatmap.image is None and view.probs is None
    assert not view.anchor_marker.isVisible() and not view.panel.marker.isVisible()
    assert not view.color_bar.isVisible()

    view.set_data(None, None, None)
    assert view.label.text() == ""


# --- the anchor inspector on `tests.core.anchor_results` (A 32 x 40, B 24 x 48, 8 x 8 anchors)


def inspector(qtbot, result=None) -> AnchorView:
    from tests.core import anchor_results as ar

    view = AnchorView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(2)
    rgb_a = rng.integers(0, 255, (ar.H_A, ar.W_A, 3), np.uint8)
    rgb_b = rng.integers(0, 255, (ar.H_B, ar.W_B, 3), np.uint8)
    view.set_data(rgb_a, rgb_b, ar.anchor_result() if result is None else result)
    return view


def table_rows(table) -> list[list[str]]:
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


def drawn(item) -> np.ndarray:
    """(N, 2) the (x, y) points a scatter or plot item draws."""
    xs, ys = item.getData()
    return np.column_stack([xs, ys])


PROBE = ProbeReading(12.0, 8.0, 15.0, 10.0, 0.95, "warp")  # cell (0, 0) of A and of B; +(3, 2)


def test_a_probe_fills_the_modes_the_coarse_anchors_and_the_path(qtbot):
    from core.anchor_probe import REFINER_STEPS
    from tests.core.anchor_results import PEAK_AB

    view = inspector(qtbot)
    view.set_probe(PROBE)
    inspection = view.inspection
    assert inspection.direction == "ab" and inspection.cell == (0, 0)
    modes = table_rows(view.mode_table)
    assert 1 <= len(modes) <= 5
    probabilities = [float(row[1]) for row in modes]
    assert probabilities == sorted(probabilities, reverse=True)
    assert modes[0] == [
        "1",
        f"{inspection.modes[0].probability:.3f}",
        f"{inspection.modes[0].x:.1f}, {inspection.modes[0].y:.1f}",
    ]
    big = [m for m in inspection.modes if m.probability >= 0.01]  # the others only listed
    assert len(big) == 1 < len(modes)
    np.testing.assert_allclose(drawn(view.modes), [(m.x, m.y) for m in big])
    labels = [label for label in view.mode_labels if label.isVisible()]
    assert len(labels) == 1
    assert labels[0].textItem.toPlainText() == f"1: {inspection.modes[0].probability:.0%}"
    # argmax (white square) and its 4 neighbours (cyan) in B's pixels
    argmax, *neighbours = inspection.coarse_anchors
    assert (argmax.row, argmax.col) == PEAK_AB
    assert (view.anchor_marker.pos().x(), view.anchor_marker.pos().y()) == (argmax.x, argmax.y)
    np.testing.assert_allclose(drawn(view.neighbours), [(a.x, a.y) for a in neighbours])
    # the path: the anchors, one step per refiner, the final match; a dot per step
    steps = table_rows(view.path_table)
    names = ["anchors s16", *(f"{stage} s{scale}" for stage, scale in REFINER_STEPS), "final"]
    assert [row[0] for row in steps] == names
    assert (
        steps[0][2] == "–"
        and steps[1][2] == "0.100"
        and steps[-1] == ["final", "15.0, 10.0", "0.950"]
    )
    np.testing.assert_allclose(drawn(view.path_line), [(s.x, s.y) for s in inspection.path])
    assert view.path_line.opts["symbol"] == "o"
    assert (view.panel.marker.pos().x(), view.panel.marker.pos().y()) == (15.0, 10.0)
    assert view.heatmap.image.shape == (8, 8, 4)
    assert view.heatmap.mapRectToParent(view.heatmap.boundingRect()).width() == 48  # over B
    assert "coarse cell (row 0, col 0) of 2x2" in view.label.text()


def test_a_bimodal_pixel_shows_two_big_circles_of_equal_probability(qtbot):
    view = inspector(qtbot)
    view.set_probe(ProbeReading(27.0, 10.0, 30.0, 12.0, 0.95, "warp"))  # A's cell (0, 1)
    first, second, *rest = [float(row[1]) for row in table_rows(view.mode_table)]
    assert first == second > 0.45 and all(p < 0.01 for p in rest)
    sizes = [point.size() for point in view.modes.points()]  # two equal circles, no more
    assert len(sizes) == 2 and sizes[0] == sizes[1] > 30
    texts = [label.textItem.toPlainText() for label in view.mode_labels if label.isVisible()]
    assert texts == [f"1: {first:.0%}", f"2: {second:.0%}"]
    assert f"modes {first:.0%}, {second:.0%}, 0%" in view.label.text()
    # the colour bar stays in absolute probabilities from one probe to the next
    view.set_probe(PROBE)
    assert view.color_bar.axis.labelText == "probability"
    assert max(float(text) for text in tick_labels(view.color_bar.axis)) < 1


def test_the_toggle_shows_b_to_a_over_a_from_the_probes_match(qtbot):
    from tests.core.anchor_results import PEAK_BA

    view = inspector(qtbot)
    view.set_probe(PROBE)
    assert view.direction_box.isEnabled()
    before = table_rows(view.path_table)
    view.direction_box.setCurrentIndex(1)  # B -> A
    inspection = view.inspection
    assert view.direction == "ba" and inspection.direction == "ba"
    assert (inspection.x, inspection.y) == (15.0, 10.0)  # the probe's match in B
    assert (inspection.modes[0].row, inspection.modes[0].col) == PEAK_BA
    assert view.panel.size_hw == (32, 40)  # A under the distribution
    assert view.heatmap.mapRectToParent(view.heatmap.boundingRect()).width() == 40
    steps = table_rows(view.path_table)
    assert steps != before and steps[-1] == ["final", "12.0, 8.0", "0.850"]  # warp_ba = -(3, 2)
    assert (view.panel.marker.pos().x(), view.panel.marker.pos().y()) == (12.0, 8.0)
    assert "anchors in A" in view.panel.title.text
    assert view.label.text().startswith("B (15.0, 10.0) → A")

    view.set_probe(ProbeReading(5.0, 5.0))  # no match in B to look back from
    assert view.label.text() == "The probe has no match in B to look back from."
    assert view.inspection is None and view.path_table.rowCount() == 0

    from tests.core.anchor_results import anchor_result

    view.set_data(view._grey["a"][..., None].repeat(3, 2), None, anchor_result())
    assert view.label.text() == ""  # no B: nothing drawn
    one_way = anchor_result(symmetric=False)
    rgb = np.zeros((24, 48, 3), np.uint8)
    view.set_data(np.zeros((32, 40, 3), np.uint8), rgb, one_way)
    assert not view.direction_box.isEnabled() and view.direction == "ab"
    view.set_probe(PROBE)
    assert view.inspection.direction == "ab"


def test_the_inspector_exports_with_its_modes_and_path(qtbot, tmp_path):
    from PIL import Image

    from widgets.export import export_view

    view = inspector(qtbot)
    view.set_probe(PROBE)
    path = export_view(view, tmp_path / "anchors.png", dpi=96)
    pixels = np.asarray(Image.open(path).convert("RGB"), np.int32)
    assert pixels.std() > 10
    # the path's yellow is drawn
    yellow = (pixels[..., 0] > 200) & (pixels[..., 1] > 200) & (pixels[..., 2] < 80)
    assert yellow.sum() > 20
