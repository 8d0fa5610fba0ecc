"""A small cache of computed features (RoMa's backbone tokens, a keypoint detector's output), so a
run at new settings on the same images skips the work already done.

Entries are keyed by the caller (image content from :func:`content_key`, the network and its
weights, the resolution, device and precision) and evicted least recently used first when there
are more than ``max_entries`` or they hold more than ``max_bytes``. Thread-safe. Inside
:func:`bypassed` (a benchmark timing its matchers) the thread neither reads nor fills any cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_THREAD = threading.local()


@contextmanager
def bypassed() -> Iterator[None]:
    """In this thread, every cache misses and stores nothing (other threads keep theirs)."""
    before = getattr(_THREAD, "bypass", False)
    _THREAD.bypass = True
    try:
        yield
    finally:
        _THREAD.bypass = before


def content_key(*arrays) -> str:
    """A digest of arrays' or CPU tensors' bytes, shapes and dtypes (BLAKE2b, 128 bits)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        if not isinstance(array, np.ndarray):
            array = array.detach().cpu().numpy()
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def nbytes(value) -> int:
    """Bytes held by arrays and tensors in ``value`` (a dict, list, tuple, dataclass, array or
    tensor)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, item.name)) for item in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(nbytes(item) for item in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(item) for item in value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "numel"):
        return int(value.element_size() * value.numel())
    return 0


class FeatureCache:
    """Least recently used entries, at most ``max_entries`` of them and ``max_bytes`` in all;
    ``hits`` and ``misses`` count lookups."""

    def __init__(self, max_entries: int = 4, max_bytes: int = 256 * 2**20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[object, int]] = OrderedDict()

    def get(self, key: tuple):
        """The value stored under ``key`` (now the most recently used), or None (always inside
        :func:`bypassed`)."""
        if getattr(_THREAD, "bypass", False):
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple, value) -> None:
        """Store ``value`` under ``key`` (replacing any), then evict down to the bounds; a value
        larger than ``max_bytes`` is not stored, nor anything inside :func:`bypassed`."""
        if getattr(_THREAD, "bypass", False):
            return
        size = nbytes(value)
        with self._lock:
            self._entries.pop(key, None)
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            total = sum(entry[1] for entry in self._entries.values())
            while len(self._entries) > self.max_entries or total > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                total -= evicted

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
