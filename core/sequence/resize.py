"""``--max-size PX``: a sequence's frames scaled down so their longer side is at most PX, with
the intrinsics scaled to match (no Qt). Poses, frame ids and timestamps are the reader's."""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import InputError, MatchscopeError
from core.sequence.base import Intrinsics, SequenceReader


def scaled_size(size_hw: tuple[int, int], max_size: int) -> tuple[int, int]:
    """(height, width) of a ``size_hw`` image scaled so its longer side is ``max_size`` (the
    size itself when it is no longer)."""
    height, width = size_hw
    scale = min(1.0, max_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def scaled_intrinsics(intrinsics: Intrinsics, size_hw: tuple[int, int], new_hw) -> Intrinsics:
    """``intrinsics`` of ``size_hw`` images for the same images resized to ``new_hw``: focal
    lengths times each side's ratio, the principal point where the pixel centres move
    (``c' = (c + 0.5) s - 0.5``); distortion (in normalised coordinates) unchanged."""
    sy, sx = new_hw[0] / size_hw[0], new_hw[1] / size_hw[1]
    K = intrinsics.K.astype(np.float64).copy()
    K[0, 0], K[0, 1], K[1, 1] = K[0, 0] * sx, K[0, 1] * sx, K[1, 1] * sy
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
    return Intrinsics(K, tuple(new_hw), intrinsics.distortion.copy(), intrinsics.source)


class ResizedFrames(SequenceReader):
    """``reader``'s frames resized (OpenCV's area interpolation) so that the longer side of
    frames of ``size_hw`` is ``max_size``; every frame must have that size."""

    def __init__(self, reader: SequenceReader, size_hw: tuple[int, int], max_size: int):
        self.reader, self.size_hw = reader, tuple(size_hw)
        self.new_hw = scaled_size(self.size_hw, max_size)
        self.name, self.frames, self.poses = reader.name, reader.frames, reader.poses
        self.intrinsics = None
        if reader.intrinsics is not None:
            self.intrinsics = scaled_intrinsics(reader.intrinsics, self.size_hw, self.new_hw)

    def read(self, position: int) -> np.ndarray:
        rgb = self.reader.read(position)
        if rgb.shape[:2] != self.size_hw:
            raise InputError(
                self.reader.frames[position].path or self.name,
                f"frame {position} is {rgb.shape[1]} x {rgb.shape[0]}, the sequence's "
                f"{self.size_hw[1]} x {self.size_hw[0]} (--max-size needs one size)",
            )
        new_h, new_w = self.new_hw
        return cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        self.reader.close()


def resize_frames(reader: SequenceReader, max_size: int | None) -> SequenceReader:
    """``reader`` with its frames at most ``max_size`` px on the longer side (None or a
    sequence already that small: ``reader`` itself). The frames' size is the intrinsics'
    ``size_hw``, else the first frame's."""
    if max_size is None:
        return reader
    if max_size < 16:
        raise MatchscopeError(f"--max-size {max_size}: at least 16 px")
    size_hw = None if reader.intrinsics is None else reader.intrinsics.size_hw
    if size_hw is None:
        size_hw = reader.read(0).shape[:2]
    if max(size_hw) <= max_size:
        return reader
    return ResizedFrames(reader, size_hw, max_size)
