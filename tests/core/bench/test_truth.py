"""`core.bench.truth`: per-match and per-pixel errors against each kind of ground truth, checked
on exact correspondences of rendered scenes and known homographies."""

from __future__ import annotations

import numpy as np
import pytest

from core.bench.datasets import open_dataset
from core.bench.truth import GroundTruth, ground_truth
from core.coords import pixel_grid
from tests.core.bench import layouts


def _turn(points: np.ndarray, width: int) -> np.ndarray:
    """Pixels of an image of width ``width`` after one ``np.rot90`` turn."""
    return np.column_stack([points[:, 1], width - 1 - points[:, 0]])


@pytest.mark.parametrize("rotation", [0, 1])
def test_true_correspondences_have_no_epipolar_error(tmp_path, scene_views, scene_flow, rotation):
    layouts.superglue_folder(tmp_path, scene_views, rotations=[(0, rotation)])
    truth = ground_truth(open_dataset(tmp_path).pairs[0])
    assert truth.kind == "pose" and truth.error_name == "epipolar error"
    valid = np.isfinite(scene_flow).all(axis=-1)
    grid = pixel_grid(*valid.shape)
    points_a = grid[valid]
    points_b = points_a + scene_flow[valid]
    if rotation:  # B was turned before matching; the truth describes the turned image
        points_b = _turn(points_b, valid.shape[1])
    matches = np.column_stack([points_a, points_b])
    assert np.nanmax(truth.match_errors(matches)) < 0.05
    # moving B's end 3 px across its epipolar line gives 3 px in B (and about that in A)
    lines = truth.epipolar_lines_b(points_a)
    np.testing.assert_allclose(np.hypot(lines[:, 0], lines[:, 1]), 1.0)
    off = np.column_stack([points_a, points_b + 3.0 * lines[:, :2]])
    errors = truth.match_errors(off)
    assert np.median(errors) == pytest.approx(3.0, rel=0.15)
    # sliding along the line (the unknown depth) costs nothing
    along = np.column_stack([points_b[:, 0] - 5 * lines[:, 1], points_b[:, 1] + 5 * lines[:, 0]])
    assert np.nanmax(truth.match_errors(np.column_stack([points_a, along]))) < 0.05


def test_dense_errors_of_a_homography_warp(tmp_path):
    from core.synthetic import make_texture

    layouts.homography_sequence(tmp_path, make_texture(96, seed=1)[:64], count=2)
    truth = ground_truth(open_dataset(tmp_path).pairs[0])
    assert truth.kind == "homography" and truth.error_name == "end-point error"
    grid = pixel_grid(64, 96).reshape(-1, 2)
    exact = truth.true_positions_b(grid).reshape(64, 96, 2)
    warp = exact + np.float32([2.0, 0.0])
    warp[:10] = np.nan  # no match there
    errors = truth.dense_errors(warp)
    assert errors.shape == (64, 96)
    assert np.isnan(errors[:10]).all()
    np.testing.assert_allclose(errors[10:], 2.0, atol=1e-4)
    matches = np.column_stack([grid[:5], exact.reshape(-1, 2)[:5] + np.float64([0.0, -4.0])])
    np.testing.assert_allclose(truth.match_errors(matches), 4.0, atol=1e-9)
    assert truth.epipolar_lines_b(grid[:5]) is None


def test_flow_errors_are_unknown_where_the_flow_is(tmp_path, scene_views, scene_flow):
    layouts.middlebury_folder(tmp_path, scene_views[0].image, scene_views[1].image, scene_flow)
    truth = ground_truth(open_dataset(tmp_path).pairs[0])
    assert truth.kind == "flow"
    grid = pixel_grid(*scene_flow.shape[:2])
    errors = truth.dense_errors(grid + np.nan_to_num(scene_flow) + np.float32([0.0, 1.5]))
    known = np.isfinite(scene_flow).all(axis=-1)
    np.testing.assert_allclose(errors[known], 1.5, atol=1e-4)
    assert np.isnan(errors[~known]).all()
    with pytest.raises(ValueError, match="flow is"):
        truth.dense_errors(np.zeros((10, 10, 2), np.float32))


def test_a_pure_rotation_is_a_homography(tmp_path, scene_views):
    views = [scene_views[0], scene_views[0]]  # no translation between the cameras
    layouts.superglue_folder(tmp_path, views)
    truth = ground_truth(open_dataset(tmp_path).pairs[0])
    assert truth.kind == "homography"
    np.testing.assert_allclose(truth.true_positions_b(np.array([[10.0, 20.0]])), [[10.0, 20.0]])


def test_errors_of_no_matches():
    truth = GroundTruth("homography", homography=np.eye(3))
    assert truth.match_errors(np.zeros((0, 4))).shape == (0,)


def test_a_dense_result_keeps_its_error_map_at_any_coverage():
    """Dense or sparse is what the result is, not how many pixels it predicts."""
    from core.result import MatchResult

    truth = GroundTruth("homography", homography=np.eye(3))
    warp = np.full((20, 30, 2), np.nan, np.float32)
    warp[:2, :3] = pixel_grid(20, 30)[:2, :3] + 1.0  # 1 % of the pixels, off by sqrt(2)
    matches = np.array([[1.0, 1.0, 2.0, 2.0]], np.float32)
    dense = MatchResult(warp, np.zeros((20, 30), np.float32), matches, np.ones(1, np.float32))
    errors = truth.errors_of(dense)
    assert errors.dense is not None and np.isfinite(errors.dense).sum() == 6
    np.testing.assert_allclose(errors.dense[:2, :3], np.sqrt(2), atol=1e-6)
    sparse = MatchResult(matches=matches, match_certainty=np.ones(1, np.float32))
    errors = truth.errors_of(sparse)
    assert errors.dense is None
    np.testing.assert_allclose(errors.matches, np.sqrt(2), atol=1e-6)
