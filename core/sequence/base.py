"""The one interface every sequence reader implements (no Qt).

A sequence is an ordered list of frames: a video, a folder of images, or a dataset layout (KITTI
odometry, TUM RGB-D, EuRoC MAV). Frames are addressed by their *position* in that order
(0 .. len - 1), never by file-name numbers, so a gap in the numbers is one step. Each reader
module holds one format; :func:`core.sequence.open_sequence` picks the reader for a path.

Conventions: images are (H, W, 3) uint8 RGB; timestamps are seconds (float) or None; poses are
camera-to-world (4, 4) float64 (``X_world = T @ X_cam``), NaN everywhere for a frame without
ground truth; intrinsics are OpenCV's K (3, 3) with distortion coefficients (k1, k2, p1, p2[, k3]).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FrameInfo:
    """One frame: its ``position`` in the sequence, ``frame_id`` (the number or name the
    dataset gives it: a file name's number, a video's frame number), ``timestamp`` in seconds
    (None when the input has none) and ``path`` (its image file; "" for a video frame)."""

    position: int
    frame_id: int | str
    timestamp: float | None = None
    path: str = ""


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: ``K`` (3, 3) float64 for images of ``size_hw`` (height, width) pixels
    and OpenCV distortion coefficients ``distortion`` (k1, k2, p1, p2[, k3]; zeros: none)."""

    K: np.ndarray
    size_hw: tuple[int, int] | None = None
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(5))
    source: str = ""  # where it came from: a file, a dataset's published values


class SequenceReader(ABC):
    """Frames of one sequence, decoded on demand.

    ``name``: what to call it (the folder's or file's name); ``frames``: every frame in order
    (``frames[i].position == i``); ``intrinsics``: the camera, when known; ``poses``:
    (len, 4, 4) camera-to-world ground truth or None (NaN for frames without any). ``read``
    raises :class:`core.errors.InputError` for a frame that cannot be decoded (the sequence
    stays usable: other frames still read).
    """

    name: str = ""
    frames: list[FrameInfo]
    intrinsics: Intrinsics | None = None
    poses: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)

    @abstractmethod
    def read(self, position: int) -> np.ndarray:
        """Frame ``position`` as (H, W, 3) uint8 RGB (exactly that frame: never a neighbour)."""

    def close(self) -> None:  # noqa: B027 (most readers hold no open file)
        """Release open files (a video's container); reading again reopens them."""
