"""The metric functions against values worked out by hand."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from core.bench import metrics
from core.bench.datasets import MEGADEPTH_PROTOCOL, SCANNET_PROTOCOL, SUPERGLUE_PROTOCOL, Pair
from core.bench.pairs import rescale_view, score_pose


def rotation_z(degrees: float) -> np.ndarray:
    return cv2.Rodrigues(np.array([0.0, 0.0, np.radians(degrees)]))[0]


def superglue_pose_auc(errors, thresholds):
    """SuperGlue's ``pose_auc`` as published (``np.trapz`` spelled ``np.trapezoid``)."""
    sort_idx = np.argsort(errors)
    errors = np.array(errors.copy())[sort_idx]
    recall = (np.arange(len(errors)) + 1) / len(errors)
    errors = np.r_[0.0, errors]
    recall = np.r_[0.0, recall]
    aucs = []
    for t in thresholds:
        last_index = np.searchsorted(errors, t)
        r = np.r_[recall[:last_index], recall[last_index - 1]]
        e = np.r_[errors[:last_index], t]
        aucs.append(np.trapezoid(r, x=e) / t)
    return aucs


def test_pose_auc_by_hand():
    # sorted errors 0, 1, 2 (recall 0, 1/3, 2/3), inf beyond 5: area 1/6 + 1/2 + 3 * 2/3 = 8/3
    assert metrics.pose_auc([2.0, math.inf, 1.0], [5]) == pytest.approx([8 / 15])
    # four errors of 0.5 under a threshold of 1: 0.5 * 0.25 / 2 + 0.5 * 1
    assert metrics.pose_auc([0.5] * 4, [1]) == pytest.approx([0.5625])
    assert metrics.pose_auc([], [5, 10]) == [0.0, 0.0]
    assert metrics.pose_auc([math.inf] * 3, [5]) == [0.0]
    assert metrics.pose_auc([0.0] * 3, [5, 10]) == pytest.approx([1.0, 1.0])


def test_pose_auc_equals_superglue():
    rng = np.random.default_rng(0)
    errors = np.r_[rng.exponential(6.0, 60), [math.inf] * 5]
    thresholds = [5, 10, 20]
    assert metrics.pose_auc(errors, thresholds) == pytest.approx(
        superglue_pose_auc(errors, thresholds)
    )


def test_fraction_below():
    errors = [0.5, 1.0, 2.0, math.inf]
    assert metrics.fraction_below(errors, [1, 3]) == [0.25, 0.75]
    assert metrics.fraction_below(errors, [3], count=8) == [0.375]
    assert metrics.fraction_below([], [1, 3]) == [0.0, 0.0]


def test_rotation_and_translation_angles():
    assert metrics.rotation_error_deg(np.eye(3), rotation_z(10.0)) == pytest.approx(10.0)
    assert metrics.rotation_error_deg(rotation_z(-7.0), rotation_z(3.0)) == pytest.approx(10.0)
    x = np.array([1.0, 0.0, 0.0])
    assert metrics.translation_error_deg(x, -2 * x) == pytest.approx(0.0)  # sign ignored
    assert metrics.translation_error_deg(x, rotation_z(30) @ x) == pytest.approx(30.0)
    assert metrics.translation_error_deg(x, rotation_z(150) @ x) == pytest.approx(30.0)
    assert metrics.translation_error_deg(x, np.zeros(3)) == 0.0
    T_gt = np.eye(4)
    T_gt[:3, 3] = [0.0, 0.0, 2.0]
    t_est = cv2.Rodrigues(np.array([np.radians(4.0), 0.0, 0.0]))[0] @ [0.0, 0.0, 1.0]
    assert metrics.pose_error_deg(rotation_z(3.0), t_est, T_gt) == pytest.approx(4.0)
    assert metrics.pose_error_deg(rotation_z(5.0), t_est, T_gt) == pytest.approx(5.0)


