"""Accuracy metrics of the published protocols: relative pose, homography, optical flow.

Units: angles in degrees, image positions in pixels of the original images (OpenCV's
convention: the centre of the top-left pixel is (0, 0)). AUC and PCK values are fractions in
[0, 1]. A failed estimate is an infinite error, so it counts in every AUC as a miss.

* **Relative pose** (SuperGlue, LoFTR, RoMa): matched points are normalised with
  ``cv2.undistortPoints(points, K, None)``; ``cv2.findEssentialMat(n_a, n_b, I, method=RANSAC,
  prob=prob, threshold=threshold_px / f)`` with ``f = mean(fx_a, fx_b)`` (``focal="fx"``:
  SuperGlue's and ``../shared/data/README.md``'s protocol) or ``f = mean(fx_a, fy_a, fx_b,
  fy_b)`` (``focal="fxfy"``: RoMa's MegaDepth-1500 and ScanNet-1500 scripts);
  ``cv2.recoverPose`` on each essential matrix it returns, keeping the one with the most
  inliers that pass the chirality check. The error is ``max(rotation angle of R_est^T R_gt,
  angle between t_est and t_gt)`` with the sign of ``t`` ignored (the translation angle folded
  to [0, 90]). AUC@5/10/20 is SuperGlue's ``pose_auc``: the area under the recall-against-error
  curve up to each threshold (trapezoid), divided by the threshold. Each estimate seeds
  OpenCV's RNG (``cv2.setRNGSeed(seed)``) first; OpenCV 5's RANSAC is deterministic anyway, so
  the same inputs give the same numbers (to vary RANSAC between runs, :mod:`core.bench.pairs`
  reorders the matches). The geometry itself (normalising, the essential matrix and
  ``recoverPose``, the angular errors) lives in :mod:`core.geometry`, shared with sequences
  and VO; this module holds the protocols' choices.
* **Homography** (HPatches): ``cv2.findHomography(a, b, method=cv2.USAC_MAGSAC,
  ransacReprojThreshold=3.0, maxIters=10000)`` on the matches (OpenCV's default of 2000
  iterations can stop before MAGSAC++ finds a hard pair's model: on graf 1-6 with xfeat-star's
  302 matches 2000 give 17.8 px, 10000 give 9.35 px); the mean corner error is the mean
  distance of the 4 corner pixel centres of image A, ``(0, 0), (W-1, 0), (W-1, H-1),
  (0, H-1)``, mapped by the estimated and by the true homography; AUC@3/5/10 px over the
  pairs (``pose_auc`` on corner errors); PCK@1/3/5 px is the fraction of a pair's matches
  whose B position lies within that distance of where the true homography maps their A
  position.
* **Optical flow**: the end-point error (EPE, px) between the predicted and the true position
  in B of a pixel of A (``true = pixel + flow``). Dense results (a ``warp_ab``) are scored over
  every pixel whose ground truth is known: the EPE is the mean over the pixels the warp predicts
  (not NaN), PCK@1/3/5 px the fraction of *all* those pixels whose error is below each
  threshold (a pixel without a prediction is not correct), and the coverage the fraction of
  them that is predicted; so leaving pixels out lowers the PCK, and the coverage says how many
  the EPE is over. Sparse results are scored over their matches (the ground truth interpolated
  bilinearly at their A positions): EPE and PCK over the matches whose truth is known.
"""

from __future__ import annotations

import cv2
import numpy as np

from core import geometry
from core.geometry import normalise_points, pose_error_deg, project
from core.geometry import rotation_error_deg as rotation_error_deg  # the protocol's parts,
from core.geometry import translation_error_deg as translation_error_deg  # named here too

POSE_THRESHOLDS_DEG = (5, 10, 20)
FOCALS = ("fx", "fxfy")
"""How a RANSAC threshold in pixels is normalised: by the mean ``fx`` of the two images, or
the mean of their ``fx`` and ``fy``."""
HOMOGRAPHY_THRESHOLDS_PX = (3, 5, 10)
PCK_THRESHOLDS_PX = (1, 3, 5)
HOMOGRAPHY_RANSAC_PX = 3.0
HOMOGRAPHY_MAX_ITERS = 10000


