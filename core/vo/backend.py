"""The VO back-end's geometry (no Qt): the sparse map, two-view initialisation, PnP tracking,
triangulation of new points and local bundle adjustment (gtsam).

Poses are camera-to-world (4, 4) float64 (``X_world = T @ X_cam``); pixels are ideal
(undistorted) pixels of the camera with intrinsics ``K``. Every random choice (OpenCV's RANSAC)
is seeded, so a run repeats exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from core.geometry import find_essential, recover_pose

PNP_THRESHOLD_PX = 2.0
PNP_MIN_INLIERS = 12
TRIANGULATION_MAX_ERROR_PX = 2.0
MIN_PARALLAX_DEG = 1.0
INIT_MIN_INLIERS = 60
INIT_MIN_PARALLAX_DEG = 1.0
BA_HUBER_K = 1.345  # in sigmas
CULL_ERROR_PX = 4.0


@dataclass
class Keyframe:
    """A keyframe: its sequence ``position``, ``pose`` (camera-to-world), its features'
    (N, 2) ideal pixels, (N,) sigma_px, descriptors and colours, (N,) ``point_ids`` (the
    map point each keypoint observes, -1 none), ``native`` (a trained front-end's own) and
    ``partner``: the right camera of a stereo start (same position, not a tracked frame)."""

    position: int
    pose: np.ndarray
    ideal: np.ndarray
    sigma_px: np.ndarray
    descriptors: np.ndarray
    colours: np.ndarray
    point_ids: np.ndarray
    native: object = None  # a trained front-end's features (what its matcher takes)
    partner: bool = False  # a stereo start's right camera (not a frame of the sequence)


@dataclass
class MapPoint:
    """A triangulated point: (3,) world ``position`` (metres, up to the monocular scale),
    ``colour`` (3,) uint8, ``descriptor`` (its first observation's) and ``observations``
    {keyframe id: keypoint index}."""

    position: np.ndarray
    colour: np.ndarray
    descriptor: np.ndarray
    observations: dict[int, int] = field(default_factory=dict)


class SparseMap:
    """Keyframes (by id, in order of insertion) and map points (by id)."""

    def __init__(self):
        self.keyframes: dict[int, Keyframe] = {}
        self.points: dict[int, MapPoint] = {}
        self._next_point = 0

    def add_keyframe(self, keyframe: Keyframe) -> int:
        kf_id = len(self.keyframes)
        self.keyframes[kf_id] = keyframe
        return kf_id

    def add_point(self, position, colour, descriptor) -> int:
        point_id = self._next_point
        self._next_point += 1
        self.points[point_id] = MapPoint(np.asarray(position, np.float64), colour, descriptor)
        return point_id

    def observe(self, kf_id: int, index: int, point_id: int) -> None:
        """Keypoint ``index`` of keyframe ``kf_id`` sees map point ``point_id``."""
        self.keyframes[kf_id].point_ids[index] = point_id
        self.points[point_id].observations[kf_id] = index

    def remove_point(self, point_id: int) -> None:
        for kf_id, index in self.points.pop(point_id).observations.items():
            self.keyframes[kf_id].point_ids[index] = -1

    def positions(self, point_ids: np.ndarray) -> np.ndarray:
        """(N, 3) positions of ``point_ids`` (all present)."""
        return np.array([self.points[int(i)].position for i in point_ids]).reshape(-1, 3)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every point's (M, 3) position, (M, 3) uint8 colour and (M,) observation count."""
        points = list(self.points.values())
        positions = np.array([p.position for p in points]).reshape(-1, 3)
        colours = np.array([p.colour for p in points], np.uint8).reshape(-1, 3)
        counts = np.array([len(p.observations) for p in points], np.int64)
        return positions, colours, counts


def to_camera(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) world points in the camera of camera-to-world ``pose``."""
    R, t = pose[:3, :3], pose[:3, 3]
    return (points - t) @ R


def project(K: np.ndarray, pose: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixels of (N, 3) world points and their (N,) depths in the camera."""
    camera = to_camera(pose, points)
    depth = camera[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = (camera[:, :2] / depth[:, None]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    return pixels, depth


def pose_from_rt(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera-to-world pose of a camera whose world-to-camera transform is ``R x + t``."""
    pose = np.eye(4)
    pose[:3, :3] = R.T
    pose[:3, 3] = -R.T @ np.asarray(t, np.float64).ravel()
    return pose


@dataclass
class Initialisation:
    """Two-view start: B's pose relative to A (A at the identity, |t| = 1), the (M,) match
    indices into A's and B's keypoints that triangulated, their (M, 3) points in A's frame and
    the median parallax in degrees."""

    pose_b: np.ndarray
    indices: np.ndarray
    points: np.ndarray
    parallax_deg: float


def initialise(
    K: np.ndarray, ideal_a: np.ndarray, ideal_b: np.ndarray, matches: np.ndarray, seed: int
) -> Initialisation | None:
    """An essential matrix (MAGSAC++) between A and B from (M, 2) ``matches`` of their ideal
    pixels; None unless enough inliers triangulate in front of both cameras with a median
    parallax of at least ``INIT_MIN_PARALLAX_DEG`` (too little motion to fix the geometry)."""
    if len(matches) < INIT_MIN_INLIERS:
        return None
    points_a, points_b = ideal_a[matches[:, 0]], ideal_b[matches[:, 1]]
    found = find_essential(points_a, points_b, K, 1.0, cv2.USAC_MAGSAC, seed=seed)
    if found is None:
        return None
    E, inliers = found
    pose = recover_pose(E, points_a, points_b, inliers, K)
    if pose is None or inliers.sum() < INIT_MIN_INLIERS:
        return None
    pose_b = pose_from_rt(*pose)
    kept = np.flatnonzero(inliers)
    points, good, parallax = triangulate(
        K, np.eye(4), pose_b, points_a[kept], points_b[kept], MIN_PARALLAX_DEG
    )
    if good.sum() < INIT_MIN_INLIERS or np.median(parallax[good]) < INIT_MIN_PARALLAX_DEG:
        return None
    kept = kept[good]
    return Initialisation(pose_b, matches[kept], points[good], float(np.median(parallax[good])))


def triangulate(
    K: np.ndarray,
    pose_a: np.ndarray,
    pose_b: np.ndarray,
    pixels_a: np.ndarray,
    pixels_b: np.ndarray,
    min_parallax_deg: float = MIN_PARALLAX_DEG,
    max_error_px: float = TRIANGULATION_MAX_ERROR_PX,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) world points from (N, 2) ideal pixels in two posed cameras, the (N,) mask of
    those that pass the tests (in front of both cameras, reprojection error under
    ``max_error_px`` in both, parallax of at least ``min_parallax_deg``) and
    the (N,) parallax in degrees."""
    if len(pixels_a) == 0:
        return np.zeros((0, 3)), np.zeros(0, bool), np.zeros(0)
    world_to_a, world_to_b = np.linalg.inv(pose_a)[:3], np.linalg.inv(pose_b)[:3]
    homogeneous = cv2.triangulatePoints(
        K @ world_to_a, K @ world_to_b, pixels_a.T.astype(np.float64), pixels_b.T.astype(np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        points = (homogeneous[:3] / homogeneous[3]).T
    good = np.all(np.isfinite(points), axis=1)
    for pose, pixels in ((pose_a, pixels_a), (pose_b, pixels_b)):
        projected, depth = project(K, pose, np.where(good[:, None], points, 0.0))
        error = np.linalg.norm(projected - pixels, axis=1)
        good &= (depth > 0) & (error < max_error_px)
    rays_a = points - pose_a[:3, 3]
    rays_b = points - pose_b[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.sum(rays_a * rays_b, axis=1) / (
            np.linalg.norm(rays_a, axis=1) * np.linalg.norm(rays_b, axis=1)
        )
    parallax = np.degrees(np.arccos(np.clip(np.nan_to_num(cosine, nan=1.0), -1.0, 1.0)))
    good &= parallax >= min_parallax_deg
    return points, good, parallax


@dataclass
class PnpResult:
    """A pose from 2D-3D matches: camera-to-world ``pose``, (N,) ``inliers`` mask and the
    inliers' mean reprojection error in pixels."""

    pose: np.ndarray
    inliers: np.ndarray
    error_px: float


def solve_pnp(
    K: np.ndarray,
    points: np.ndarray,
    pixels: np.ndarray,
    guess: np.ndarray,
    seed: int,
    threshold_px: float = PNP_THRESHOLD_PX,
) -> PnpResult | None:
    """The camera pose from (N, 3) world points seen at (N, 2) ideal pixels: RANSAC (OpenCV,
    seeded) started from ``guess`` (the motion model's prediction), refined on the inliers by
    Levenberg-Marquardt; None with fewer than ``PNP_MIN_INLIERS`` inliers."""
    if len(points) < PNP_MIN_INLIERS:
        return None
    world_to_camera = np.linalg.inv(guess)
    rvec, _ = cv2.Rodrigues(world_to_camera[:3, :3])
    tvec = world_to_camera[:3, 3].reshape(3, 1).copy()
    cv2.setRNGSeed(seed)
    ok, rvec, tvec, inlier_index = cv2.solvePnPRansac(
        points.astype(np.float64),
        pixels.astype(np.float64),
        K,
        None,
        rvec,
        tvec,
        useExtrinsicGuess=True,
        iterationsCount=100,
        reprojectionError=threshold_px,
        confidence=0.999,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or inlier_index is None or len(inlier_index) < PNP_MIN_INLIERS:
        return None
    inliers = np.zeros(len(points), bool)
    inliers[inlier_index.ravel()] = True
    rvec, tvec = cv2.solvePnPRefineLM(points[inliers], pixels[inliers], K, None, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    pose = pose_from_rt(R, tvec)
    projected, depth = project(K, pose, points)
    error = np.linalg.norm(projected - pixels, axis=1)
    inliers = (error < threshold_px) & (depth > 0)
    if inliers.sum() < PNP_MIN_INLIERS:
        return None
    return PnpResult(pose, inliers, float(error[inliers].mean()))


def local_bundle_adjustment(
    K: np.ndarray, sparse_map: SparseMap, window: list[int], fixed: int = 2, iterations: int = 8
) -> float:
    """Adjust the poses of keyframes ``window`` (ids, oldest first) and the points they see
    with gtsam's Levenberg-Marquardt: a projection factor per observation, weighted by the
    keypoint's sigma_px and robust (Huber at ``BA_HUBER_K`` sigma). The ``fixed`` oldest window
    keyframes and every other keyframe that sees those points are held fixed (the monocular
    gauge: position, rotation and scale). Returns the mean reprojection error (px) after."""
    import gtsam
    from gtsam.symbol_shorthand import L, X

    calibration = gtsam.Cal3_S2(K[0, 0], K[1, 1], 0.0, K[0, 2], K[1, 2])
    point_ids = {
        int(pid) for kf_id in window for pid in sparse_map.keyframes[kf_id].point_ids if pid >= 0
    }
    graph, values = gtsam.NonlinearFactorGraph(), gtsam.Values()
    pose_ids: set[int] = set()
    observations: list[tuple[int, int, int]] = []  # keyframe, keypoint, point
    for pid in point_ids:
        point = sparse_map.points[pid]
        if len(point.observations) < 2:
            continue
        for kf_id, index in point.observations.items():
            observations.append((kf_id, index, pid))
            pose_ids.add(kf_id)
    if not observations:
        return float("nan")
    held = set(window[:fixed]) | (pose_ids - set(window))
    pinned = gtsam.noiseModel.Isotropic.Sigma(6, 1e-6)
    pose_key = {kf_id: X(kf_id) for kf_id in pose_ids}
    for kf_id, key in pose_key.items():
        pose = gtsam.Pose3(sparse_map.keyframes[kf_id].pose)
        values.insert(key, pose)
        if kf_id in held:
            graph.add(gtsam.PriorFactorPose3(key, pose, pinned))
    point_key = {pid: L(pid) for _, _, pid in observations}
    for pid, key in point_key.items():
        values.insert(key, sparse_map.points[pid].position)  # (3,) float64: a gtsam Point3
    huber = gtsam.noiseModel.mEstimator.Huber.Create(BA_HUBER_K)
    noise_of: dict[float, object] = {}
    for kf_id, index, pid in observations:  # the loop is the Python cost of a BA: kept bare
        keyframe = sparse_map.keyframes[kf_id]
        sigma = keyframe.sigma_px[index]
        noise = noise_of.get(sigma)
        if noise is None:
            noise = noise_of[sigma] = gtsam.noiseModel.Robust.Create(
                huber, gtsam.noiseModel.Isotropic.Sigma(2, float(sigma))
            )
        graph.add(
            gtsam.GenericProjectionFactorCal3_S2(
                keyframe.ideal[index], noise, pose_key[kf_id], point_key[pid], calibration
            )
        )
    params = gtsam.LevenbergMarquardtParams()
    params.setMaxIterations(iterations)
    result = gtsam.LevenbergMarquardtOptimizer(graph, values, params).optimize()
    for kf_id in pose_ids - held:
        sparse_map.keyframes[kf_id].pose = result.atPose3(pose_key[kf_id]).matrix()
    for pid, key in point_key.items():
        sparse_map.points[pid].position = np.asarray(result.atPoint3(key), np.float64)
    return cull_points(K, sparse_map, set(point_key))


def cull_points(K: np.ndarray, sparse_map: SparseMap, point_ids: set[int]) -> float:
    """Drop the observations of ``point_ids`` that reproject more than ``CULL_ERROR_PX`` away
    or behind their camera, and the points left with fewer than two; returns the mean
    reprojection error (px) of the observations kept."""
    by_keyframe: dict[int, list[tuple[int, int]]] = {}  # keyframe: [(point, keypoint)]
    for pid in point_ids:
        point = sparse_map.points.get(pid)
        if point is not None:
            for kf_id, index in point.observations.items():
                by_keyframe.setdefault(kf_id, []).append((pid, index))
    errors = []
    for kf_id, seen in by_keyframe.items():
        keyframe = sparse_map.keyframes[kf_id]
        pids, indices = np.array(seen, np.int64).T
        pixels, depth = project(K, keyframe.pose, sparse_map.positions(pids))
        error = np.linalg.norm(pixels - keyframe.ideal[indices], axis=1)
        bad = (depth <= 0) | ~(error < CULL_ERROR_PX)
        errors.append(error[~bad])
        for pid, index in zip(pids[bad], indices[bad], strict=True):
            del sparse_map.points[int(pid)].observations[kf_id]
            keyframe.point_ids[index] = -1
    for pid in point_ids:
        point = sparse_map.points.get(pid)
        if point is not None and len(point.observations) < 2:
            sparse_map.remove_point(pid)
    kept = np.concatenate(errors) if errors else np.zeros(0)
    return float(kept.mean()) if len(kept) else float("nan")
