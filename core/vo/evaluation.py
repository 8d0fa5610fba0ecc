"""How good a visual odometry run is, against ground truth (no Qt).

Poses are camera-to-world (N, 4, 4) float64 (``X_world = T @ X_cam``), NaN everywhere for a frame
without ground truth; distances are metres, angles degrees unless named otherwise. The metrics
come from evo's core (``evo.core.trajectory``, ``evo.core.metrics``): a monocular estimate has
its own scale and frame, so it is aligned to the truth by Umeyama's Sim(3) first
(:func:`align_sim3`). :func:`kitti_drift` is the KITTI odometry devkit's t_rel / r_rel.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from evo.core import metrics, trajectory
from evo.core.geometry import GeometryException
from scipy.spatial.transform import Rotation

from core.errors import InputError

EVAL_KEYS = (
    "ate_rmse_m",
    "ate_percent",
    "rpe_trans_m_1",
    "rpe_rot_deg_1",
    "rpe_trans_m_10",
    "rpe_rot_deg_10",
    "t_rel_percent",
    "r_rel_deg_per_100m",
    "trajectory_length_m",
    "fps",
    "frames",
    "tracked_frames",
)
"""The keys of a run's ``eval.json``, in order (:func:`evaluate` adds ``evaluated_frames``)."""

KITTI_LENGTHS_M = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0)
"""The devkit's segment lengths (metres)."""
KITTI_STEP_FRAMES = 10
"""The devkit's ``step_size``: a segment starts at every 10th frame."""
RPE_DELTAS = (1, 10)
"""The frame distances of the relative pose errors."""


def write_kitti_trajectory(path, poses: np.ndarray) -> None:
    """Write (N, 4, 4) finite camera-to-world ``poses`` as KITTI's ``poses.txt``: per line the
    top 3x4 of one pose, row-major (12 numbers)."""
    poses = np.asarray(poses, np.float64)
    if not np.isfinite(poses).all():
        raise ValueError("KITTI trajectories have no gaps: every pose must be finite")
    rows = poses[:, :3, :].reshape(len(poses), 12)
    Path(path).write_text("".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in rows))


def read_kitti_trajectory(path) -> np.ndarray:
    """The (N, 4, 4) float64 poses of a KITTI ``poses.txt`` (blank lines skipped); raises
    :class:`InputError` for an unreadable file or one that is not 12 finite numbers a line."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the trajectory: {exc}") from exc
    poses = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values = np.array([float(v) for v in line.split()])
        except ValueError:
            raise InputError(path, f"line {number}: not numbers") from None
        if len(values) != 12:
            raise InputError(path, f"line {number}: {len(values)} numbers, expected 12")
        if not np.isfinite(values).all():
            raise InputError(path, f"line {number}: a number is not finite")
        pose = np.eye(4)
        pose[:3, :] = values.reshape(3, 4)
        poses.append(pose)
    if not poses:
        raise InputError(path, "no poses in the trajectory file")
    return np.stack(poses)


def write_tum_trajectory(path, timestamps: np.ndarray, poses: np.ndarray) -> None:
    """Write (N,) ``timestamps`` (seconds) and (N, 4, 4) finite camera-to-world ``poses`` in
    TUM's format: ``timestamp tx ty tz qx qy qz qw`` a line (a unit quaternion)."""
    poses = _orthonormalised(poses)
    quats = Rotation.from_matrix(poses[:, :3, :3]).as_quat()  # x, y, z, w
    lines = []
    for stamp, pose, quat in zip(np.asarray(timestamps, np.float64), poses, quats, strict=True):
        numbers = " ".join(f"{v:.9g}" for v in (*pose[:3, 3], *quat))
        lines.append(f"{stamp:.9f} {numbers}\n")
    Path(path).write_text("".join(lines))


def trajectory_length_m(poses: np.ndarray) -> float:
    """Metres travelled along (N, 4, 4) ``poses``: the sum of the distances between consecutive
    camera centres, NaN poses left out (the path jumps over them)."""
    centres = _centres(poses)
    centres = centres[np.isfinite(centres).all(axis=1)]
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())