def two_view_points(count: int, seed: int = 0):
    """(pts_a, pts_b, K_a, K_b, T_ab) of ``count`` random points seen by two cameras."""
    rng = np.random.default_rng(seed)
    K_a = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])
    K_b = np.array([[450.0, 0.0, 300.0], [0.0, 450.0, 250.0], [0.0, 0.0, 1.0]])
    T_ab = np.eye(4)
    T_ab[:3, :3] = cv2.Rodrigues(np.array([0.05, -0.2, 0.03]))[0]
    T_ab[:3, 3] = [-0.8, 0.1, 0.2]
    X = rng.uniform([-2, -1.5, 4], [2, 1.5, 8], (count, 3))
    X_b = X @ T_ab[:3, :3].T + T_ab[:3, 3]
    pts_a = (X @ K_a.T)[:, :2] / X[:, 2:]
    pts_b = (X_b @ K_b.T)[:, :2] / X_b[:, 2:]
    return pts_a, pts_b, K_a, K_b, T_ab


def test_relative_pose_from_exact_and_noisy_points():
    pts_a, pts_b, K_a, K_b, T_ab = two_view_points(200)
    error = metrics.relative_pose_error_deg(pts_a, pts_b, K_a, K_b, T_ab)
    assert error < 0.01
    rng = np.random.default_rng(1)
    noisy_b = pts_b + rng.normal(0.0, 0.3, pts_b.shape)
    noisy_b[:60] = rng.uniform(0, 600, (60, 2))  # 30 % outliers
    errors = [
        metrics.relative_pose_error_deg(pts_a, noisy_b, K_a, K_b, T_ab, seed=seed)
        for seed in (0, 0, 1)
    ]
    assert errors[0] == errors[1]  # a fixed seed repeats exactly
    assert max(errors) < 2.0
    assert metrics.relative_pose_error_deg(pts_a[:4], pts_b[:4], K_a, K_b, T_ab) == math.inf


def test_threshold_focal_lengths():
    K_a = np.array([[500.0, 0.0, 320.0], [0.0, 520.0, 240.0], [0.0, 0.0, 1.0]])
    K_b = np.array([[400.0, 0.0, 300.0], [0.0, 420.0, 250.0], [0.0, 0.0, 1.0]])
    assert metrics.focal_px(K_a, K_b) == metrics.focal_px(K_a, K_b, "fx") == 450.0
    assert metrics.focal_px(K_a, K_b, "fxfy") == 460.0  # RoMa: mean of |K[:2, :2]|, summed
    with pytest.raises(ValueError, match="focal must be one of fx, fxfy"):
        metrics.focal_px(K_a, K_b, "fy")
    # the README's protocol stays on fx; RoMa's datasets use fx and fy
    assert SUPERGLUE_PROTOCOL.focal == "fx"
    assert MEGADEPTH_PROTOCOL.focal == SCANNET_PROTOCOL.focal == "fxfy"


def test_score_pose_normalises_the_threshold_at_the_evaluation_scale(monkeypatch):
    """RoMa: 0.5 px over the mean fx and fy of both images' K rescaled to 1200 px."""
    pts_a, pts_b, K_a, K_b, T_ab = two_view_points(50)
    thresholds = []
    original = metrics.cv2.findEssentialMat

    def spy(*args, **kwargs):
        thresholds.append(kwargs["threshold"])
        return original(*args, **kwargs)

    monkeypatch.setattr(metrics.cv2, "findEssentialMat", spy)
    pair = Pair(None, None, "a", "b", K_a=K_a, K_b=K_b, T_ab=T_ab)
    sizes = ((480, 640), (600, 800))
    score = score_pose(pair, np.hstack([pts_a, pts_b]), sizes, MEGADEPTH_PROTOCOL)
    assert len(thresholds) == 5 and max(score.run_errors) < 0.01
    focal = np.mean([500 * 1200 / 640, 510 * 1200 / 640, 450 * 1200 / 800, 450 * 1200 / 800])
    assert thresholds == pytest.approx([0.5 / focal] * 5)
    thresholds.clear()
    score_pose(pair, np.hstack([pts_a, pts_b]), sizes, SUPERGLUE_PROTOCOL)
    assert thresholds == pytest.approx([1.0 / 475.0])


def test_rescaled_views_keep_normalised_coordinates():
    """RoMa's protocol rescales matches and K together: the rays must not change."""
    pts_a, _, K_a, _, _ = two_view_points(20)
    scaled, K_scaled = rescale_view(pts_a, K_a, (480, 640), ("longer", 1200))
    assert K_scaled[0, 0] == pytest.approx(500.0 * 1200 / 640)
    assert np.allclose(
        metrics.normalise_points(scaled, K_scaled), metrics.normalise_points(pts_a, K_a)
    )
    _, K_short = rescale_view(pts_a, K_a, (480, 640), ("shorter", 240))
    assert K_short[1, 1] == pytest.approx(255.0)


