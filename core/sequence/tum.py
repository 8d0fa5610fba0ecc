"""TUM RGB-D sequences: ``rgb.txt`` (``timestamp filename`` per line, ``#`` comments) and
``groundtruth.txt`` (``timestamp tx ty tz qx qy qz qw``: the colour camera's camera-to-world
pose), optional.

Each frame gets the ground-truth pose that TUM's ``associate.py`` pairs it with: candidate pairs
closer than 20 ms, taken greedily from the closest, each timestamp used once; a frame left
without a pair has a NaN pose. TUM ships no calibration file: the intrinsics are the published
ones of the freiburg 1, 2 or 3 camera (chosen from the folder's name,
``rgbd_dataset_freiburgN_*``; https://cvg.cit.tum.de/data/datasets/rgbd-dataset/file_formats)
unless the caller gives them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.sequence.base import FrameInfo, Intrinsics, SequenceReader
from core.sequence.layouts import ImageFilesReader, nan_poses, pose_from_quaternion, read_table

MAX_DIFFERENCE_S = 0.02

# fx, fy, cx, cy and OpenCV's (k1, k2, p1, p2, k3) of the colour cameras, for 640x480 images
FREIBURG = {
    1: ((517.3, 516.5, 318.6, 255.3), (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    2: ((520.9, 521.0, 325.1, 249.7), (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    3: ((535.4, 539.2, 320.1, 247.6), (0.0, 0.0, 0.0, 0.0, 0.0)),
}


def is_tum(folder: str | Path) -> bool:
    """Whether ``folder`` has TUM RGB-D's ``rgb.txt``."""
    return (Path(folder) / "rgb.txt").is_file()


def freiburg_intrinsics(name: str) -> Intrinsics | None:
    """The published camera of ``rgbd_dataset_freiburgN_*`` (None for another name)."""
    found = re.search(r"freiburg(\d)", name)
    if found is None or int(found.group(1)) not in FREIBURG:
        return None
    (fx, fy, cx, cy), distortion = FREIBURG[int(found.group(1))]
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    source = f"TUM RGB-D freiburg {found.group(1)} (published)"
    return Intrinsics(K, (480, 640), np.array(distortion), source)


def read_rgb_list(path: Path) -> list[tuple[float, str]]:
    """``rgb.txt``'s (timestamp, file name) lines."""
    entries = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 2:
            raise InputError(path, f"line {number}: expected 'timestamp filename'")
        try:
            entries.append((float(fields[0]), fields[1]))
        except ValueError:
            raise InputError(path, f"line {number}: {fields[0]!r} is not a timestamp") from None
    return entries


def associate(first: np.ndarray, second: np.ndarray, max_difference: float = MAX_DIFFERENCE_S):
    """``associate.py``'s pairs of indices (i, j) into two timestamp lists: every pair closer
    than ``max_difference`` taken greedily from the closest, each index used once, sorted."""
    order = np.argsort(second, kind="stable")
    ordered = second[order]
    candidates = []
    for i, t in enumerate(first):
        low = np.searchsorted(ordered, t - max_difference, "left")
        high = np.searchsorted(ordered, t + max_difference, "right")
        for k in range(low, high):
            difference = abs(t - ordered[k])
            if difference < max_difference:
                candidates.append((difference, t, ordered[k], i, int(order[k])))
    candidates.sort()
    used_first, used_second, pairs = set(), set(), []
    for _, _, _, i, j in candidates:
        if i not in used_first and j not in used_second:
            used_first.add(i)
            used_second.add(j)
            pairs.append((i, j))
    return sorted(pairs)


class TumReader(ImageFilesReader):
    """The colour frames of a TUM RGB-D sequence (see the module's docstring)."""

    def __init__(self, folder: str | Path, intrinsics: Intrinsics | None = None):
        folder = Path(folder)
        rgb_list = folder / "rgb.txt"
        if not rgb_list.is_file():
            raise InputError(rgb_list, "no such file")
        entries = read_rgb_list(rgb_list)
        if not entries:
            raise InputError(rgb_list, "lists no frames")
        frames = [
            FrameInfo(position, Path(name).stem, timestamp, str(folder / name))
            for position, (timestamp, name) in enumerate(entries)
        ]
        poses = None
        if (folder / "groundtruth.txt").is_file():
            truth = read_table(folder / "groundtruth.txt", 8)
            poses = nan_poses(len(frames))
            times = np.array([timestamp for timestamp, _ in entries])
            for i, j in associate(times, truth[:, 0]):
                poses[i] = pose_from_quaternion(truth[j, 1:4], truth[j, 4:8])
        super().__init__(folder.name, frames, intrinsics or freiburg_intrinsics(folder.name), poses)


def detect(folder: str | Path) -> bool:
    return is_tum(folder)


def open(folder: str | Path, camera: str | None = None) -> SequenceReader:
    """``camera`` is unused: a TUM sequence has one colour camera."""
    return TumReader(folder)
