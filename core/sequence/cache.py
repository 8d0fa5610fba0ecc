"""A bounded cache of decoded frames, least recently used evicted (no Qt)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from core.sequence.base import SequenceReader


class FrameCache:
    """Decoded frames of ``reader`` kept up to ``max_bytes`` (the bytes of their arrays);
    ``get(position)`` decodes on a miss and evicts the least recently used frames. A frame
    larger than the whole budget is returned but not kept."""

    def __init__(self, reader: SequenceReader, max_bytes: int):
        self.reader = reader
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, position: int) -> bool:
        return position in self._frames

    def get(self, position: int) -> np.ndarray:
        """Frame ``position`` (H, W, 3) uint8; the reader's :class:`InputError` passes through
        (a bad frame is not cached)."""
        frame = self._frames.get(position)
        if frame is not None:
            self._frames.move_to_end(position)
            self.hits += 1
            return frame
        self.misses += 1
        frame = self.reader.read(position)
        frame.setflags(write=False)  # shared by every caller
        if frame.nbytes <= self.max_bytes:
            self._frames[position] = frame
            self.nbytes += frame.nbytes
            while self.nbytes > self.max_bytes:
                _, old = self._frames.popitem(last=False)
                self.nbytes -= old.nbytes
        return frame

    def clear(self) -> None:
        self._frames.clear()
        self.nbytes = 0
