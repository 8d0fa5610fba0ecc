"""`core.scales`: the scales of a result, their warps in original pixels, the coarse warp, the
forward-backward consistency and the deformed grid, on synthetic results with known values."""

from __future__ import annotations

import numpy as np
import pytest

from core.coords import pixel_grid
from core.scales import (
    FINAL,
    consistency,
    deformed_grid,
    is_symmetric,
    result_scales,
    scale_label,
    scale_maps,
    scale_warp,
)
from tests.app.plugins import shift_result
from tests.core.scale_results import (
    CERTAINTY,
    COARSE_SHIFT,
    SHIFTS,
    H,
    W,
    scale_result,
)


def test_the_scales_come_in_pass_order_then_final():
    result = scale_result()
    result.intermediates = dict(reversed(result.intermediates.items()))  # order of keys: none
    assert result_scales(result) == [*SHIFTS, FINAL]
    assert result_scales(shift_result(20, 30, 1.0, 2.0)) == [FINAL]  # no intermediates
    assert result_scales(None) == []
    assert scale_label("coarse_s16") == "coarse pass, scale 16"
    assert scale_label("upsample_s1") == "upsample pass, scale 1"
    assert scale_label(FINAL) == "final"


@pytest.mark.parametrize("scale", ["upsample_s8", "upsample_s1"])
def test_a_scales_warp_is_in_bs_pixels_at_as_original_size(scale):
    result = scale_result()
    warp, certainty = scale_warp(result, scale)
    assert warp.shape == (H, W, 2) and certainty.shape == (H, W)
    np.testing.assert_allclose(warp, pixel_grid(H, W) + np.float32(SHIFTS[scale]), atol=1e-4)
    np.testing.assert_allclose(certainty, CERTAINTY[scale], atol=1e-6)
    back, _ = scale_warp(result, scale, "ba")
    np.testing.assert_allclose(back, pixel_grid(H, W) - np.float32(SHIFTS[scale]), atol=1e-4)


def test_a_half_size_grid_is_resized_to_the_original_pixels():
    warp, certainty = scale_warp(scale_result(), "coarse_s8")
    assert warp.shape == (H, W, 2)
    inner = (slice(1, -1), slice(1, -1))  # the resize clamps the outermost pixels
    expected = pixel_grid(H, W) + np.float32(SHIFTS["coarse_s8"])
    np.testing.assert_allclose(warp[inner], expected[inner], atol=1e-4)
    np.testing.assert_allclose(certainty, CERTAINTY["coarse_s8"], atol=1e-6)


def test_final_is_the_results_own_warp_and_a_missing_direction_is_none():
    result = scale_result(symmetric=False)
    warp, certainty = scale_warp(result, FINAL)
    assert warp is result.warp_ab and certainty is result.certainty_ab
    assert scale_warp(result, FINAL, "ba") is None
    assert scale_warp(result, "upsample_s4", "ba") is None
    assert scale_warp(result, "coarse_s32") is None
    assert not is_symmetric(result) and not is_symmetric(result, "upsample_s4")
    assert is_symmetric(scale_result()) and is_symmetric(scale_result(), "coarse_s16")


def test_the_maps_of_a_scale_hold_the_coarse_warp_and_the_consistency():
    maps = scale_maps(scale_result(back_error=(1.0, 0.0)), "upsample_s2")
    np.testing.assert_allclose(maps.warp, pixel_grid(H, W) + np.float32([6, 4]), atol=1e-4)
    inner = (slice(2, -2), slice(2, -2))  # a quarter-size grid resized
    expected = pixel_grid(H, W) + np.float32(COARSE_SHIFT)
    np.testing.assert_allclose(maps.coarse_warp[inner], expected[inner], atol=1e-4)
    # A's pixel x -> x + (6, 4) in B -> x + (1, 0) back in A: 1 px wherever B holds x + (6, 4)
    inside = maps.consistency[: H - 4, : W - 6]
    np.testing.assert_allclose(inside, 1.0, atol=1e-3)
    assert np.isnan(maps.consistency[H - 3 :, :]).all()  # beyond B's last row (y + 4 > 47.5)
    assert np.isnan(maps.consistency[:, W - 5 :]).all()
    assert scale_maps(scale_result(symmetric=False), "upsample_s2").consistency is None
    assert scale_maps(scale_result(), "coarse_s32") is None


def test_consistency_of_a_shift_and_its_inverse_is_zero_and_nan_without_a_warp():
    height, width = 10, 12
    grid = pixel_grid(height, width)
    forward = grid + np.float32([2.0, 1.0])
    backward = grid - np.float32([2.0, 1.0])
    backward[5, 7] = np.nan  # no warp at B's (7, 5)
    forward[0, 0] = np.nan  # no match at A's (0, 0)
    distance = consistency(forward, backward)
    assert distance.shape == (height, width) and distance.dtype == np.float32
    assert np.isnan(distance[0, 0]) and np.isnan(distance[4, 5])  # A (5, 4) -> B (7, 5)
    assert np.isnan(distance[:, width - 2 :]).all() and np.isnan(distance[height - 1, :]).all()
    valid = np.isfinite(distance)
    assert valid.sum() == (height - 1) * (width - 2) - 2
    np.testing.assert_array_equal(distance[valid], 0.0)
    # a half-pixel position is looked up bilinearly: B's warp back is linear, so still exact
    half = consistency(grid + np.float32([0.5, 0.25]), grid - np.float32([0.5, 0.25]))
    np.testing.assert_allclose(half[:-1, :-1], 0.0, atol=1e-6)
    near = consistency(grid + np.float32([2.5, 1.0]), backward)  # A (5, 4) -> B (7.5, 5)
    assert np.isnan(near[4, 4]) and np.isnan(near[4, 5]) and np.isfinite(near[4, 3])


def test_the_deformed_grid_maps_as_lines_and_breaks_at_unsure_points():
    height, width = 70, 100
    grid = pixel_grid(height, width)
    warp = grid + np.float32([10.0, 5.0])
    certainty = np.ones((height, width), np.float32)
    certainty[:, 50:] = 0.2
    points = deformed_grid(warp, certainty, threshold=0.0, step=32, sample=4)
    rows = [0, 32, 64]  # three rows, four columns (0, 32, 64, 96)
    per_row = len(np.unique(np.r_[np.arange(0, width, 4), width - 1]))
    per_column = len(np.unique(np.r_[np.arange(0, height, 4), height - 1]))
    assert len(points) == 3 * (per_row + 1) + 4 * (per_column + 1)
    first = points[:per_row]
    np.testing.assert_array_equal(first[:, 1], rows[0] + 5.0)
    np.testing.assert_array_equal(first[[0, -1], 0], [10.0, width - 1 + 10.0])
    assert np.isnan(points[per_row]).all()  # a break between lines
    sure = deformed_grid(warp, certainty, threshold=0.5, step=32, sample=4)
    finite = sure[np.isfinite(sure[:, 0])]
    assert finite[:, 0].max() < 50 + 10.0  # the unsure right half is left out
    assert np.isfinite(sure).sum() < np.isfinite(points).sum()
