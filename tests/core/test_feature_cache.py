"""The feature cache: least recently used first out, bounded in entries and bytes."""

from __future__ import annotations

import numpy as np
import torch

from core.feature_cache import FeatureCache, content_key, nbytes


def test_entries_and_bytes_are_bounded_least_recently_used_first():
    cache = FeatureCache(max_entries=2, max_bytes=1000)
    cache.put(("a",), np.zeros(100, np.uint8))
    cache.put(("b",), np.zeros(100, np.uint8))
    assert cache.get(("a",)) is not None  # a is now the most recent
    cache.put(("c",), np.zeros(100, np.uint8))
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None and len(cache) == 2
    cache.put(("big",), {"x": torch.zeros(228, dtype=torch.float32)})  # 912 bytes: a, c go
    assert len(cache) == 1 and cache.get(("big",)) is not None
    cache.put(("huge",), np.zeros(2000, np.uint8))  # larger than the whole cache: not kept
    assert cache.get(("huge",)) is None and cache.get(("big",)) is not None
    assert (cache.hits, cache.misses) == (4, 2)


def test_content_keys_follow_the_bytes_shape_and_dtype():
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert content_key(image) == content_key(image.copy()) == content_key(torch.from_numpy(image))
    changed = image.copy()
    changed[1, 1, 1] += 1
    assert content_key(changed) != content_key(image)
    assert content_key(image.reshape(4, 2, 3)) != content_key(image)
    assert content_key(image.astype(np.int8)) != content_key(image)
    assert nbytes({"a": [np.zeros(3, np.float32), torch.zeros(2, dtype=torch.float16)]}) == 16


def test_inside_bypassed_this_thread_neither_reads_nor_fills_a_cache():
    import threading

    from core.feature_cache import bypassed

    cache = FeatureCache(max_entries=4)
    cache.put(("a",), np.zeros(3))
    with bypassed():
        assert cache.get(("a",)) is None
        cache.put(("b",), np.zeros(3))
        seen = []
        other = threading.Thread(target=lambda: seen.append(cache.get(("a",))))
        other.start()
        other.join()
        assert seen[0] is not None  # another thread still reads it
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None
