"""Sequences: videos, image folders and dataset layouts read frame by frame (see
:mod:`core.sequence.base` for the interface)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from core.errors import InputError
from core.sequence import euroc, kitti, strecha, tum
from core.sequence.base import FrameInfo, Intrinsics, SequenceReader
from core.sequence.cache import FrameCache
from core.sequence.folder import ImageFolderReader, image_files
from core.sequence.intrinsics import read_intrinsics
from core.sequence.resize import resize_frames
from core.sequence.select import parse_frame_range, select_frames
from core.sequence.video import VIDEO_EXTENSIONS, VideoReader

DATASET_LAYOUTS: list[
    tuple[Callable[[Path], bool], Callable[[Path, str | None], SequenceReader]]
] = [
    (kitti.detect, kitti.open),
    (tum.detect, tum.open),
    (euroc.detect, euroc.open),
    (strecha.detect, strecha.open),
]
"""Dataset layouts tried, in order, on a folder before it is read as a plain image folder:
(detect(folder) -> bool, open(folder, camera) -> SequenceReader)."""


def is_video_file(path: str | os.PathLike) -> bool:
    """True for a file whose extension is a video container's (.mp4, .mkv, .avi, .mov ...)."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def open_sequence(
    path: str | os.PathLike,
    camera: str | None = None,
    intrinsics_path: str | os.PathLike | None = None,
    frames: slice | str | None = None,
    max_size: int | None = None,
) -> SequenceReader:
    """The reader for ``path``: a video file, a dataset layout folder (``camera`` picks its
    camera folder) or a folder of images; ``intrinsics_path`` (YAML/JSON) replaces the
    dataset's intrinsics; ``frames`` (``"A:B"`` or a slice) restricts it to those positions;
    ``max_size`` scales the frames (and the intrinsics) down to that longer side in pixels.
    :class:`InputError` when ``path`` is no sequence."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise InputError(
                path,
                f"not a sequence: expected a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder",
            )
        reader = VideoReader(path)
    elif path.is_dir():
        opener = next((open_ for detect, open_ in DATASET_LAYOUTS if detect(path)), None)
        if opener is not None:
            reader = opener(path, camera)
        elif camera is not None:
            raise InputError(path, f"--camera {camera}: the folder is no dataset layout")
        else:
            reader = ImageFolderReader(path)
    else:
        raise InputError(path, "no such file or folder")
    if intrinsics_path is not None:
        reader.intrinsics = read_intrinsics(intrinsics_path)
    return resize_frames(select_frames(reader, frames), max_size)


__all__ = [
    "DATASET_LAYOUTS",
    "FrameCache",
    "FrameInfo",
    "ImageFolderReader",
    "Intrinsics",
    "SequenceReader",
    "VideoReader",
    "image_files",
    "is_video_file",
    "open_sequence",
    "parse_frame_range",
    "read_intrinsics",
    "select_frames",
]