# ---------------------------------------------------------------------------------------------
# Curves


def pose_auc(errors, thresholds) -> list[float]:
    """SuperGlue's AUC: for each threshold, the area under the recall curve of ``errors`` (any
    unit, ``inf`` = failed) from 0 to the threshold, by the trapezoid rule, over the threshold.
    An empty list gives 0 for every threshold."""
    errors = np.sort(np.asarray(errors, np.float64).ravel())
    if errors.size == 0:
        return [0.0 for _ in thresholds]
    recall = np.arange(1, errors.size + 1) / errors.size
    errors = np.r_[0.0, errors]
    recall = np.r_[0.0, recall]
    aucs = []
    for threshold in thresholds:
        last = int(np.searchsorted(errors, threshold))
        x = np.r_[errors[:last], threshold]
        y = np.r_[recall[:last], recall[last - 1]]
        area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
        aucs.append(area / threshold)
    return aucs


def fraction_below(errors, thresholds, count: int | None = None) -> list[float]:
    """For each threshold, the fraction of ``errors`` strictly below it. ``count`` is the
    denominator (default ``len(errors)``); with nothing to count the fractions are 0."""
    errors = np.asarray(errors, np.float64).ravel()
    total = errors.size if count is None else count
    if total == 0:
        return [0.0 for _ in thresholds]
    return [float(np.count_nonzero(errors < t) / total) for t in thresholds]


# ---------------------------------------------------------------------------------------------
# Relative pose


def focal_px(K_a: np.ndarray, K_b: np.ndarray, focal: str = "fx") -> float:
    """The focal length (px) that a RANSAC threshold in pixels is divided by: the mean ``fx``
    of both cameras (``"fx"``) or the mean of their ``fx`` and ``fy`` (``"fxfy"``)."""
    if focal == "fx":
        return float(np.mean([K_a[0, 0], K_b[0, 0]]))
    if focal == "fxfy":
        return float(np.mean([K_a[0, 0], K_a[1, 1], K_b[0, 0], K_b[1, 1]]))
    raise ValueError(f"focal must be one of {', '.join(FOCALS)}, not {focal!r}")


def estimate_relative_pose(
    pts_a: np.ndarray,
    pts_b: np.ndarray,
    K_a: np.ndarray,
    K_b: np.ndarray,
    threshold_px: float = 1.0,
    prob: float = 0.999,
    seed: int = 0,
    focal: str = "fx",
) -> tuple[np.ndarray, np.ndarray] | None:
    """(R (3, 3), t (3,)) from camera A to camera B, or None when it cannot be estimated.

    ``pts_a``, ``pts_b``: (N, 2) matched pixels; ``K_a``, ``K_b``: (3, 3) intrinsics;
    ``threshold_px``: RANSAC threshold in pixels, divided by :func:`focal_px` (``focal``).
    """
    n_a, n_b = normalise_points(pts_a, K_a), normalise_points(pts_b, K_b)
    threshold = threshold_px / focal_px(K_a, K_b, focal)
    found = geometry.find_essential(n_a, n_b, np.eye(3), threshold, cv2.RANSAC, prob, seed)
    if found is None:
        return None
    E, inliers = found
    return geometry.recover_pose(E, n_a, n_b, inliers)


def relative_pose_error_deg(
    pts_a: np.ndarray,
    pts_b: np.ndarray,
    K_a: np.ndarray,
    K_b: np.ndarray,
    T_ab: np.ndarray,
    threshold_px: float = 1.0,
    prob: float = 0.999,
    seed: int = 0,
    focal: str = "fx",
) -> float:
    """The pose error (degrees) of one RANSAC run; ``inf`` when no pose is found."""
    pose = estimate_relative_pose(pts_a, pts_b, K_a, K_b, threshold_px, prob, seed, focal)
    return float("inf") if pose is None else pose_error_deg(*pose, T_ab)


# ---------------------------------------------------------------------------------------------
# Homography


