"""The anchor inspector in core: modes, RoMa's coarse estimate, the path through the refiners."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from core.anchor_probe import (
    NEIGHBOURS,
    REFINER_STEPS,
    coarse_estimate,
    find_modes,
    inspect_anchors,
    sample_at,
)
from core.coords import normalized_to_pixel, pixel_to_normalized
from core.models.roma import anchors_to_warp
from tests.core.anchor_results import (
    BIMODAL_AB,
    CERTAINTIES,
    H_A,
    H_B,
    OFFSETS,
    PEAK_AB,
    PEAK_BA,
    SHIFT,
    SIDE,
    W_A,
    W_B,
    anchor_result,
)

SIZES = ((H_A, W_A), (H_B, W_B))


def anchor_pixel(row: int, col: int, size_hw: tuple[int, int]) -> tuple[float, float]:
    """Centre of anchor (row, col) of the 8 x 8 grid in pixels of an image of ``size_hw``."""
    return ((col + 0.5) * size_hw[1] / SIDE - 0.5, (row + 0.5) * size_hw[0] / SIDE - 0.5)


def test_the_coarse_estimate_is_romas_anchors_to_warp():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (3, 5, SIDE * SIDE)).astype(np.float16)
    # argmaxes at the corners and edges, where RoMa clamps its flattened-index neighbours
    for cell, k in enumerate((0, SIDE - 1, SIDE * SIDE - 1, SIDE * 3, SIDE * 4 - 1)):
        logits[cell // 5, cell % 5, k] = 20.0
    model = anchors_to_warp(torch.from_numpy(logits.astype(np.float32)).permute(2, 0, 1)[None])
    model = model[0].permute(1, 2, 0).numpy()
    for row, col in np.ndindex(3, 5):
        index, weights, estimate = coarse_estimate(logits[row, col])
        np.testing.assert_allclose(estimate, model[row, col], atol=1e-6)
        mode = int(np.argmax(logits[row, col]))
        assert index[0] == mode
        expected = np.clip([mode, mode - 1, mode + 1, mode - SIDE, mode + SIDE], 0, 63)
        np.testing.assert_array_equal(index, expected)
        assert weights[0] == weights.max()
    index, _, _ = coarse_estimate(logits[0, 0])  # argmax 0: itself, itself, 1, itself, 8
    np.testing.assert_array_equal(index, [0, 0, 1, 0, 8])


def test_a_bimodal_distribution_has_two_modes_of_equal_mass():
    probs = np.full((SIDE, SIDE), 0.1 / 56)  # 56 anchors share 0.1
    for (row, col), peak in zip(BIMODAL_AB, (0.3, 0.26), strict=True):
        probs[row, col] = peak
        probs[row, col + 1] = probs[row + 1, col] = (0.45 - peak) / 2  # a shoulder, not a mode
    modes = find_modes(probs)
    assert [(r, c) for r, c, _ in modes[:2]] == list(BIMODAL_AB)
    # the window of (1, 1): the peak, its two shoulders and 6 anchors of the background
    assert modes[0][2] == pytest.approx(0.45 + 6 * 0.1 / 56)
    assert modes[1][2] == pytest.approx(0.45 + 6 * 0.1 / 56)
    assert len(modes) == 5 and all(m[2] < 0.02 for m in modes[2:])
    masses = [m[2] for m in modes]
    assert masses == sorted(masses, reverse=True) and sum(masses) <= 1 + 1e-9
    # no two modes' windows overlap
    for i, (r, c, _) in enumerate(modes):
        assert all(max(abs(r - r2), abs(c - c2)) > 2 for r2, c2, _ in modes[i + 1 :])


def test_a_single_peak_is_one_mode_with_its_neighbourhood():
    probs = np.zeros((SIDE, SIDE))
    probs[3, 3], probs[3, 4], probs[0, 7] = 0.7, 0.2, 0.1
    assert find_modes(probs) == [(3, 3, pytest.approx(0.9)), (0, 7, pytest.approx(0.1))]


def test_sampling_is_what_cv2_resize_gives_at_the_pixel():
    grid = np.random.default_rng(1).normal(size=(4, 5, 2)).astype(np.float32)
    dense = cv2.resize(grid, (W_A, H_A), interpolation=cv2.INTER_LINEAR)
    for x, y in ((0, 0), (7, 3), (39, 31), (20, 16), (13, 29)):
        np.testing.assert_allclose(sample_at(grid, x, y, (H_A, W_A)), dense[y, x], atol=1e-5)


def expected_path(x, y, src_hw, dst_hw, sign):
    """(x, y, certainty) of every refiner step of `anchor_result` for pixel (x, y)."""
    uv = pixel_to_normalized((x, y), src_hw[1], src_hw[0])
    return [
        (*normalized_to_pixel(uv + sign * np.array(offset), dst_hw[1], dst_hw[0]), certainty)
        for offset, certainty in zip(OFFSETS, CERTAINTIES, strict=True)
    ]


def test_a_to_b_path_modes_and_coarse_anchors_in_pixels_of_b():
    result = anchor_result()
    x, y = 12.0, 10.0  # cell (0, 0)
    inspection = inspect_anchors(result, x, y, *SIZES)
    assert inspection.cell == (0, 0) and inspection.probs.shape == (SIDE, SIDE)
    assert inspection.probs.sum() == pytest.approx(1.0)
    total = math.exp(8) + 4 * math.exp(6) + 59
    mode = inspection.modes[0]
    assert (mode.row, mode.col) == PEAK_AB
    assert (mode.x, mode.y) == pytest.approx(anchor_pixel(*PEAK_AB, (H_B, W_B)))
    # its 3 x 3 window: the peak, its 4 neighbours and 4 diagonal anchors at logit 0
    assert mode.probability == pytest.approx((math.exp(8) + 4 * math.exp(6) + 4) / total)
    row, col = PEAK_AB
    anchors = inspection.coarse_anchors
    assert len(anchors) == len(NEIGHBOURS) == 5
    assert [(a.row, a.col) for a in anchors] == [
        (row, col),
        (row, col - 1),
        (row, col + 1),
        (row - 1, col),
        (row + 1, col),
    ]
    assert [a.probability for a in anchors] == pytest.approx(
        [math.exp(8) / total] + [math.exp(6) / total] * 4, rel=1e-5
    )
    # symmetric neighbours: the estimate is the peak anchor's centre
    assert inspection.coarse == pytest.approx(anchor_pixel(*PEAK_AB, (H_B, W_B)), abs=1e-4)

    path = inspection.path
    assert [step.name for step in path] == [
        "anchors s16",
        *(f"{stage} s{scale}" for stage, scale in REFINER_STEPS),
        "final",
    ]
    assert (path[0].x, path[0].y) == inspection.coarse and math.isnan(path[0].certainty)
    for step, (ex, ey, certainty) in zip(
        path[1:-1], expected_path(x, y, (H_A, W_A), (H_B, W_B), 1.0), strict=True
    ):
        assert (step.x, step.y, step.certainty) == pytest.approx((ex, ey, certainty), abs=1e-4)
    final = path[-1]
    assert (final.x, final.y, final.certainty) == pytest.approx((x + 3, y + 2, 0.95))


def test_the_bimodal_cell_shows_two_modes_of_equal_probability():
    inspection = inspect_anchors(anchor_result(), 27.0, 10.0, *SIZES)  # cell (0, 1)
    assert inspection.cell == (0, 1)
    first, second, *rest = inspection.modes
    assert [(first.row, first.col), (second.row, second.col)] == list(BIMODAL_AB)
    expected = (math.exp(7) + 8) / (2 * math.exp(7) + 62)
    assert first.probability == pytest.approx(expected)
    assert second.probability == pytest.approx(expected)
    assert len(rest) == 3 and all(mode.probability < 0.01 for mode in rest)


def test_b_to_a_reads_the_ba_intermediates_in_pixels_of_a():
    result = anchor_result()
    x, y = 20.0, 8.0  # a pixel of B: cell (0, 0) of B's 2 x 2
    inspection = inspect_anchors(result, x, y, *SIZES, direction="ba")
    assert inspection.direction == "ba" and inspection.cell == (0, 0)
    mode = inspection.modes[0]
    assert (mode.row, mode.col) == PEAK_BA
    assert (mode.x, mode.y) == pytest.approx(anchor_pixel(*PEAK_BA, (H_A, W_A)))
    for step, (ex, ey, certainty) in zip(
        inspection.path[1:-1], expected_path(x, y, (H_B, W_B), (H_A, W_A), -1.0), strict=True
    ):
        assert (step.x, step.y, step.certainty) == pytest.approx((ex, ey, certainty), abs=1e-4)
    final = inspection.path[-1]
    assert (final.x, final.y, final.certainty) == pytest.approx((*(np.array([x, y]) - SHIFT), 0.85))


def test_without_refiners_the_path_is_anchors_then_final_and_ba_needs_its_logits():
    inspection = inspect_anchors(anchor_result(refiners=False), 5.0, 25.0, *SIZES)  # cell (1, 0)
    assert [step.name for step in inspection.path] == ["anchors s16", "final"]
    assert [a.col + SIDE * a.row for a in inspection.coarse_anchors] == [0, 0, 1, 0, 8]
    with pytest.raises(KeyError, match="anchor_logits_ba"):
        inspect_anchors(anchor_result(symmetric=False), 5.0, 5.0, *SIZES, direction="ba")


def test_the_coarse_estimate_matches_a_random_romas_coarse_warp_at_every_cell():
    from core.models.testing import random_roma

    torch.manual_seed(0)
    images = torch.randn(2, 1, 3, 112, 112)
    with torch.inference_mode():
        out = random_roma("dinov2_vits14", seed=0)(*images, capture={"anchors"})
    logits = out.captured["anchor_logits"].permute(0, 2, 3, 1).numpy()
    coarse = out.captured["coarse_warp"].permute(0, 2, 3, 1).numpy()
    assert logits.shape == (2, 8, 8, 4096)

    def errors(logits):
        return np.array(
            [
                np.abs(coarse_estimate(logits[n, r, c])[2] - coarse[n, r, c]).max()
                for n, r, c in np.ndindex(2, 8, 8)
            ]
        )

    assert errors(logits).max() < 1e-6
    # the matcher keeps float16 logits: that can flip a near-tie argmax (1 of these 128 cells)
    assert (errors(logits.astype(np.float16)) < 1e-4).mean() >= 0.95