def test_rescaling_colmap_intrinsics_matches_romas_normalisation():
    """RoMa scales MegaDepth's COLMAP K and its corner-origin matches by s alone; our K (COLMAP's
    moved by half a pixel) and pixel-centred matches, rescaled, give the same rays."""
    pts_a, _, K_a, _, _ = two_view_points(20)  # OpenCV's convention
    K_colmap = K_a.copy()
    K_colmap[:2, 2] += 0.5
    corner_origin = pts_a + 0.5
    scale = 1200 / 640
    romas = metrics.normalise_points(corner_origin * scale, np.diag([scale, scale, 1.0]) @ K_colmap)
    ours = metrics.normalise_points(*rescale_view(pts_a, K_a, (480, 640), ("longer", 1200)))
    assert np.allclose(ours, romas)


def test_corner_error_by_hand():
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]])
    assert metrics.corner_error_px(shift, np.eye(3), (11, 21)) == pytest.approx(5.0)
    # doubling: corners (0,0) (20,0) (20,10) (0,10) move by 0, 20, sqrt(500), 10
    double = np.diag([2.0, 2.0, 1.0])
    expected = (0 + 20 + math.sqrt(500) + 10) / 4
    assert metrics.corner_error_px(double, np.eye(3), (11, 21)) == pytest.approx(expected)
    assert metrics.corner_error_px(None, np.eye(3), (11, 21)) == math.inf


def test_homography_estimate_and_match_errors():
    rng = np.random.default_rng(2)
    H = np.array([[1.1, 0.05, 8.0], [-0.04, 0.95, -5.0], [1e-4, -2e-4, 1.0]])
    pts_a = rng.uniform(0, 300, (100, 2))
    pts_b = metrics.project(H, pts_a)
    pts_b[:20] += rng.uniform(20, 50, (20, 2))  # outliers
    estimate = metrics.estimate_homography(pts_a, pts_b)
    assert metrics.corner_error_px(estimate, H, (240, 320)) < 0.01
    assert metrics.estimate_homography(pts_a[:3], pts_b[:3]) is None
    matches = np.array([[0.0, 0.0, 1.0, 0.0], [5.0, 5.0, 6.0, 8.0]])
    shift = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert metrics.homography_match_errors(shift, matches) == pytest.approx([0.0, 3.0])


def test_dense_flow_errors_by_hand():
    height, width = 4, 5
    flow = np.tile(np.array([1.0, 2.0], np.float32), (height, width, 1))
    flow[3, 4] = np.nan  # unknown
    ys, xs = np.mgrid[0:height, 0:width]
    warp = (np.stack([xs, ys], axis=-1) + flow).astype(np.float32)
    warp[3, 4] = [0.0, 0.0]  # predicted where the truth is unknown: not counted
    warp[0, 0] += [3.0, 4.0]  # off by 5 px
    warp[1, 1] = np.nan  # no prediction where the truth is known: an infinite error
    errors = metrics.dense_flow_errors(warp, flow)
    assert len(errors) == 19 and np.isinf(errors).sum() == 1
    assert errors[np.isfinite(errors)].mean() == pytest.approx(5 / 18)
    # PCK counts every pixel with a known truth: the unpredicted one is not correct
    assert metrics.fraction_below(errors, [1, 6]) == pytest.approx([17 / 19, 18 / 19])


def test_sparse_flow_errors_interpolate_the_truth():
    height, width = 6, 8
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.stack([xs, 2 * ys], axis=-1)  # linear: bilinear sampling is exact
    flow[5, 0] = np.nan
    sampled = metrics.sample_flow(flow, [[1.5, 2.25], [7.0, 0.0], [-0.5, 1.0], [0.5, 4.5]])
    assert sampled[0] == pytest.approx([1.5, 4.5])
    assert sampled[1] == pytest.approx([7.0, 0.0])  # on the last column
    assert np.isnan(sampled[2:]).all()  # outside; next to an unknown pixel
    matches = np.array([[1.5, 2.25, 3.0, 6.75], [2.0, 2.0, 7.0, 6.0], [0.5, 4.5, 0.0, 0.0]])
    assert metrics.sparse_flow_errors(matches, flow) == pytest.approx([0.0, 3.0])
