"""Writing a view over a frame range: a video file or a folder of PNG images (no Qt).

:func:`open_frame_writer` picks the writer from the path: ``.mp4``, ``.mkv``, ``.mov`` or
``.avi`` is a :class:`VideoFrameWriter` (PyAV), a folder (a path without a suffix, or an
existing directory) a :class:`PngSequenceWriter`. Frames are (H, W, 3) uint8 RGB. The first
frame (or ``size_wh``) fixes the size: a later frame of another size is resized to it
(``cv2.INTER_AREA``). :func:`export_frames` writes an iterable of frames, with progress and a
cancel that still closes the file properly (a cancelled video plays up to where it stopped).
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from core.errors import MatchscopeError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi")
CRF = 18
"""H.264's constant rate factor: visually lossless for figures (lower is better, 0 lossless)."""
MPEG4_BITS_PER_PIXEL = 0.5
"""Bits per pixel per frame of the MPEG-4 Part 2 fallback (no CRF there: a bit rate)."""


def _codec(suffix: str) -> str:
    """H.264 (``libx264``) where PyAV's FFmpeg has it, else MPEG-4 Part 2; AVI always MPEG-4
    (H.264's B-frames do not fit AVI's index)."""
    if suffix != ".avi" and "libx264" in av.codecs_available:
        return "libx264"
    return "mpeg4"


class FrameWriter(ABC):
    """Frames written one after another to ``path``; ``count`` how many so far, ``size_wh``
    (width, height) of every frame once known. A context manager; :meth:`close` is idempotent."""

    def __init__(self, path: Path, size_wh: tuple[int, int] | None):
        self.path = path
        self.size_wh = None if size_wh is None else (int(size_wh[0]), int(size_wh[1]))
        if self.size_wh is not None and min(self.size_wh) < 1:
            raise MatchscopeError(f"{path}: frame size {size_wh} must be at least 1 x 1")
        self.count = 0
        self.closed = False

    def write(self, rgb: np.ndarray, name: str | None = None) -> None:
        """Write ``rgb`` (H, W, 3) uint8, resized to :attr:`size_wh` when it differs; ``name``
        names its file where the writer has one file per frame (ignored by a video)."""
        if self.closed:
            raise MatchscopeError(f"{self.path}: the export is already closed")
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"a frame must be (H, W, 3) uint8, not {rgb.shape} {rgb.dtype}")
        if self.size_wh is None:
            self.size_wh = (rgb.shape[1], rgb.shape[0])
        if (rgb.shape[1], rgb.shape[0]) != self.size_wh:
            rgb = cv2.resize(rgb, self.size_wh, interpolation=cv2.INTER_AREA)
        self._write(np.ascontiguousarray(rgb), name)
        self.count += 1

    @abstractmethod
    def _write(self, rgb: np.ndarray, name: str | None) -> None:
        """Write one frame of :attr:`size_wh`."""

    def close(self) -> None:
        """Finish the file (a video's encoder flushed, its index written); again: nothing."""
        if not self.closed:
            self.closed = True
            self._close()

    def _close(self) -> None:  # noqa: B027 (a folder of images has nothing to finish)
        pass

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class VideoFrameWriter(FrameWriter):
    """A video at ``fps`` frames per second: H.264 at CRF 18 (or MPEG-4 at
    :data:`MPEG4_BITS_PER_PIXEL`, see :func:`_codec`), yuv420p. yuv420p needs an even width and
    height: an odd one gets one more column or row, a copy of the last (so the video is the
    frames' size rounded up to even, the frames' pixels at its top left). A video closed
    with no frame written is removed (it would not play)."""

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int] | None = None):
        super().__init__(path, size_wh)
        if not fps > 0:
            raise MatchscopeError(f"{path}: frame rate {fps} must be above 0")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.codec = _codec(path.suffix.lower())
        try:
            self._container = av.open(str(path), "w")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise MatchscopeError(f"{path}: cannot write the video ({exc})") from None
        self._stream = None

    def _add_stream(self) -> None:
        width, height = (side + side % 2 for side in self.size_wh)
        stream = self._container.add_stream(self.codec, rate=self.rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            stream.options = {"crf": str(CRF), "preset": "medium"}
        else:
            bits_per_second = width * height * float(self.rate) * MPEG4_BITS_PER_PIXEL
            stream.bit_rate = int(max(bits_per_second, 1e6))
        self._stream = stream

    def _write(self, rgb: np.ndarray, name: str | None) -> None:
        if self._stream is None:
            self._add_stream()
        height, width = rgb.shape[:2]
        if width % 2 or height % 2:
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.count
        frame.time_base = 1 / self.rate
        self._mux(self._stream.encode(frame))

    def _mux(self, packets) -> None:
        try:
            self._container.mux(packets)
        except (av.FFmpegError, OSError) as exc:
            raise MatchscopeError(f"{self.path}: cannot write the video ({exc})") from None

    def _close(self) -> None:
        try:
            if self._stream is not None:
                self._mux(self._stream.encode(None))  # the encoder's delayed frames
        finally:
            self._container.close()
            if self._stream is None:
                self.path.unlink(missing_ok=True)


class PngSequenceWriter(FrameWriter):
    """A folder (made if missing) of PNG files, one per frame: ``frame_000000.png``, ... by
    the number of frames written before, or ``NAME.png`` for a frame written with a name."""

    def __init__(self, path: Path, size_wh: tuple[int, int] | None = None):
        super().__init__(path, size_wh)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or exc
            raise MatchscopeError(f"{path}: cannot make the folder ({reason})") from None
        if not os.access(path, os.W_OK):
            raise MatchscopeError(f"{path}: the folder is not writable")

    def file_name(self, name: str | None) -> str:
        """The file a frame is written to (``name`` without a suffix gets ``.png``)."""
        if name is None:
            return f"frame_{self.count:06d}.png"
        if not name or Path(name).name != name:
            raise MatchscopeError(f"{name!r}: a frame's name must be a file name, not a path")
        return name if name.lower().endswith(".png") else f"{name}.png"

    def _write(self, rgb: np.ndarray, name: str | None) -> None:
        target = self.path / self.file_name(name)
        if not cv2.imwrite(str(target), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise MatchscopeError(f"{target}: cannot write the image")


def open_frame_writer(
    path: str | os.PathLike, fps: float, size_wh: tuple[int, int] | None = None
) -> FrameWriter:
    """The writer for ``path`` (module docstring): a video at ``fps`` or a folder of PNGs
    (``fps`` unused); ``size_wh`` (width, height) fixes the frames' size ahead of the first.
    :class:`MatchscopeError` for another suffix or a path that cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() or not suffix:
        return PngSequenceWriter(path, size_wh)
    if suffix not in VIDEO_SUFFIXES:
        raise MatchscopeError(
            f"{path}: cannot export to {suffix} files; use {', '.join(VIDEO_SUFFIXES)} or a folder"
        )
    if not path.parent.is_dir():
        raise MatchscopeError(f"{path}: no folder {path.parent}")
    return VideoFrameWriter(path, fps, size_wh)


def export_frames(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write every frame of ``frames`` to ``path`` (:func:`open_frame_writer`); the number
    written. ``progress(count)`` hears each frame written; ``cancel`` set stops before the
    next frame, the file still closed properly (the frames before it play)."""
    frames = iter(frames)
    with open_frame_writer(path, fps) as writer:
        while cancel is None or not cancel.is_set():  # checked before the next frame is made
            rgb = next(frames, None)
            if rgb is None:
                break
            writer.write(rgb)
            if progress is not None:
                progress(writer.count)
    return writer.count
