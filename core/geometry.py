"""Two-view geometry: poses, essential and fundamental matrices, epipolar lines and distances.

The one home of the geometry that the benchmarks (:mod:`core.bench.metrics`,
:mod:`core.bench.truth`, :mod:`core.bench.datasets`), sequences and visual odometry share; no
Qt. Conventions:

* pixels in OpenCV's convention (the centre of the top-left pixel is (0, 0));
* a relative pose ``T_ab`` is a (4, 4) rigid transform taking camera-A coordinates to camera-B
  coordinates (``x_b = R x_a + t``); a camera-to-world pose ``T_wc`` takes camera coordinates to
  world coordinates (KITTI's ``poses.txt``, TUM's and EuRoC's ground truth);
* a fundamental matrix ``F`` satisfies ``[xB, yB, 1] F [xA, yA, 1]^T = 0``;
* lines are ``(a, b, c)`` with ``a x + b y + c = 0``, scaled so that ``a^2 + b^2 = 1`` (a point's
  product with a line is its distance in px);
* angles are in degrees.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

ESSENTIAL = "essential"
FUNDAMENTAL = "fundamental"
TWO_VIEW_SEED = 0
"""The seed of OpenCV's RNG (``cv2.setRNGSeed``) before every :func:`two_view_inliers`."""
TWO_VIEW_MAX_ITERS = 10000
"""MAGSAC++'s iteration cap in :func:`two_view_inliers` (OpenCV's defaults: 1000 for E, 1000 for
F with USAC; too few for hard pairs, see :data:`core.bench.metrics.HOMOGRAPHY_MAX_ITERS`)."""
TWO_VIEW_CONFIDENCE = 0.999
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
"""When undistorting stops: OpenCV's default of 5 iterations leaves up to 0.1 px near the edges
of a strongly distorted image (k1 = -0.2)."""
MIN_POINTS = {ESSENTIAL: 5, FUNDAMENTAL: 8}
"""The fewest matches each model is estimated from (fewer: no inliers)."""


# ---------------------------------------------------------------------------------------------
# Poses


