"""Pieces the dataset-layout readers (KITTI, TUM RGB-D, EuRoC) share: a reader over image files,
quaternion poses and reading whitespace/comma tables with one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError
from core.imageio import load_image
from core.sequence.base import FrameInfo, Intrinsics, SequenceReader


class ImageFilesReader(SequenceReader):
    """Frames that are image files (``frames[i].path``), read on demand as RGB."""

    def __init__(
        self,
        name: str,
        frames: list[FrameInfo],
        intrinsics: Intrinsics | None,
        poses: np.ndarray | None,
    ):
        self.name, self.frames, self.intrinsics, self.poses = name, frames, intrinsics, poses

    def read(self, position: int) -> np.ndarray:
        return load_image(self.frames[position].path).rgb


def pose_from_quaternion(translation, quaternion_xyzw) -> np.ndarray:
    """(4, 4) float64 ``[R | t]`` from a translation (3,) and a unit quaternion (x, y, z, w)."""
    from scipy.spatial.transform import Rotation  # slow to import (0.4 s): when a layout needs it

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(quaternion_xyzw).as_matrix()
    T[:3, 3] = translation
    return T


def nan_poses(count: int) -> np.ndarray:
    """(count, 4, 4) of NaN: frames without ground truth."""
    return np.full((count, 4, 4), np.nan)


def read_table(path: Path, columns: int, delimiter: str | None = None) -> np.ndarray:
    """The numeric rows of a text table (lines starting with ``#`` skipped) as (N, columns)
    float64; an :class:`InputError` naming the file and the first bad line otherwise."""
    if not path.is_file():
        raise InputError(path, "no such file")
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(delimiter)
        if len(fields) < columns:
            raise InputError(path, f"line {number}: {len(fields)} values, expected {columns}")
        try:
            rows.append([float(value) for value in fields[:columns]])
        except ValueError:
            raise InputError(path, f"line {number}: not a number where one is expected") from None
    return np.array(rows, np.float64).reshape(-1, columns)
