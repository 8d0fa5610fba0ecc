"""Small hand-made `core.vo.scene.VoScene` runs for the VO views' tests."""

import numpy as np

from core.vo.scene import VoScene


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) camera-to-world at ``centre`` looking at ``target`` (x right, y down, z ahead;
    the world's -y up)."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = centre
    return pose


def circle_scene(frames: int = 30, points: int = 200, seed: int = 0) -> VoScene:
    """``frames`` cameras on a circle of radius 5 (in x-z) looking at its centre, every third
    a keyframe, ``points`` map points in a ball of radius 1.5 at the centre, a ground truth a
    little off with known errors."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 1.6 * np.pi, frames)
    centres = np.stack([5 * np.cos(angles), 0.3 * np.sin(3 * angles), 5 * np.sin(angles)], 1)
    poses = np.stack([look_at(c, np.zeros(3)) for c in centres])
    truth = poses.copy()
    truth[:, :3, 3] += rng.normal(0, 0.1, (frames, 3))
    truth[3] = np.nan  # one unknown pose
    error = np.linalg.norm(truth[:, :3, 3] - poses[:, :3, 3], axis=1)
    ball = rng.normal(0, 1, (points, 3))
    ball *= 1.5 * rng.uniform(0, 1, (points, 1)) ** (1 / 3) / np.linalg.norm(ball, axis=1)[:, None]
    keyframes = np.arange(frames) % 3 == 0
    observed = np.flatnonzero(keyframes)
    observations = np.array(
        [(p, k) for p in range(points) for k in observed[: 2 + p % 5]], np.int64
    ).reshape(-1, 2)
    return VoScene(
        name="circle", frontend="test",
        K=np.array([[300.0, 0, 320], [0, 300, 240], [0, 0, 1]]), image_size=(640, 480),
        poses=poses, tracked=np.ones(frames, bool), keyframe=keyframes,
        keypoint_offsets=np.zeros(frames + 1, np.int64),
        keypoints=np.zeros((0, 2), np.float32), keypoint_status=np.zeros(0, np.int8),
        points=ball, colours=rng.integers(0, 256, (points, 3), dtype=np.uint8),
        point_ids=np.arange(points), point_sigma_px=rng.uniform(0.5, 3.0, points),
        observations=observations, observation_pixels=np.zeros((len(observations), 2)),
        stats={}, truth=truth, pose_error_m=error,
    )  # fmt: skip


def grown(scene: VoScene, frames: int) -> VoScene:
    """The first ``frames`` frames of ``scene`` (its points all kept)."""
    cut = dict(scene.__dict__)
    for name in ("poses", "tracked", "keyframe", "truth", "pose_error_m"):
        cut[name] = getattr(scene, name)[:frames]
    cut["keypoint_offsets"] = scene.keypoint_offsets[: frames + 1]
    return VoScene(**cut)
