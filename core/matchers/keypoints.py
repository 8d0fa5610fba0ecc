"""The base of the trained keypoint matchers: detect and describe each image once, then match.

A :class:`KeypointMatcher` splits a pair run into :meth:`~KeypointMatcher.extract` (one image:
keypoints, scores, descriptors, and with ``intermediates`` the detector's dense maps) and
:meth:`~KeypointMatcher.match_features` (two extracted images). Sequences and visual odometry
call ``extract`` once per frame and ``match_features`` per pair; ``match`` does both for a
pair. Results are sparse and carry ``keypoints_a``, ``keypoints_b`` and ``match_indices``.

Loaded networks are kept between runs (:func:`cached_model`), so building the matcher again
for the next run, as the window does, loads nothing. Before a pair run the memory it needs is
estimated (:meth:`KeypointMatcher.memory_need`) and a run that will not fit is refused
(:mod:`core.memory`), with the message a run that runs out of memory gives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import memory
from core.errors import InputError, MatchscopeError
from core.feature_cache import FeatureCache, content_key
from core.matchers.base import ConfiguredMatcher, Limit, check_device, torch_device
from core.result import MatchResult, Provenance
from core.run import RunControl
from core.weights import cached_sha256

MAX_CACHED_MODELS = 6
"""Loaded networks kept (the least recently used goes first); the largest, LightGlue, is 50 MB."""

_CACHE_LOCK = threading.Lock()
_MODEL_CACHE: OrderedDict[tuple, object] = OrderedDict()
EXTRACT_CACHE = FeatureCache(max_entries=4, max_bytes=128 * 2**20)
"""The two :class:`Features` of the last pairs a pair run extracted, by (matcher, its options
but the matching-only ones, weights, device, both images' content): a rerun of the pair with
other matching options (:data:`MATCH_ONLY_OPTIONS`) extracts nothing. Keyed by the pair, not
by the image, so a benchmark's pairs that share an image are each timed in full."""
MATCH_ONLY_OPTIONS = frozenset(
    {"depth_confidence", "width_confidence", "filter_threshold", "matcher_weights", "min_cossim"}
    | {"ratio", "mutual", "geometry", "ransac_threshold"}  # SIFT's
)


def cached_model(key: tuple, build: Callable[[], object]):
    """The model stored under ``key``, built with ``build()`` the first time (under a lock, so
    two threads never build the same model twice)."""
    with _CACHE_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            model = build()
            _MODEL_CACHE[key] = model
            while len(_MODEL_CACHE) > MAX_CACHED_MODELS:
                _MODEL_CACHE.popitem(last=False)
        _MODEL_CACHE.move_to_end(key)
        return model


def clear_model_cache() -> None:
    """Forget every loaded keypoint network (the next run loads its weights again) and the
    extracted features kept."""
    with _CACHE_LOCK:
        _MODEL_CACHE.clear()
    EXTRACT_CACHE.clear()


def out_of_memory_as_error(matcher: KeypointMatcher):
    """Turn running out of memory (CUDA's error, Python's MemoryError, the CPU allocator's
    RuntimeError) inside the block into one MatchscopeError line with what to lower
    (:func:`core.memory.out_of_memory_as_error`, with the pair run's estimate when known)."""
    return memory.out_of_memory_as_error(matcher.memory_need())


def weights_key(path: Path) -> tuple:
    """What identifies a weight file in a cache key: its resolved path, size and mtime."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


@dataclass
class Features:
    """One image, detected and described.

    keypoints: (K, 2) float32, original pixels (OpenCV convention: pixel centres at integers).
    scores: (K,) float32, the detector's score of each keypoint.
    descriptors: (K, D) what ``match_features`` takes: a torch tensor on the model's device
        (an array for SIFT).
    size_hw: (H, W) of the original image.
    maps: the detector's dense maps by name (only with ``intermediates``), e.g. ``score_map``
        (h, w) float32 covering the whole image at the detector's working resolution.
    extra: model-specific tensors ``match_features`` needs (e.g. XFeat*'s scales).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    descriptors: object
    size_hw: tuple[int, int]
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoints.shape[0])


COMMON_CONF = {
    "max_keypoints": 2048,
    "resize": 1024,
    "detection_threshold": 0.0,
    "device": "auto",
    "intermediates": False,
    "detector_weights": "",
}
COMMON_HELP = {
    "max_keypoints": "most keypoints detected per image",
    "resize": "the longer image side (px) the detector runs at (images are upsampled too); "
    "0 = original size",
    "detection_threshold": "smallest detector score of a keypoint",
    "device": "auto, cpu or cuda",
    "intermediates": "keep the score maps, all keypoints with their scores and the matcher's "
    "internals (see the result's meta)",
    "detector_weights": "your own checkpoint of the detector (same architecture); empty = the "
    "weights shipped in the package",
}
COMMON_LIMITS = {
    "max_keypoints": Limit(1),
    "resize": Limit(0),
    "detection_threshold": Limit(0.0, 1.0),
}


class KeypointMatcher(ConfiguredMatcher):
    """A detector + descriptor + matcher; subclasses implement :meth:`extract` and
    :meth:`match_features` and set ``weight_names``."""

    work_bytes_per_pixel = 2048
    """Memory an extraction takes per pixel of the working image (the detector's feature maps);
    a rough figure for the estimate of :meth:`memory_need`."""
    bytes_per_keypoint_pair = 16
    """Memory of matching per entry of the (K + 1)^2 score matrix (float32, a few copies)."""

    def __init__(self, **overrides):
        super().__init__(**overrides)
        if "device" in self.conf:
            check_device(self.conf["device"], self.name)
        self.weights: dict[str, str] = {}  # {file name: sha256} of the weights loaded
        self._sizes: tuple = ()  # the (H, W) of the pair being run, for the memory estimate

    @property
    def device(self):
        """The ``torch.device`` the networks run on."""
        return torch_device(self.conf["device"])

    @classmethod
    def weight_sources(cls, conf: dict) -> dict[str, tuple[str, str, str]]:
        """{role, e.g. "detector": (the user's file or "", package key of
        :data:`core.models.packages.PACKAGES`, the file shipped in it)} for options ``conf``."""
        return {}

    @classmethod
    def locate_weights(cls, conf: dict) -> dict[str, Path | MatchscopeError]:
        """{role: the weight file it loads, or the error saying why it cannot} without loading
        anything: the user's file when given, else the one shipped in the package."""
        from core.models.packages import packaged_file

        found: dict[str, Path | MatchscopeError] = {}
        for role, (explicit, package, filename) in cls.weight_sources(conf).items():
            try:
                if explicit:
                    found[role] = Path(explicit).expanduser()
                    if not found[role].is_file():
                        raise InputError(found[role], "no such file")
                else:
                    found[role] = packaged_file(package, filename)
            except MatchscopeError as exc:
                found[role] = exc
        return found

    def weight_path(self, role: str) -> Path:
        """The file ``role`` loads with this matcher's options; MatchscopeError if none."""
        place = self.locate_weights(self.conf)[role]
        if isinstance(place, MatchscopeError):
            raise place
        return place

    def record_weights(self, path: Path) -> None:
        """Note a loaded weight file's SHA-256 for the provenance."""
        self.weights[path.name] = cached_sha256(path)

    def extract(self, rgb: np.ndarray) -> Features:
        """Detect and describe one (H, W, 3) uint8 RGB image."""
        raise NotImplementedError

    def match_features(
        self, features_a: Features, features_b: Features, control: RunControl | None = None
    ) -> MatchResult:
        """Match two extracted images: a sparse result with ``keypoints_a``, ``keypoints_b``
        and ``match_indices``. Its stages (``control.stage``) start at 0.75 of a pair run."""
        raise NotImplementedError

    def load(self) -> None:
        """Load the networks (from the cache when already loaded); ``extract`` calls it too."""

    def memory_need(self) -> memory.MemoryNeed:
        """The estimate of a pair run: the weights not loaded yet (their files' sizes), one
        image's detector maps at the working size (the larger of the pair's, once known) and
        the (K + 1)^2 match scores (LightGlue's assignment, a similarity matrix)."""
        conf = self.conf
        keypoints = int(conf.get("max_keypoints", 0))
        resize = int(conf.get("resize", 0) or 0)
        pixels = 0
        for height, width in self._sizes:
            scale = resize / max(height, width) if resize else 1.0
            pixels = max(pixels, round(height * scale) * round(width * scale))
        needed = pixels * self.work_bytes_per_pixel
        needed += self.bytes_per_keypoint_pair * (keypoints + 1) ** 2
        if not self.weights:  # not loaded by this matcher: count the files
            for place in self.locate_weights(conf).values():
                if isinstance(place, Path) and place.is_file():
                    needed += place.stat().st_size
        size = f"resize {resize}" if resize else "original size"
        return memory.MemoryNeed(
            what=self.name,
            device=str(self.device) if "device" in conf else "cpu",
            needed=needed if self._sizes else None,
            settings=f"{size}, max_keypoints {keypoints}",
            suggestion="lower max_keypoints or resize, or use device=cpu",
        )

    def match(
        self, rgb_a: np.ndarray, rgb_b: np.ndarray, control: RunControl | None = None
    ) -> MatchResult:
        control = control or RunControl()
        with control.stage("load weights", 0.0):
            self._sizes = (rgb_a.shape[:2], rgb_b.shape[:2])
            memory.check_memory(self.memory_need())
            self.load()
        key = self._features_key(rgb_a, rgb_b)
        cached = None if key is None else EXTRACT_CACHE.get(key)
        if cached is not None:
            features_a, features_b = cached
        else:
            with control.stage("extract A", 0.05):
                features_a = self.extract(rgb_a)
            with control.stage("extract B", 0.4):
                features_b = self.extract(rgb_b)
            if key is not None:
                EXTRACT_CACHE.put(key, (features_a, features_b))
        return self.match_features(features_a, features_b, control)

    def _features_key(self, rgb_a: np.ndarray, rgb_b: np.ndarray) -> tuple | None:
        """The pair's key in :data:`EXTRACT_CACHE`: the matcher, its options but the
        matching-only ones, its weights, device and both images' content; None for a plugin
        (its options are unknown)."""
        if not type(self).__module__.startswith("core.matchers."):
            return None
        options = repr(
            sorted(item for item in self.conf.items() if item[0] not in MATCH_ONLY_OPTIONS)
        )
        device = str(self.device) if "device" in self.conf else "cpu"
        key = (type(self).__module__, type(self).__qualname__, options, device)
        return (*key, tuple(sorted(self.weights.items())), content_key(rgb_a, rgb_b))

    def provenance(self) -> Provenance:
        return Provenance(matcher=self.name, settings=dict(self.conf), weights=dict(self.weights))


def keypoint_intermediates(
    features_a: Features, features_b: Features
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The intermediates every keypoint matcher gives with ``intermediates``: both images'
    keypoint scores and dense maps (``<map>_a``, ``<map>_b``), with their docs."""
    arrays = {
        "keypoint_scores_a": features_a.scores.astype(np.float32),
        "keypoint_scores_b": features_b.scores.astype(np.float32),
    }
    docs = {
        "keypoint_scores_a": "(K_A,) detector score of each keypoint of A (keypoints_a)",
        "keypoint_scores_b": "(K_B,) detector score of each keypoint of B (keypoints_b)",
    }
    for side, features in (("a", features_a), ("b", features_b)):
        for name, array in features.maps.items():
            arrays[f"{name}_{side}"] = array.astype(np.float32)
            docs[f"{name}_{side}"] = MAP_DOCS.get(name, name).replace("{side}", side.upper())
    return arrays, docs


MAP_DOCS = {
    "score_map": "(h, w) the detector's dense score of {side} in [0, 1], covering the whole image "
    "at the detector's working resolution (stretch it over the image)",
    "reliability_map": "(h/8, w/8) XFeat's reliability map of {side} in [0, 1], covering the "
    "whole image at stride 8 of the working resolution",
}
"""Docs of the dense maps, by map name ({side} is A or B)."""
