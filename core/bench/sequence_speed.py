"""How fast a video seeks and how much memory a long sequence takes (no Qt; ``bench ui``).

* :func:`encode_bench_video` writes a textured H.264 video with a keyframe exactly every ``gop``
  frames (x264's ``keyint = min-keyint = gop``, no scene-cut keyframes): a smooth random texture
  scrolled a few pixels per frame, so every frame differs everywhere and decoding costs what a
  real video's does. Each frame carries its index as a bar code along its top edge (bit b of
  the index white in the b-th of ``max(8, bits of frames - 1)`` equal blocks), which survives
  the lossy compression: :func:`frame_index` reads it back.
* :func:`measure_seeks` times exact seeks with :class:`core.sequence.video.VideoReader` (one
  reader, a warm-up read first): an in-order pass over every frame (the reference: decoding
  without seeking), then random positions; every frame read is checked against its bar code.
* :func:`measure_sequence_memory` walks a long generated sequence pair by pair, as matching a
  sequence does: frames through a :class:`core.sequence.cache.FrameCache` of a byte budget, and
  each consecutive pair's small sparse result kept in a second byte-budgeted cache. The peak
  resident set over the walk (:class:`core.bench.measure.PeakMemory`) less the resident set
  before it is the growth; less both budgets, what the caches' bookkeeping does not see.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import cv2
import numpy as np

from core.bench import measure
from core.sequence.base import FrameInfo, SequenceReader
from core.sequence.cache import FrameCache
from core.sequence.video import VideoReader

CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"
SCROLL_PX = (3, 1)
"""Pixels (x, y) the texture moves between frames."""
PAIR_MATCHES = 2000
"""Matches of each pair's sparse result in :func:`measure_sequence_memory`: (x_a, y_a, x_b,
y_b, certainty) float32, 40 kB a pair."""
RESULTS_BUDGET_BYTES = 64 * measure.MB
"""The byte budget of the pairs' results in :func:`measure_sequence_memory`."""