def pose_matrix(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(4, 4) rigid transform of a (3, 3) rotation and a (3,) translation."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.ravel(t)
    return T


def relative_pose(T_wa: np.ndarray, T_wb: np.ndarray) -> np.ndarray:
    """(4, 4) ``T_ab = T_wb^-1 T_wa``: camera-A coordinates -> camera-B coordinates, from two
    (4, 4) camera-to-world poses."""
    return np.linalg.inv(T_wb) @ T_wa


def rotation_error_deg(R_est: np.ndarray, R_gt: np.ndarray) -> float:
    """Angle (degrees) of the rotation ``R_est^T R_gt`` between two (3, 3) rotations."""
    cos = (np.trace(np.asarray(R_est).T @ np.asarray(R_gt)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def translation_error_deg(t_est: np.ndarray, t_gt: np.ndarray) -> float:
    """Angle (degrees, in [0, 90]) between two translation directions, sign ignored; 0 when
    the true translation is zero (no direction to get wrong)."""
    t_est, t_gt = np.ravel(t_est).astype(np.float64), np.ravel(t_gt).astype(np.float64)
    norm = np.linalg.norm(t_est) * np.linalg.norm(t_gt)
    if norm < 1e-12:
        return 0.0
    angle = float(np.degrees(np.arccos(np.clip(t_est @ t_gt / norm, -1.0, 1.0))))
    return min(angle, 180.0 - angle)


def pose_error_deg(R_est: np.ndarray, t_est: np.ndarray, T_gt: np.ndarray) -> float:
    """``max(rotation error, translation error)`` in degrees against a (4, 4) ``T_gt`` that
    maps camera-A coordinates to camera-B coordinates (the benchmarks' relative-pose error)."""
    T_gt = np.asarray(T_gt, np.float64)
    return max(rotation_error_deg(R_est, T_gt[:3, :3]), translation_error_deg(t_est, T_gt[:3, 3]))


# ---------------------------------------------------------------------------------------------
# Points and lines


def normalise_points(
    points: np.ndarray, K: np.ndarray, distortion: np.ndarray | None = None
) -> np.ndarray:
    """(N, 2) pixels -> (N, 2) normalised camera coordinates: ``cv2.undistortPoints`` with the
    (3, 3) ``K`` (the benchmarks' protocol); with OpenCV's ``distortion`` coefficients,
    iterated to convergence (:data:`UNDISTORT_CRITERIA`)."""
    points = np.ascontiguousarray(points, np.float64).reshape(-1, 1, 2)
    if len(points) == 0:
        return np.zeros((0, 2))
    K = np.ascontiguousarray(K, np.float64)
    if distortion is None:
        return cv2.undistortPoints(points, K, None).reshape(-1, 2)
    distortion = np.ascontiguousarray(distortion, np.float64).ravel()
    identity = np.eye(3)
    normalised = cv2.undistortPoints(
        points, K, distortion, R=identity, P=identity, criteria=UNDISTORT_CRITERIA
    )
    return normalised.reshape(-1, 2)


def undistort_pixels(points: np.ndarray, K: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    """(N, 2) pixels -> (N, 2) pixels of the same (3, 3) ``K`` without OpenCV's
    ``distortion``."""
    pixels = homogeneous(normalise_points(points, K, distortion)) @ np.asarray(K, np.float64).T
    return pixels[:, :2] / pixels[:, 2:]


def project(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) pixels mapped by the (3, 3) homography ``H``."""
    points = np.ascontiguousarray(points, np.float64).reshape(-1, 1, 2)
    if len(points) == 0:
        return np.zeros((0, 2))
    return cv2.perspectiveTransform(points, np.asarray(H, np.float64)).reshape(-1, 2)


def homogeneous(points: np.ndarray) -> np.ndarray:
    """(N, 2) points -> (N, 3) ``[x, y, 1]``."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    return np.column_stack([points, np.ones(len(points))])


def unit_lines(lines: np.ndarray) -> np.ndarray:
    """Scale (N, 3) lines so that ``a^2 + b^2 = 1`` (point-line products become distances)."""
    norm = np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return lines / norm


def skew(t: np.ndarray) -> np.ndarray:
    """(3, 3) ``[t]x`` of a (3,) vector: ``skew(t) @ v == cross(t, v)``."""
    t = np.ravel(t)
    return np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])


# ---------------------------------------------------------------------------------------------
# Epipolar geometry


def essential_matrix(T_ab: np.ndarray) -> np.ndarray:
    """(3, 3) ``E = [t]x R`` of a (4, 4) ``T_ab``: ``[n_b, 1] E [n_a, 1]^T = 0`` for normalised
    coordinates."""
    return skew(T_ab[:3, 3]) @ T_ab[:3, :3]


def fundamental_matrix(K_a: np.ndarray, K_b: np.ndarray, T_ab: np.ndarray) -> np.ndarray:
    """(3, 3) fundamental matrix ``K_B^-T [t]x R K_A^-1`` of two cameras with (3, 3) intrinsics
    and the (4, 4) pose taking camera-A coordinates to camera-B coordinates; unit Frobenius
    norm."""
    R, t = T_ab[:3, :3], T_ab[:3, 3]
    F = np.linalg.inv(K_b).T @ skew(t) @ R @ np.linalg.inv(K_a)
    return F / np.linalg.norm(F)


def epipolar_lines(F: np.ndarray, points_a: np.ndarray) -> np.ndarray:
    """(N, 3) unit lines in B on which the matches of (N, 2) A pixels lie (``F x_a``). The lines
    in A of B pixels are ``epipolar_lines(F.T, points_b)``."""
    return unit_lines(homogeneous(points_a) @ np.asarray(F).T)


def symmetric_epipolar_distance(
    F: np.ndarray, points_a: np.ndarray, points_b: np.ndarray
) -> np.ndarray:
    """(N,) px: the mean of the distance in B of each B point from the epipolar line of its A
    point and the distance in A of the A point from the epipolar line of the B point."""
    lines_b = epipolar_lines(F, points_a)
    lines_a = epipolar_lines(np.asarray(F).T, points_b)
    distance_b = np.abs(np.sum(lines_b * homogeneous(points_b), axis=1))
    distance_a = np.abs(np.sum(lines_a * homogeneous(points_a), axis=1))
    return 0.5 * (distance_a + distance_b)


def sampson_distance(F: np.ndarray, points_a: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """(N,) px: the Sampson distance, the first-order geometric distance of each match
    ``(x_a, x_b)`` from ``x_b^T F x_a = 0`` (the square root of the Sampson error that OpenCV's
    RANSACs threshold; what MAGSAC++'s fundamental inliers are measured in)."""
    F = np.asarray(F, np.float64)
    a, b = homogeneous(points_a), homogeneous(points_b)
    Fa, Ftb = a @ F.T, b @ F
    algebraic = np.sum(b * Fa, axis=1)
    gradient = Fa[:, 0] ** 2 + Fa[:, 1] ** 2 + Ftb[:, 0] ** 2 + Ftb[:, 1] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(algebraic) / np.sqrt(gradient)


# ---------------------------------------------------------------------------------------------
# Estimation


def find_essential(
    points_a: np.ndarray,
    points_b: np.ndarray,
    K: np.ndarray,
    threshold: float,
    method: int = cv2.RANSAC,
    prob: float = 0.999,
    seed: int = 0,
    max_iters: int = 1000,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(E (3 k, 3), inliers (N,) bool)``: the k essential matrices that OpenCV finds from
    (N, 2) matched points of one camera with (3, 3) intrinsics ``K``, stacked, and the robust
    estimator's inlier mask; None when there are fewer than 5 matches or none is found.

    The benchmarks pass normalised coordinates (:func:`normalise_points`), the identity ``K``
    and ``threshold`` in px over the focal; :func:`two_view_inliers` passes pixels, ``K`` and
    ``threshold`` in px (OpenCV's USAC scales it by the focal). ``method``: ``cv2.RANSAC`` (the
    benchmarks' protocol) or ``cv2.USAC_MAGSAC``; OpenCV's RNG is seeded with ``seed`` first.
    """
    if len(points_a) < MIN_POINTS[ESSENTIAL]:
        return None
    cv2.setRNGSeed(seed)
    E, mask = cv2.findEssentialMat(
        points_a, points_b, K, method=method, prob=prob, threshold=threshold, maxIters=max_iters
    )
    if E is None or mask is None or E.shape[0] < 3:
        return None
    return E, mask.ravel().astype(bool)


def recover_pose(
    E: np.ndarray,
    points_a: np.ndarray,
    points_b: np.ndarray,
    inliers: np.ndarray,
    K: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(R (3, 3), t (3,) unit)`` from camera A to camera B: ``cv2.recoverPose`` on each of the
    stacked essential matrices ``E`` (3 k, 3) with the matches' ``inliers`` mask, keeping the one
    with the most inliers in front of both cameras; None when no point passes that check.
    ``points_a``, ``points_b`` and ``K`` as for :func:`find_essential` (``K`` None: the
    identity, for normalised coordinates)."""
    K = np.eye(3) if K is None else np.asarray(K, np.float64)
    mask = inliers.astype(np.uint8).reshape(-1, 1)
    best, best_inliers = None, 0
    for candidate in np.split(E, E.shape[0] // 3):
        count, R, t, _ = cv2.recoverPose(
            np.ascontiguousarray(candidate), points_a, points_b, K, mask=mask.copy()
        )
        if count > best_inliers:
            best, best_inliers = (R, t.ravel()), count
    return best


class TwoViewInliers(NamedTuple):
    """What :func:`two_view_inliers` found.

    model: ``"essential"`` (with intrinsics) or ``"fundamental"`` (without).
    inliers: (N,) bool mask of the matches that fit the model (all False when none was found).
    pose: ``(R (3, 3), t (3,) unit)`` from camera A to camera B for the essential model, else
    None (also when no pose passes the chirality check).
    """

    model: str
    inliers: np.ndarray
    pose: tuple[np.ndarray, np.ndarray] | None


def two_view_inliers(
    points_a: np.ndarray,
    points_b: np.ndarray,
    K: np.ndarray | None = None,
    threshold_px: float = 1.0,
    distortion: np.ndarray | None = None,
) -> TwoViewInliers:
    """The inliers of (N, 2) matched pixels under MAGSAC++ (``cv2.USAC_MAGSAC``), and the pose.

    With the (3, 3) intrinsics ``K`` of the camera that took both frames (and its OpenCV
    ``distortion`` coefficients, if any: the points are undistorted first): an essential matrix
    from the pixels and ``K``, threshold ``threshold_px`` in px, then ``cv2.recoverPose``
    (MAGSAC++ on normalised coordinates with the identity ``K``, as the benchmarks' RANSAC runs,
    does worse: 2 degrees of translation error on a KITTI-like forward motion against 0.07).
    Without ``K``: a fundamental matrix on the pixels, threshold ``threshold_px``.
    Deterministic: OpenCV's RNG is seeded with :data:`TWO_VIEW_SEED`, at most
    :data:`TWO_VIEW_MAX_ITERS` iterations, confidence :data:`TWO_VIEW_CONFIDENCE`. Fewer
    matches than :data:`MIN_POINTS` give no inliers.
    """
    points_a = np.ascontiguousarray(points_a, np.float64).reshape(-1, 2)
    points_b = np.ascontiguousarray(points_b, np.float64).reshape(-1, 2)
    model = FUNDAMENTAL if K is None else ESSENTIAL
    none = TwoViewInliers(model, np.zeros(len(points_a), bool), None)
    if len(points_a) < MIN_POINTS[model]:
        return none
    if model == ESSENTIAL:
        K = np.asarray(K, np.float64)
        if distortion is not None:  # undistorted pixels of the same K
            points_a = undistort_pixels(points_a, K, distortion)
            points_b = undistort_pixels(points_b, K, distortion)
        found = find_essential(
            points_a,
            points_b,
            K,
            threshold_px,
            cv2.USAC_MAGSAC,
            TWO_VIEW_CONFIDENCE,
            TWO_VIEW_SEED,
            TWO_VIEW_MAX_ITERS,
        )
        if found is None:
            return none
        E, inliers = found
        return TwoViewInliers(model, inliers, recover_pose(E, points_a, points_b, inliers, K))
    cv2.setRNGSeed(TWO_VIEW_SEED)
    F, mask = cv2.findFundamentalMat(
        points_a,
        points_b,
        cv2.USAC_MAGSAC,
        threshold_px,
        TWO_VIEW_CONFIDENCE,
        TWO_VIEW_MAX_ITERS,
    )
    if F is None or mask is None:
        return none
    return TwoViewInliers(model, mask.ravel().astype(bool), None)