def kitti_drift(estimated: np.ndarray, truth: np.ndarray) -> tuple[float | None, float | None]:
    """KITTI's (t_rel %, r_rel deg / 100 m) of (N, 4, 4) finite ``estimated`` against
    ``truth``: the mean over segments starting every 10th frame and 100, 200, .., 800 m long
    (along the truth) of the relative pose error's translation / length and angle / length.
    A segment ends at the first frame whose travelled distance reaches the length (the devkit
    asks for more than it; the same on real paths). (None, None) when no segment fits."""
    estimated, truth = np.asarray(estimated, np.float64), np.asarray(truth, np.float64)
    distance = np.concatenate(
        [[0.0], np.cumsum(np.linalg.norm(np.diff(_centres(truth), axis=0), axis=1))]
    )
    t_errors, r_errors = [], []
    for first in range(0, len(truth), KITTI_STEP_FRAMES):
        for length in KITTI_LENGTHS_M:
            reached = np.flatnonzero(distance >= distance[first] + length)
            if not len(reached):
                continue
            last = reached[0]
            delta_est = np.linalg.inv(estimated[first]) @ estimated[last]
            delta_gt = np.linalg.inv(truth[first]) @ truth[last]
            error = np.linalg.inv(delta_est) @ delta_gt
            cos_angle = (np.trace(error[:3, :3]) - 1.0) / 2.0
            t_errors.append(np.linalg.norm(error[:3, 3]) / length)
            r_errors.append(math.acos(max(min(cos_angle, 1.0), -1.0)) / length)
    if not t_errors:
        return None, None
    return 100.0 * float(np.mean(t_errors)), float(np.degrees(np.mean(r_errors)) * 100.0)