def estimate_homography(
    pts_a: np.ndarray, pts_b: np.ndarray, threshold_px: float = HOMOGRAPHY_RANSAC_PX, seed: int = 0
) -> np.ndarray | None:
    """(3, 3) homography A -> B by MAGSAC++ from (N, 2) matched pixels; None if it fails."""
    if len(pts_a) < 4:
        return None
    cv2.setRNGSeed(seed)
    H, _ = cv2.findHomography(
        np.ascontiguousarray(pts_a, np.float64),
        np.ascontiguousarray(pts_b, np.float64),
        method=cv2.USAC_MAGSAC,
        ransacReprojThreshold=threshold_px,
        maxIters=HOMOGRAPHY_MAX_ITERS,
    )
    if H is None or not np.all(np.isfinite(H)):
        return None
    return H


def image_corners(size_hw: tuple[int, int]) -> np.ndarray:
    """(4, 2) corner pixel centres of an image of (H, W): top-left, clockwise."""
    height, width = size_hw
    return np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)


def corner_error_px(H_est: np.ndarray | None, H_gt: np.ndarray, size_hw: tuple[int, int]) -> float:
    """Mean distance (px in B) of A's 4 corners mapped by ``H_est`` and by ``H_gt``; ``inf``
    when there is no estimate."""
    if H_est is None:
        return float("inf")
    corners = image_corners(size_hw)
    distances = np.linalg.norm(project(H_est, corners) - project(H_gt, corners), axis=1)
    return float(distances.mean())


def homography_match_errors(H_gt: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """(N,) distance (px in B) of each match ``[xA, yA, xB, yB]`` to ``H_gt``'s mapping of its
    A position."""
    matches = np.asarray(matches, np.float64).reshape(-1, 4)
    return np.linalg.norm(project(H_gt, matches[:, :2]) - matches[:, 2:], axis=1)


# ---------------------------------------------------------------------------------------------
# Optical flow


def dense_flow_errors(warp_ab: np.ndarray, flow_gt: np.ndarray) -> np.ndarray:
    """(M,) end-point errors (px) of ``warp_ab`` (H, W, 2; B pixels, NaN = none) against the
    true flow (H, W, 2; NaN = unknown) at the M pixels whose truth is known; ``inf`` where the
    warp predicts nothing (so :func:`fraction_below` counts those pixels as wrong)."""
    if warp_ab.shape != flow_gt.shape:
        raise ValueError(f"warp {warp_ab.shape} and flow {flow_gt.shape} differ in shape")
    height, width = flow_gt.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    truth = np.stack([xs, ys], axis=-1) + flow_gt.astype(np.float64)
    known = np.isfinite(truth).all(axis=-1)
    errors = np.linalg.norm(warp_ab[known] - truth[known], axis=-1)
    return np.where(np.isfinite(errors), errors, np.inf)


def sample_flow(flow_gt: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) true flow at (N, 2) sub-pixel positions of A, bilinear; NaN outside the image
    and where one of the 4 neighbouring pixels is unknown."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    height, width = flow_gt.shape[:2]
    x, y = points[:, 0], points[:, 1]
    inside = (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)
    xi = np.clip(np.floor(np.nan_to_num(x)), 0, width - 1).astype(int)
    yi = np.clip(np.floor(np.nan_to_num(y)), 0, height - 1).astype(int)
    fx, fy = np.clip(x - xi, 0.0, 1.0), np.clip(y - yi, 0.0, 1.0)
    xj, yj = np.minimum(xi + 1, width - 1), np.minimum(yi + 1, height - 1)
    flow = flow_gt.astype(np.float64)
    sampled = (
        flow[yi, xi] * ((1 - fx) * (1 - fy))[:, None]
        + flow[yi, xj] * (fx * (1 - fy))[:, None]
        + flow[yj, xi] * ((1 - fx) * fy)[:, None]
        + flow[yj, xj] * (fx * fy)[:, None]
    )
    sampled[~inside] = np.nan
    return sampled


def sparse_flow_errors(matches: np.ndarray, flow_gt: np.ndarray) -> np.ndarray:
    """(M,) end-point errors (px) of the matches ``[xA, yA, xB, yB]`` whose A position has a
    known true flow."""
    matches = np.asarray(matches, np.float64).reshape(-1, 4)
    truth = matches[:, :2] + sample_flow(flow_gt, matches[:, :2])
    known = np.isfinite(truth).all(axis=-1)
    return np.linalg.norm(matches[known, 2:] - truth[known], axis=-1)