def texture(size_wh: tuple[int, int], seed: int) -> np.ndarray:
    """(H, W, 3) uint8 smooth random texture with detail at every scale from 2 to 128 px."""
    width, height = size_wh
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cell, weight in ((128, 0.4), (32, 0.3), (8, 0.2), (2, 0.1)):
        grid = rng.random((height // cell + 2, width // cell + 2, 3), dtype=np.float32)
        image += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def _bits(frames: int) -> int:
    return max(8, (frames - 1).bit_length())


def _bar_height(height: int) -> int:
    return max(8, height // 24)


def bench_frame(base: np.ndarray, index: int, frames: int) -> np.ndarray:
    """Frame ``index`` of a :func:`encode_bench_video` video of ``frames`` frames: ``base``
    scrolled by ``index`` steps of :data:`SCROLL_PX`, the index's bar code on top."""
    rgb = np.roll(base, (index * SCROLL_PX[1], index * SCROLL_PX[0]), axis=(0, 1))
    bits, bar = _bits(frames), _bar_height(base.shape[0])
    step = base.shape[1] // bits
    for b in range(bits):
        rgb[:bar, b * step : (b + 1) * step] = 255 if index >> b & 1 else 0
    return rgb


def frame_index(rgb: np.ndarray, frames: int) -> int:
    """The index a decoded :func:`bench_frame` of a ``frames``-frame video shows (each block's
    centre half, averaged, against mid-grey)."""
    bits, bar = _bits(frames), _bar_height(rgb.shape[0])
    step = rgb.shape[1] // bits
    strip = rgb[bar // 4 : bar - bar // 4].astype(np.float32).mean(axis=(0, 2))
    means = [strip[b * step + step // 4 : (b + 1) * step - step // 4].mean() for b in range(bits)]
    return sum(1 << b for b, mean in enumerate(means) if mean > 128)


def encode_bench_video(
    path: str | os.PathLike,
    size_wh: tuple[int, int] = (1240, 376),
    frames: int = 500,
    gop: int = 30,
    fps: int = 10,
    seed: int = 0,
) -> Path:
    """Write ``frames`` :func:`bench_frame` frames of ``size_wh`` (width, height; even) to
    ``path`` as H.264 (x264's ``veryfast`` preset, CRF 23; MPEG-4 where PyAV's FFmpeg has no
    x264) with a keyframe every ``gop`` frames; returns the path."""
    path = Path(path)
    base = texture(size_wh, seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(CODEC, rate=fps)
        stream.width, stream.height = size_wh
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if CODEC == "libx264":
            stream.options = {
                "preset": "veryfast",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            }
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(bench_frame(base, index, frames), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def keyframe_positions(path: str | os.PathLike) -> list[int]:
    """Positions (in presentation order) of the keyframes of ``path``'s first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    order = sorted(pts for pts, _ in packets)
    keys = {pts for pts, key in packets if key}
    return [position for position, pts in enumerate(order) if pts in keys]


def _timed_read(reader: VideoReader, position: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    rgb = reader.read(position)
    return (time.perf_counter() - start) * 1e3, rgb


def measure_seeks(path: str | os.PathLike, seeks: int = 200, seed: int = 0) -> dict:
    """Exact seeks in a :func:`encode_bench_video` video (module docstring).

    Returns ``seek_ms_median``, ``seek_ms_p95``, ``seek_ms_max`` (each random read, ms),
    ``sequential_ms_per_frame`` (the in-order pass), ``seek_exact`` (every frame read, in order
    and at random, was the one asked for), ``wrong_frames``, ``frames``, ``seeks`` and
    ``decoder_seeks`` (how many random reads seeked; the others decoded forward from where the
    decoder stood, in the same group of pictures)."""
    reader = VideoReader(path)
    try:
        count = len(reader)
        rng = np.random.default_rng(seed)
        wrong = 0
        reader.read(count // 2)  # warm-up: the decoder's threads and buffers
        start = time.perf_counter()
        for position in range(count):
            wrong += int(frame_index(reader.read(position), count) != position)
        sequential_ms = (time.perf_counter() - start) * 1e3 / count
        seeks_before = reader.seeks
        times = []
        for position in rng.integers(0, count, seeks):
            elapsed, rgb = _timed_read(reader, int(position))
            times.append(elapsed)
            wrong += int(frame_index(rgb, count) != position)
        decoder_seeks = reader.seeks - seeks_before
    finally:
        reader.close()
    return {
        "seek_ms_median": float(np.median(times)),
        "seek_ms_p95": float(np.percentile(times, 95)),
        "seek_ms_max": float(max(times)),
        "sequential_ms_per_frame": sequential_ms,
        "seek_exact": wrong == 0,
        "wrong_frames": wrong,
        "frames": count,
        "seeks": seeks,
        "decoder_seeks": decoder_seeks,
    }


class GeneratedSequence(SequenceReader):
    """``length`` frames made on read: one :func:`texture` of ``size_wh`` (width, height)
    scrolled by :data:`SCROLL_PX` per frame (a new array each read, as a decoder gives)."""

    def __init__(self, length: int, size_wh: tuple[int, int], seed: int = 0):
        self.name = f"generated {size_wh[0]} x {size_wh[1]}"
        self.frames = [FrameInfo(i, i, i / 10) for i in range(length)]
        self._base = texture(size_wh, seed)

    def read(self, position: int) -> np.ndarray:
        shift = (position * SCROLL_PX[1], position * SCROLL_PX[0])
        return np.roll(self._base, shift, axis=(0, 1))


class _PairResults(SequenceReader):
    """The fake sparse result of pair (t, t + 1) at position t: (:data:`PAIR_MATCHES`, 5)
    float32 rows (x_a, y_a, x_b, y_b, certainty), made from the two frames."""

    def __init__(self, frames: FrameCache, seed: int):
        self.frames = frames.reader.frames[:-1]
        self._cache = frames
        self._seed = seed

    def read(self, position: int) -> np.ndarray:
        rgb_a, rgb_b = self._cache.get(position), self._cache.get(position + 1)
        height, width = rgb_a.shape[:2]
        rng = np.random.default_rng((self._seed, position))
        points_a = rng.random((PAIR_MATCHES, 2), dtype=np.float32) * [width - 1, height - 1]
        points_b = points_a - np.float32(SCROLL_PX)
        rows, columns = points_a[:, 1].astype(int), points_a[:, 0].astype(int)
        certainty = (rgb_a[rows, columns, 0] / 255.0 + rgb_b[rows, columns, 0] / 255.0) / 2
        return np.column_stack([points_a, points_b, certainty]).astype(np.float32)


def measure_sequence_memory(
    frames: int = 5000,
    size_wh: tuple[int, int] = (1241, 376),
    cache_budget_bytes: int = 256 * measure.MB,
    seed: int = 0,
    results_budget_bytes: int = RESULTS_BUDGET_BYTES,
) -> dict:
    """Memory of a walk over a :class:`GeneratedSequence` of ``frames`` frames (module
    docstring). Returns ``sequence_frames``, ``cache_budget_mb`` (the frames'),
    ``results_budget_mb``, ``peak_growth_mb`` (peak resident set less the one before),
    ``peak_over_budget_mb`` (the growth less both budgets), ``frame_cache_mb`` and
    ``results_cache_mb`` (what the caches held at the end), ``seconds`` and the peak's
    ``peak_memory_method``."""
    reader = GeneratedSequence(frames, size_wh, seed)
    measure.release_memory("cpu")
    start = time.perf_counter()
    with measure.PeakMemory("cpu") as peak:
        before = measure.current_rss() or 0
        cache = FrameCache(reader, cache_budget_bytes)
        results = FrameCache(_PairResults(cache, seed), results_budget_bytes)
        for position in range(frames - 1):
            results.get(position)
        sizes = cache.nbytes, results.nbytes
    seconds = time.perf_counter() - start
    growth = max(peak.bytes - before, 0)
    return {
        "sequence_frames": frames,
        "cache_budget_mb": cache_budget_bytes / measure.MB,
        "results_budget_mb": results_budget_bytes / measure.MB,
        "peak_growth_mb": growth / measure.MB,
        "peak_over_budget_mb": (growth - cache_budget_bytes - results_budget_bytes) / measure.MB,
        "frame_cache_mb": sizes[0] / measure.MB,
        "results_cache_mb": sizes[1] / measure.MB,
        "seconds": seconds,
        "peak_memory_method": peak.method,
    }
