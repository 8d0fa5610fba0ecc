"""A synthetic sequence with exact ground truth: a camera looping through
:mod:`core.synthetic`'s room, and its export as a KITTI odometry folder (no Qt).

Poses here are camera-to-world (``X_world = T @ X_cam``, as :mod:`core.sequence.base`), the
inverse of :func:`core.synthetic.render_scene`'s ``T_world_to_cam``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.sequence.base import FrameInfo, Intrinsics, SequenceReader
from core.synthetic import _camera_pose, render_scene

# The loop: an ellipse in the room's free floor (metres), traversed with increasing angle. It
# keeps 0.9 m from the walls and 0.75 m from the boxes (the tall one at z 4.1 .. 5.1 and the
# stack at x -1.6 .. -0.6, z 3 .. 3.8 rule out the room's middle, z = 2.5).
_CENTRE_X, _CENTRE_Z = 1.0, 1.6
_RADIUS_X, _RADIUS_Z = 1.7, 1.5
_EYE_Y = 0.05
# Speed (metres per frame): slowest in the tightest turns (the x extremes), fastest at z's.
_SPEED_MEAN, _SPEED_SWING = 0.045, 0.024
_YAW_SWING_DEG, _YAW_PERIOD = 25.0, 240.0  # the look direction's offset from the travel direction
_PITCH_DEG = 7.5
_CACHED_FRAMES = 4


def camera_path(length: int, seed: int = 0) -> np.ndarray:
    """(length, 4, 4) float64 camera-to-world poses of a camera looping through the room.

    It travels an ellipse (centre x = 1.0, z = 1.6 m, radii 1.7 m along x and 1.5 m along z;
    about 300 degrees of turn in 200 frames) at eye height (y -0.07 .. 0.17 m) at 0.02 .. 0.07 m
    per frame, slowest in the tightest turns; it looks along the travel direction turned by a
    yaw oscillating +-25 degrees (period 240 frames), 7.5 degrees down, with a roll of +-1.5
    degrees: at most about 2.7 degrees of rotation per frame. ``seed`` perturbs the start, the
    speeds and the oscillations' phases.
    """
    rng = np.random.default_rng(seed)
    angle = -0.5 * np.pi + rng.uniform(-0.3, 0.3)  # start near the loop's near end (z small)
    speed_scale = rng.uniform(0.97, 1.03)
    yaw_phase, height_phase, roll_phase = rng.uniform(0.0, 2 * np.pi, 3)
    poses = np.empty((length, 4, 4))
    for i in range(length):
        tangent = np.array([-_RADIUS_X * np.sin(angle), _RADIUS_Z * np.cos(angle)])
        centre = (
            _CENTRE_X + _RADIUS_X * np.cos(angle),
            _EYE_Y + 0.12 * np.sin(2 * np.pi * i / 90.0 + height_phase),
            _CENTRE_Z + _RADIUS_Z * np.sin(angle),
        )
        yaw = np.degrees(np.arctan2(tangent[0], tangent[1]))
        yaw += _YAW_SWING_DEG * np.sin(2 * np.pi * i / _YAW_PERIOD + yaw_phase)
        roll = 1.5 * np.sin(2 * np.pi * i / 90.0 + roll_phase)
        poses[i] = np.linalg.inv(_camera_pose(centre, yaw, _PITCH_DEG, roll))
        speed = speed_scale * (_SPEED_MEAN - _SPEED_SWING * np.cos(2 * angle))
        angle += speed / np.linalg.norm(tangent)
    return poses


class SyntheticSequence(SequenceReader):
    """The room seen along :func:`camera_path`: ``length`` frames of ``size_hw`` (H, W) pixels
    at 10 frames per second, rendered on demand (the last few kept) with exact intrinsics
    (focal length 0.8 * W, principal point at the centre) and camera-to-world poses."""

    def __init__(
        self,
        length: int = 200,
        size_hw: tuple[int, int] = (240, 320),
        seed: int = 0,
        antialias: int = 1,
    ):
        height, width = size_hw
        K = np.array(
            [[0.8 * width, 0.0, (width - 1) / 2], [0.0, 0.8 * width, (height - 1) / 2], [0, 0, 1]]
        )
        self.name = "synthetic room"
        self.frames = [FrameInfo(position=i, frame_id=i, timestamp=i / 10.0) for i in range(length)]
        self.intrinsics = Intrinsics(K, (height, width), np.zeros(5), source="synthetic")
        self.poses = camera_path(length, seed)
        self.seed, self.antialias = seed, antialias
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def render(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(image (H, W, 3) uint8 RGB, depth (H, W) float64 metres) seen from the camera-to-world
        ``pose`` (4, 4) with this sequence's intrinsics and textures."""
        view = render_scene(
            np.linalg.inv(pose),
            self.intrinsics.K,
            size=self.intrinsics.size_hw,
            seed=self.seed,
            antialias=self.antialias,
        )
        return view.image, view.depth.astype(np.float64)

    def _view(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= position < len(self.frames):
            raise IndexError(f"frame {position} outside 0 .. {len(self.frames) - 1}")
        if position not in self._views:
            if len(self._views) >= _CACHED_FRAMES:
                del self._views[next(iter(self._views))]  # the oldest
            self._views[position] = self.render(self.poses[position])
        return self._views[position]

    def read(self, position: int) -> np.ndarray:
        return self._view(position)[0].copy()

    def depth(self, position: int) -> np.ndarray:
        """(H, W) float64 z-depth of frame ``position`` in metres."""
        return self._view(position)[1].copy()


def _projection_line(name: str, P: np.ndarray) -> str:
    return f"{name}: " + " ".join(f"{value:.12e}" for value in P.ravel())


def write_kitti_layout(
    folder: str | Path, sequence: SequenceReader, baseline_m: float | None = None
) -> Path:
    """Write ``sequence`` (it needs intrinsics and poses) as a KITTI odometry folder.

    ``image_0/NNNNNN.png`` (RGB), ``calib.txt`` (``P0 = K [I | 0]``; with ``baseline_m``, ``P1``
    and ``P3`` are a right camera ``baseline_m`` metres along camera 0's x axis,
    ``K [I | (-baseline, 0, 0)]``, otherwise equal to ``P0``; ``P2`` equals ``P0``),
    ``times.txt`` (when every frame has a timestamp) and ``poses.txt`` (camera 0's
    camera-to-world 3x4 per line). With ``baseline_m`` the right camera's frames go to
    ``image_1/``; that needs a :class:`SyntheticSequence` (it renders them). Returns ``folder``.
    """
    if sequence.intrinsics is None or sequence.poses is None:
        raise ValueError("a KITTI layout needs the sequence's intrinsics and poses")
    if baseline_m is not None and not isinstance(sequence, SyntheticSequence):
        raise ValueError("a right camera (baseline_m) needs a SyntheticSequence to render it")
    folder = Path(folder)
    K = sequence.intrinsics.K
    P0 = K @ np.hstack([np.eye(3), np.zeros((3, 1))])
    P1 = P0.copy()
    if baseline_m is not None:
        P1[:, 3] = K @ np.array([-baseline_m, 0.0, 0.0])
    lines = [_projection_line(f"P{n}", P) for n, P in enumerate((P0, P1, P0, P1))]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calib.txt").write_text("\n".join(lines) + "\n")
    times = [frame.timestamp for frame in sequence.frames]
    if None not in times:
        np.savetxt(folder / "times.txt", times, fmt="%.6f")
    np.savetxt(folder / "poses.txt", sequence.poses[:, :3].reshape(-1, 12), fmt="%.12e")
    (folder / "image_0").mkdir(exist_ok=True)
    for position in range(len(sequence)):
        _write_png(folder / "image_0" / f"{position:06d}.png", sequence.read(position))
    if baseline_m is not None:
        right_to_left = np.eye(4)
        right_to_left[0, 3] = baseline_m
        (folder / "image_1").mkdir(exist_ok=True)
        for position, pose in enumerate(sequence.poses):
            image = sequence.render(pose @ right_to_left)[0]
            _write_png(folder / "image_1" / f"{position:06d}.png", image)
    return folder


def _write_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image as a lossless PNG."""
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
