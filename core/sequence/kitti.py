"""KITTI odometry sequences: ``image_0/NNNNNN.png`` (or another camera folder), ``calib.txt``
(``P0: ..`` .. ``P3: ..``, 3x4 projection matrices of the rectified cameras), ``times.txt`` (one
timestamp in seconds per frame, optional) and ``poses.txt`` (ground truth: camera 0's
camera-to-world 3x4 ``[R | t]`` row-major, one line per frame).

The frame id is the file name's number and indexes ``times.txt`` and ``poses.txt``; frames are
in that number's order, so a gap in the numbers is one step. For camera N, ``P_N = K [I | t_N]``
maps camera 0's coordinates into camera N (``X_N = X_0 + t_N``), so its pose is camera 0's
moved by that baseline: ``T_w_N = T_w_0 @ [I | -t_N]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import InputError
from core.imageio import IMAGE_EXTENSIONS
from core.sequence.base import FrameInfo, Intrinsics, SequenceReader
from core.sequence.layouts import ImageFilesReader, nan_poses

DEFAULT_CAMERA = "image_0"
CAMERAS = ("image_0", "image_1", "image_2", "image_3")  # grey left, grey right, colour left, right


def is_kitti(folder: str | Path) -> bool:
    """Whether ``folder`` has KITTI's ``image_0/``, ``calib.txt`` and ``poses.txt``."""
    folder = Path(folder)
    return all((folder / name).exists() for name in (DEFAULT_CAMERA, "calib.txt", "poses.txt"))


def read_calib(path: Path) -> dict[str, np.ndarray]:
    """``calib.txt``'s matrices by name (``"P0"`` ..): (3, 4) float64 each."""
    if not path.is_file():
        raise InputError(path, "no such file")
    calib = {}
    for line in path.read_text(errors="replace").splitlines():
        key, _, values = line.partition(":")
        if not key.strip():
            continue
        try:
            calib[key.strip()] = np.array(values.split(), np.float64).reshape(3, 4)
        except ValueError:
            raise InputError(path, f"{key.strip()} is not 12 numbers") from None
    return calib


def camera_matrix(calib: dict[str, np.ndarray], camera: str, path: Path) -> np.ndarray:
    """``P_N`` of camera folder ``image_N``; an :class:`InputError` on ``path`` without it."""
    key = "P" + camera.removeprefix("image_")
    if key not in calib:
        raise InputError(path, f"no {key} line")
    return calib[key]


def read_poses(path: Path) -> np.ndarray:
    """``poses.txt`` as (N, 4, 4) camera-to-world float64."""
    try:
        rows = np.loadtxt(path, ndmin=2)
        rows = rows.reshape(-1, 3, 4)
    except (ValueError, OSError) as exc:
        raise InputError(path, f"malformed: not 12 numbers per line ({exc})") from None
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3] = rows
    return poses


def read_times(path: Path) -> np.ndarray:
    """``times.txt`` as (N,) seconds."""
    try:
        return np.loadtxt(path, ndmin=1).reshape(-1)
    except ValueError as exc:
        raise InputError(path, f"malformed: not one number per line ({exc})") from None


def camera_frames(folder: Path) -> dict[int, Path]:
    """The numbered images of a camera folder by number, in number order."""
    if not folder.is_dir():
        raise InputError(folder, "no such camera folder")
    frames = {}
    for path in folder.iterdir():
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.stem.isdigit():
            frames[int(path.stem)] = path
    return dict(sorted(frames.items()))


def baseline_transform(P: np.ndarray) -> np.ndarray:
    """(4, 4) camera N -> camera 0 (``[I | -t_N]`` with ``t_N = K^-1 P[:, 3]``)."""
    T = np.eye(4)
    T[:3, 3] = -np.linalg.solve(P[:, :3], P[:, 3])
    return T


class KittiReader(ImageFilesReader):
    """One camera of a KITTI odometry sequence (see the module's docstring)."""

    def __init__(self, folder: str | Path, camera: str = DEFAULT_CAMERA):
        folder = Path(folder)
        frames = camera_frames(folder / camera)
        if not frames:
            raise InputError(folder / camera, "no numbered images (NNNNNN.png)")
        P = camera_matrix(read_calib(folder / "calib.txt"), camera, folder / "calib.txt")
        times = read_times(folder / "times.txt") if (folder / "times.txt").is_file() else None
        if times is not None and max(frames) >= len(times):
            raise InputError(
                folder / "times.txt", f"{len(times)} lines, no time of frame {max(frames)}"
            )
        poses = None
        if (folder / "poses.txt").is_file():
            truth = read_poses(folder / "poses.txt") @ baseline_transform(P)
            poses = nan_poses(len(frames))
            for position, frame_id in enumerate(frames):
                if frame_id < len(truth):
                    poses[position] = truth[frame_id]
        infos = [
            FrameInfo(
                position, frame_id, None if times is None else float(times[frame_id]), str(path)
            )
            for position, (frame_id, path) in enumerate(frames.items())
        ]
        try:
            with Image.open(infos[0].path) as first:  # reads the header only
                size_hw = (first.height, first.width)
        except OSError:  # an undecodable frame is reported when it is read
            size_hw = None
        intrinsics = Intrinsics(
            np.ascontiguousarray(P[:, :3]), size_hw, source=str(folder / "calib.txt")
        )
        super().__init__(folder.name, infos, intrinsics, poses)
        self.camera = camera


def default_camera(folder: str | Path) -> str:
    """``image_0``, else the first camera folder the sequence has (``image_2`` in KITTI's
    colour download)."""
    folder = Path(folder)
    return next((c for c in CAMERAS if (folder / c).is_dir()), DEFAULT_CAMERA)


def detect(folder: str | Path) -> bool:
    """A KITTI odometry sequence: ``calib.txt`` and a camera folder (``poses.txt`` optional:
    KITTI's test sequences have none)."""
    folder = Path(folder)
    return (folder / "calib.txt").is_file() and any((folder / c).is_dir() for c in CAMERAS)


def open(folder: str | Path, camera: str | None = None) -> SequenceReader:
    return KittiReader(folder, camera or default_camera(folder))
