"""A video file read frame by frame through PyAV (MP4, MKV, AVI, MOV; no Qt).

At open every packet of the first video stream is demuxed (not decoded) once: that lists the
frames (presentation timestamps in stream time-base units, sorted) and where the keyframes are.
``read(position)`` is exact: it seeks to the keyframe at or before the frame and decodes forward
until the frame with that pts. The decoder stays where it stopped, so reading the next frame (or
any later frame of the same group of pictures) decodes forward without seeking.
"""

from __future__ import annotations

import bisect
import os
from collections import deque
from pathlib import Path

import av
import numpy as np

from core.errors import InputError
from core.sequence.base import FrameInfo, SequenceReader

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".avi", ".mov", ".webm")


def _packet_pts(packet) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


class VideoReader(SequenceReader):
    """Frames of the first video stream of ``path``; ``frame_id`` is the frame number and
    ``timestamp`` the seconds since the first frame. Raises :class:`InputError` when the file
    is not a readable video (not a video, no video stream, truncated without an index)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.is_file():
            raise InputError(self.path, "no such video file")
        self._container = None
        self._open()
        stream = self._stream
        pts, keyframes = self._list_packets()
        if not pts:
            self.close()
            raise InputError(self.path, "the video stream holds no frames (empty or corrupt)")
        self._pts = pts  # sorted presentation timestamps, one per frame
        self._key_pts = sorted(keyframes) or [pts[0]]
        time_base = float(stream.time_base) if stream.time_base else 0.0
        self.frames = [
            FrameInfo(i, i, (p - pts[0]) * time_base if time_base else None)
            for i, p in enumerate(pts)
        ]
        self.seeks = 0  # how many times read() had to seek (for tests and benchmarks)
        self._reset_decoder()

    # -- opening and listing --------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._container = av.open(str(self.path), "r")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise InputError(
                self.path, f"not a readable video (not a video, truncated or corrupt: {exc})"
            ) from None
        if not self._container.streams.video:
            self._container.close()
            self._container = None
            raise InputError(self.path, "the file holds no video stream")
        self._stream = self._container.streams.video[0]
        # slice threads: a seek decodes up to a GOP of frames and then wants one, which frame
        # threads (their pipeline fills first) make slower (bench ui: seek p95 36 vs 58 ms)
        self._stream.thread_type = "SLICE"

    def _list_packets(self) -> tuple[list[int], list[int]]:
        """(sorted pts of every frame, pts of the keyframes); a demuxing error ends the list
        there (a truncated file keeps the frames before the cut)."""
        pts, keys = set(), set()
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError):
                break
            p = _packet_pts(packet)
            if p is None or packet.size == 0:
                continue
            pts.add(p)
            if packet.is_keyframe:
                keys.add(p)
        return sorted(pts), keys

    # -- decoding -------------------------------------------------------------------------

    def _reset_decoder(self) -> None:
        self._demux = None  # packet iterator since the last seek
        self._pending: deque = deque()  # decoded frames not consumed yet, in pts order
        self._last_pts: int | None = None  # pts of the last frame taken from the decoder
        self._bad_packets: set[int] = set()

    def _seek(self, key_pts: int) -> None:
        self._container.seek(key_pts, stream=self._stream, backward=True, any_frame=False)
        self._reset_decoder()
        self._demux = self._container.demux(self._stream)
        self.seeks += 1

    def _decode_more(self) -> bool:
        """Decode packets until at least one frame is pending; False at the end of the file."""
        while not self._pending:
            if self._demux is None:
                return False
            try:
                packet = next(self._demux)
            except StopIteration:
                self._demux = None
                return False
            except (av.FFmpegError, OSError):  # truncated or corrupt past here
                self._demux = None
                return False
            try:
                frames = self._stream.codec_context.decode(packet)
            except (av.FFmpegError, ValueError):
                p = _packet_pts(packet)
                if p is not None:
                    self._bad_packets.add(p)
                continue
            self._pending.extend(f for f in frames if f.pts is not None)
            if packet.size == 0:  # the flush packet: the decoder is drained
                self._demux = None
                return bool(self._pending)
        return True

    def _next_frame(self):
        if not self._pending and not self._decode_more():
            return None
        frame = self._pending.popleft()
        self._last_pts = frame.pts
        return frame

    def _decode_to(self, target: int):
        """The decoded frame whose pts is ``target``, or None (missing, undecodable)."""
        while True:
            if self._pending and self._pending[0].pts > target:
                return None  # the frame was skipped by the decoder: undecodable
            frame = self._next_frame()
            if frame is None or frame.pts == target:
                return frame
            if frame.pts > target:
                self._pending.appendleft(frame)
                return None

    def _can_continue(self, target: int) -> bool:
        """True when decoding forward from where the decoder stands reaches ``target`` with
        no more frames decoded than a seek would: the frame after the last one decoded is at or
        after the target's keyframe (and not past the target)."""
        if self._last_pts is None or self._last_pts >= target:
            return False
        if self._demux is None and not self._pending:
            return False
        after_last = self._pts[
            min(bisect.bisect_right(self._pts, self._last_pts), len(self._pts) - 1)
        ]
        return self._keyframe_before(target) <= after_last

    def _keyframe_before(self, target: int) -> int:
        """pts of the last keyframe at or before pts ``target`` (the first frame if none)."""
        index = bisect.bisect_right(self._key_pts, target) - 1
        return self._key_pts[index] if index >= 0 else self._pts[0]

    def read(self, position: int) -> np.ndarray:
        """Frame ``position`` as (H, W, 3) uint8 RGB; :class:`InputError` if it cannot be
        decoded (the other frames still read)."""
        if not 0 <= position < len(self.frames):
            raise IndexError(f"frame position {position} outside 0..{len(self.frames) - 1}")
        if self._container is None:
            self._open()
            self._reset_decoder()
        target = self._pts[position]
        frame = None
        if self._can_continue(target):
            frame = self._decode_to(target)
        if frame is None:
            for key in (
                self._keyframe_before(target),
                self._pts[0],
            ):  # the stream's start: fallback
                try:
                    self._seek(key)
                except (av.FFmpegError, OSError):
                    continue
                frame = self._decode_to(target)
                if frame is not None or target in self._bad_packets:
                    break
        if frame is None:
            raise InputError(self.path, f"frame {position} cannot be decoded (corrupt data)")
        return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._reset_decoder()
