"""`features.npz`: one image's keypoints, scores and descriptors, as ``matchscope extract`` writes
them (detect and describe once, match later: sequences and visual odometry read these).

=============  ==========  ==========================================================
key            shape       meaning
=============  ==========  ==========================================================
keypoints      (K, 2)      float32, original pixels (top-left pixel centre at (0, 0))
scores         (K,)        float32, the detector's score of each keypoint
descriptors    (K, D)      float32 descriptors (L2-normalised for the learned ones)
map/NAME       (h, w)      float32 dense detector maps, with ``intermediates`` only
meta           ()          JSON: matcher, settings, weights (sha256), image, size (H, W)
=============  ==========  ==========================================================
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.matchers.keypoints import Features

_MAP_PREFIX = "map/"


def _array(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, np.float32)


def save_features(features: Features, path: str | Path, meta: dict) -> None:
    """Write ``features`` and ``meta`` (JSON-serialisable) to ``path`` (compressed npz)."""
    arrays = {
        "keypoints": _array(features.keypoints),
        "scores": _array(features.scores),
        "descriptors": _array(features.descriptors),
        "meta": np.array(json.dumps({**meta, "size_hw": list(features.size_hw)}, sort_keys=True)),
    }
    arrays.update({_MAP_PREFIX + name: _array(value) for name, value in features.maps.items()})
    np.savez_compressed(path, **arrays)


def load_features(path: str | Path) -> tuple[Features, dict]:
    """The :class:`Features` (descriptors as a float32 array) and the meta of a file written by
    :func:`save_features`; never unpickles."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(str(arrays.pop("meta")))
        features = Features(
            keypoints=arrays.pop("keypoints"),
            scores=arrays.pop("scores"),
            descriptors=arrays.pop("descriptors"),
            size_hw=tuple(meta["size_hw"]),
            maps={k[len(_MAP_PREFIX) :]: v for k, v in arrays.items() if k.startswith(_MAP_PREFIX)},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a Matchscope features file ({exc})") from None
    if features.keypoints.shape != (len(features.scores), 2) or len(features.descriptors) != len(
        features.scores
    ):
        raise InputError(path, "keypoints, scores and descriptors disagree in length")
    return features, meta