def align_sim3(estimated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The (M, 4, 4) poses of ``estimated`` (N, 4, 4) on the M frames where both it and
    ``truth`` are finite, moved onto the truth by the Sim(3) (scale, rotation, translation of
    the camera centres) of Umeyama's least squares (evo); raises ValueError with fewer than 3
    such frames or with centres on one line (no unique alignment)."""
    estimated, truth = np.asarray(estimated, np.float64), np.asarray(truth, np.float64)
    used = _used_frames(estimated, truth)
    if used.sum() < 3:
        raise ValueError(
            f"{int(used.sum())} frames have ground truth and an estimate: at least 3 are needed"
        )
    est = trajectory.PosePath3D(poses_se3=list(_orthonormalised(estimated[used])))
    ref = trajectory.PosePath3D(poses_se3=list(_orthonormalised(truth[used])))
    try:
        est.align(ref, correct_scale=True)
    except GeometryException as exc:
        raise ValueError(f"cannot align the estimate to the ground truth: {exc}") from exc
    return np.stack(est.poses_se3)


def evaluate(
    estimated: np.ndarray,
    truth: np.ndarray,
    timestamps: np.ndarray | None,
    tracked: np.ndarray | None = None,
    seconds: float | None = None,
) -> dict:
    """The metrics (:data:`EVAL_KEYS` and ``evaluated_frames``; JSON-ready: floats, ints or
    None) of (N, 4, 4) ``estimated`` against ``truth`` (a frame with a NaN pose in either is
    left out) after :func:`align_sim3`: ATE and RPE (over 1 and 10 frames) RMSE in metres and
    degrees, KITTI's drift, the truth's length. ``timestamps`` (N,) seconds or None; ``tracked``
    (N,) bool (None: all); ``seconds``: the run's wall time (for fps)."""
    estimated, truth = np.asarray(estimated, np.float64), np.asarray(truth, np.float64)
    if estimated.shape != truth.shape:
        raise ValueError(f"estimate {estimated.shape} and truth {truth.shape} differ in shape")
    used = _used_frames(estimated, truth)
    aligned = align_sim3(estimated, truth)
    ref_poses = _orthonormalised(truth[used])
    if timestamps is None:
        est = trajectory.PosePath3D(poses_se3=list(aligned))
        ref = trajectory.PosePath3D(poses_se3=list(ref_poses))
    else:
        stamps = np.asarray(timestamps, np.float64)[used]
        est = trajectory.PoseTrajectory3D(poses_se3=list(aligned), timestamps=stamps)
        ref = trajectory.PoseTrajectory3D(poses_se3=list(ref_poses), timestamps=stamps)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    ate = float(ape.get_statistic(metrics.StatisticsType.rmse))
    length = trajectory_length_m(ref_poses)
    t_rel, r_rel = kitti_drift(aligned, ref_poses)
    result = {
        "ate_rmse_m": ate,
        "ate_percent": 100.0 * ate / length if length > 0 else None,
    }
    for delta in RPE_DELTAS:
        result[f"rpe_trans_m_{delta}"] = _rpe(
            ref, est, metrics.PoseRelation.translation_part, delta
        )
        result[f"rpe_rot_deg_{delta}"] = _rpe(
            ref, est, metrics.PoseRelation.rotation_angle_deg, delta
        )
    result.update(
        t_rel_percent=t_rel,
        r_rel_deg_per_100m=r_rel,
        trajectory_length_m=length,
        fps=len(truth) / seconds if seconds else None,
        frames=len(truth),
        tracked_frames=len(truth) if tracked is None else int(np.count_nonzero(tracked)),
        evaluated_frames=int(used.sum()),
    )
    return {key: result[key] for key in (*EVAL_KEYS, "evaluated_frames")}


def plot_trajectories(path, aligned: np.ndarray, truth: np.ndarray, title: str = "") -> None:
    """Write a PNG: the top-down view (x across, z up, metres, equal axes) of the camera
    centres of ``truth`` (dashed) and of the ``aligned`` estimate, both (M, 4, 4)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 6.0), dpi=100)
    axes = figure.add_subplot()
    truth_xyz, aligned_xyz = _centres(truth), _centres(aligned)
    axes.plot(truth_xyz[:, 0], truth_xyz[:, 2], "--", color="0.3", label="ground truth")
    axes.plot(
        aligned_xyz[:, 0], aligned_xyz[:, 2], color="tab:red", label="estimate (Sim(3) aligned)"
    )
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel("x (m)")
    axes.set_ylabel("z (m)")
    axes.legend(loc="best")
    if title:
        axes.set_title(title)
    figure.savefig(path, format="png")


def _centres(poses: np.ndarray) -> np.ndarray:
    """(N, 3) camera centres in the world of (N, 4, 4) camera-to-world poses."""
    return np.asarray(poses, np.float64)[:, :3, 3]


def _used_frames(estimated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) bool: frames whose estimate and ground truth are both finite (the evaluated ones)."""
    return np.isfinite(estimated).all(axis=(1, 2)) & np.isfinite(truth).all(axis=(1, 2))


def _orthonormalised(poses: np.ndarray) -> np.ndarray:
    """(N, 4, 4) copies of ``poses`` with each rotation replaced by its nearest rotation (SVD)
    and a bottom row of (0, 0, 0, 1): valid SE(3) for evo."""
    poses = np.array(poses, np.float64)
    u, _, vt = np.linalg.svd(poses[:, :3, :3])
    flip = np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)
    u[:, :, 2] *= flip[:, None]
    poses[:, :3, :3] = u @ vt
    poses[:, 3, :] = (0.0, 0.0, 0.0, 1.0)
    return poses


def _rpe(ref, est, relation: metrics.PoseRelation, delta: int) -> float | None:
    """evo's RPE RMSE of ``relation`` over consecutive pairs ``delta`` frames apart; None when
    the paths have no such pair."""
    if ref.num_poses <= delta:
        return None
    rpe = metrics.RPE(relation, delta=delta, delta_unit=metrics.Unit.frames, all_pairs=False)
    rpe.process_data((ref, est))
    return float(rpe.get_statistic(metrics.StatisticsType.rmse))
