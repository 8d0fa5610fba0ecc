"""`core.geometry` on synthetic correspondences of known poses: recovery, inliers, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import geometry

K = np.array([[700.0, 0.0, 620.0], [0.0, 710.0, 188.0], [0.0, 0.0, 1.0]])


def rotation(axis_angle_deg) -> np.ndarray:
    return cv2.Rodrigues(np.radians(np.asarray(axis_angle_deg, np.float64)))[0]


def views(count: int = 300, outliers: int = 0, noise_px: float = 0.0, seed: int = 0):
    """(points_a, points_b, T_ab, outlier indices) of random points in front of a camera moving
    forward and turning a little (a KITTI-like step)."""
    rng = np.random.default_rng(seed)
    T_ab = geometry.pose_matrix(rotation([1.0, -5.0, 0.5]), [0.1, 0.02, -1.0])
    X = rng.uniform([-10, -3, 8], [10, 3, 40], (count, 3))
    X_b = X @ T_ab[:3, :3].T + T_ab[:3, 3]
    points_a = (X @ K.T)[:, :2] / X[:, 2:]
    points_b = (X_b @ K.T)[:, :2] / X_b[:, 2:] + rng.normal(0.0, noise_px, (count, 2))
    wrong = rng.choice(count, outliers, replace=False)  # moved 20 to 80 px across their lines
    across = geometry.epipolar_lines(geometry.fundamental_matrix(K, K, T_ab), points_a[wrong])
    shift = rng.uniform(20, 80, outliers) * rng.choice([-1, 1], outliers)
    points_b[wrong] += shift[:, None] * across[:, :2]
    return points_a, points_b, T_ab, wrong


def test_the_essential_path_recovers_the_pose_exactly():
    points_a, points_b, T_ab, _ = views()
    model, inliers, pose = geometry.two_view_inliers(points_a, points_b, K)
    assert model == "essential" and inliers.all()
    R, t = pose
    assert geometry.rotation_error_deg(R, T_ab[:3, :3]) < 0.01
    assert geometry.translation_error_deg(t, T_ab[:3, 3]) < 0.05
    assert np.linalg.norm(t) == pytest.approx(1.0)
    assert t @ T_ab[:3, 3] > 0  # recoverPose's chirality picks the true sign


def test_the_inlier_count_leaves_out_every_outlier_and_repeats():
    points_a, points_b, T_ab, wrong = views(outliers=60, noise_px=0.2)
    first = geometry.two_view_inliers(points_a, points_b, K)
    assert first.inliers.sum() == 240 and not first.inliers[wrong].any()
    assert geometry.pose_error_deg(*first.pose, T_ab) < 0.5
    cv2.setRNGSeed(123)  # whatever ran before, the same inputs give the same answer
    again = geometry.two_view_inliers(points_a, points_b, K)
    np.testing.assert_array_equal(again.inliers, first.inliers)
    np.testing.assert_array_equal(again.pose[0], first.pose[0])


def test_without_intrinsics_the_fundamental_matrix_finds_the_inliers():
    points_a, points_b, _, wrong = views(outliers=60, noise_px=0.2)
    model, inliers, pose = geometry.two_view_inliers(points_a, points_b)
    assert model == "fundamental" and pose is None
    assert inliers.sum() == 240 and not inliers[wrong].any()
    few = geometry.two_view_inliers(points_a[:7], points_b[:7])
    assert few.model == "fundamental" and not few.inliers.any() and few.inliers.shape == (7,)
    assert not geometry.two_view_inliers(points_a[:4], points_b[:4], K).inliers.any()


def test_distorted_pixels_are_undistorted_before_the_essential_matrix():
    points_a, points_b, T_ab, _ = views()
    distortion = np.array([-0.2, 0.05, 0.0, 0.0])
    rays = [
        np.column_stack([geometry.normalise_points(p, K), np.ones(len(p))])
        for p in (points_a, points_b)
    ]
    distorted = [
        cv2.projectPoints(r, np.zeros(3), np.zeros(3), K, distortion)[0].reshape(-1, 2)
        for r in rays
    ]
    np.testing.assert_allclose(
        geometry.undistort_pixels(distorted[0], K, distortion), points_a, atol=1e-3
    )
    _, inliers, pose = geometry.two_view_inliers(*distorted, K, distortion=distortion)
    assert inliers.all() and geometry.pose_error_deg(*pose, T_ab) < 0.05
    _, _, ignored = geometry.two_view_inliers(*distorted, K)
    assert geometry.pose_error_deg(*ignored, T_ab) > geometry.pose_error_deg(*pose, T_ab)


def test_angular_errors_of_known_rotations_and_translations():
    assert geometry.rotation_error_deg(rotation([0, 0, 10]), np.eye(3)) == pytest.approx(10.0)
    assert geometry.rotation_error_deg(rotation([3, 4, 0]), rotation([0, 0, 0])) == pytest.approx(
        5.0
    )
    x = np.array([1.0, 0.0, 0.0])
    assert geometry.translation_error_deg(x, rotation([0, 0, 30]) @ x) == pytest.approx(30.0)
    assert geometry.translation_error_deg(-x, rotation([0, 0, 30]) @ x) == pytest.approx(30.0)
    T_gt = geometry.pose_matrix(np.eye(3), rotation([0, 0, 4]) @ x)
    assert geometry.pose_error_deg(rotation([0, 0, 3]), x, T_gt) == pytest.approx(4.0)


def test_the_relative_pose_of_two_camera_to_world_poses_composes():
    T_wa = geometry.pose_matrix(rotation([0, 20, 0]), [1.0, 2.0, 3.0])
    T_ab = geometry.pose_matrix(rotation([5, -3, 1]), [0.3, -0.1, -1.2])
    T_wb = T_wa @ np.linalg.inv(T_ab)
    np.testing.assert_allclose(geometry.relative_pose(T_wa, T_wb), T_ab, atol=1e-12)
    np.testing.assert_allclose(geometry.relative_pose(T_wa, T_wa), np.eye(4), atol=1e-12)
    T_wc = geometry.pose_matrix(rotation([-2, 7, 0]), [0.5, 0.0, 4.0])
    composed = geometry.relative_pose(T_wb, T_wc) @ geometry.relative_pose(T_wa, T_wb)
    np.testing.assert_allclose(composed, geometry.relative_pose(T_wa, T_wc), atol=1e-12)
    point_a = np.array([0.4, -0.2, 6.0, 1.0])  # the same world point, seen from A and from B
    world = T_wa @ point_a
    np.testing.assert_allclose(np.linalg.inv(T_wb) @ world, T_ab @ point_a, atol=1e-12)


def test_epipolar_lines_and_distances_of_the_true_fundamental_matrix():
    points_a, points_b, T_ab, _ = views(count=50)
    F = geometry.fundamental_matrix(K, K, T_ab)
    assert np.linalg.norm(F) == pytest.approx(1.0)
    lines = geometry.epipolar_lines(F, points_a)
    np.testing.assert_allclose(np.hypot(lines[:, 0], lines[:, 1]), 1.0)
    assert geometry.symmetric_epipolar_distance(F, points_a, points_b).max() < 1e-6
    assert geometry.sampson_distance(F, points_a, points_b).max() < 1e-6
    off = points_b + 2.0 * lines[:, :2]  # 2 px across the line in B
    np.testing.assert_allclose(np.abs(np.sum(lines * geometry.homogeneous(off), axis=1)), 2.0)
    sampson = geometry.sampson_distance(F, points_a, off)
    symmetric = geometry.symmetric_epipolar_distance(F, points_a, off)
    assert np.all((sampson > 0.5) & (sampson <= 2.0 + 1e-9)) and np.all(symmetric > 1.0)
    E = geometry.essential_matrix(T_ab)
    n_a, n_b = geometry.normalise_points(points_a, K), geometry.normalise_points(points_b, K)
    residual = np.sum(geometry.homogeneous(n_b) * (geometry.homogeneous(n_a) @ E.T), axis=1)
    assert np.abs(residual).max() < 1e-9
    np.testing.assert_allclose(
        geometry.skew([1.0, 2.0, 3.0]) @ [4.0, 5.0, 6.0], np.cross([1, 2, 3], [4, 5, 6])
    )


def test_the_benchmark_modules_use_this_geometry():
    """One home: the benchmarks' names are core.geometry's functions, not copies."""
    from core.bench import datasets, metrics, truth

    assert metrics.pose_error_deg is geometry.pose_error_deg
    assert metrics.rotation_error_deg is geometry.rotation_error_deg
    assert metrics.normalise_points is geometry.normalise_points
    assert truth.fundamental_matrix is geometry.fundamental_matrix
    assert datasets.relative_pose is geometry.relative_pose
