"""VO front-ends: each detects and describes a frame once (`Frontend.detect`) and matches two
frames' features (`Frontend.match`), never re-detecting per pair.

Keypoints are pixels of the image as recorded (distorted); `Features.ideal` holds them
undistorted with the camera's K and distortion (what the back-end's geometry uses). Every match
carries a standard deviation in pixels (``sigma_px``): a detector's scale (ORB's pyramid level,
SIFT's size) or a learned uncertainty, the weight of its residual in bundle adjustment.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import MatchscopeError
from core.sequence.base import Intrinsics


@dataclass
class Features:
    """One frame's features: (N, 2) float64 ``keypoints`` (pixels of the recorded image),
    (N, 2) float64 ``ideal`` (undistorted pixels), (N, D) ``descriptors``, (N,) float64
    ``sigma_px`` (each keypoint's position standard deviation, pixels) and (N, 3) uint8
    ``colours`` (the image at each keypoint). ``native``: what a trained matcher's
    ``match_features`` takes (its own `core.matchers.keypoints.Features`), None for OpenCV's."""

    keypoints: np.ndarray
    ideal: np.ndarray
    descriptors: np.ndarray
    sigma_px: np.ndarray
    colours: np.ndarray
    native: object = None

    def __len__(self) -> int:
        return len(self.keypoints)


class Frontend(ABC):
    """Detects (`detect`) and matches (`match`) features for VO."""

    name: str = ""

    def __init__(self, intrinsics: Intrinsics, max_features: int = 2000):
        self.K = np.asarray(intrinsics.K, np.float64)
        self.distortion = np.asarray(intrinsics.distortion, np.float64)
        self.max_features = max_features

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> Features:
        """Features of an (H, W, 3) uint8 RGB frame."""

    def _features(self, rgb, keypoints, descriptors, sigma, native=None) -> Features:
        """`Features` of (N, 2) keypoints of ``rgb``: undistorted, with their colours."""
        keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
        height, width = rgb.shape[:2]
        cols = np.clip(np.round(keypoints[:, 0]).astype(int), 0, width - 1)
        rows = np.clip(np.round(keypoints[:, 1]).astype(int), 0, height - 1)
        colours = rgb[rows, cols].copy()
        return Features(keypoints, self.undistort(keypoints), descriptors, sigma, colours, native)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) recorded pixels -> (N, 2) ideal pinhole pixels (the same K, no distortion)."""
        if len(pixels) == 0 or not np.any(self.distortion):
            return np.asarray(pixels, np.float64).reshape(-1, 2)
        points = np.asarray(pixels, np.float64).reshape(-1, 1, 2)
        return cv2.undistortPoints(points, self.K, self.distortion, P=self.K).reshape(-1, 2)

    @abstractmethod
    def match(self, a: Features, b: Features) -> np.ndarray:
        """(M, 2) int indices ``[i_a, i_b]`` of distinctive matches, one per keypoint of b."""

    def match_rows(self, a: Features, rows: np.ndarray, b: Features) -> np.ndarray:
        """`match` of only the keypoints ``rows`` (int indices) of a: those that see a map
        point, when tracking. Here all of a is matched and the others' matches dropped (a
        learned matcher looks at every keypoint); a front-end that matches each keypoint
        on its own matches only those rows."""
        matches = self.match(a, b)
        return matches[np.isin(matches[:, 0], rows)]

    def match_loosely(self, a: Features, b: Features) -> np.ndarray:
        """`match` with a looser distinctiveness test, for a search whose matches RANSAC
        checks at once (relocalisation): more of the correct matches, more wrong ones. Here
        `match` itself (the front-ends without such a test)."""
        return self.match(a, b)

    max_distance: float = 0.0
    """The largest descriptor distance of a match found by projection (`distances`)."""

    match_error_px: float = 2.0
    """The reprojection error (px) a correct match of this front-end stays within: PnP's
    inlier threshold and the triangulation test of new points."""

    keyframe_tracked_share: float = 0.5
    """A frame becomes a keyframe when its PnP inliers fall below this share of the points
    the last keyframe sees (or ``tracker.KEYFRAME_MAX_GAP`` frames after it)."""

    @abstractmethod
    def distances(self, descriptors_a: np.ndarray, descriptors_b: np.ndarray) -> np.ndarray:
        """(P,) distances between the rows of two (P, D) descriptor arrays."""


class OpenCvFrontend(Frontend):
    """A detector and descriptor of OpenCV's (``self.detector``), matched by brute force
    (``self.matcher``) with a ratio test, one match per keypoint of b. ``DESCRIPTOR`` is the
    (width, dtype) of a descriptor; `_sigma` each keypoint's position standard deviation."""

    RATIO = 0.7
    LOOSE_RATIO = 0.9
    """`match_loosely`'s ratio. On fountain-P11 (11 frames about 10 degrees apart, at
    1229 x 819, 1200 ORB keypoints) the ratio matches between neighbours are 91 to 210 at 0.7
    and 261 to 399 at 0.9, of which 78 to 201 and 162 to 331 are correct (within 2 px of the
    true epipolar line); relocalising with 0.9 there took tracking from 9 to all 11 frames."""
    MAX_DISTANCE: float | None = None  # of a match by descriptor (None: the ratio test only)
    DESCRIPTOR: tuple[int, type] = (0, np.uint8)

    def detect(self, rgb):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        keypoints, descriptors = self.detector.detectAndCompute(grey, None)
        if descriptors is None:
            width, dtype = self.DESCRIPTOR
            return self._features(rgb, np.zeros((0, 2)), np.zeros((0, width), dtype), np.zeros(0))
        points = np.array([k.pt for k in keypoints], np.float64)
        return self._features(rgb, points, descriptors, self._sigma(keypoints))

    @abstractmethod
    def _sigma(self, keypoints) -> np.ndarray:
        """(N,) position standard deviation (px) of OpenCV's keypoints."""

    def match(self, a, b):
        return ratio_matches(
            self.matcher, a.descriptors, b.descriptors, self.RATIO, self.MAX_DISTANCE
        )

    def match_loosely(self, a, b):
        return ratio_matches(
            self.matcher, a.descriptors, b.descriptors, self.LOOSE_RATIO, self.MAX_DISTANCE
        )

    def match_rows(self, a, rows, b):
        rows = np.asarray(rows, np.int64)
        matches = ratio_matches(
            self.matcher, a.descriptors[rows], b.descriptors, self.RATIO, self.MAX_DISTANCE
        )
        matches[:, 0] = rows[matches[:, 0]]
        return matches


class OrbFrontend(OpenCvFrontend):
    """OpenCV's ORB (FAST corners on an 8-level pyramid, rotated BRIEF), matched by Hamming
    distance. A keypoint's sigma is its pyramid scale (1.2 per level, as ORB-SLAM weights its
    observations).

    Keypoints are spread over the image as ORB-SLAM spreads them: ORB detects
    ``CANDIDATES_PER_FEATURE`` times ``max_features`` corners, `spread_keypoints` keeps the
    strongest of each ``CELL_PX`` cell first, and only those are described. OpenCV's own
    selection (the strongest anywhere) piles them onto foliage: on KITTI 06 frames 0-50 the
    essential-matrix chain of `core.bench.vo` drifts 1.51 % of the path with it, 0.22 % spread."""

    name = "orb"
    SCALE_FACTOR = 1.2
    LEVELS = 8
    MAX_DISTANCE = 64  # Hamming distance of 256-bit descriptors
    DESCRIPTOR = (32, np.uint8)
    CANDIDATES_PER_FEATURE = 3
    CELL_PX = 40
    max_distance = MAX_DISTANCE

    def __init__(self, intrinsics: Intrinsics, max_features: int | None = None):
        if max_features is None:
            max_features = orb_keypoint_count(intrinsics.size_hw)
        super().__init__(intrinsics, max_features)
        self.detector = cv2.ORB_create(
            nfeatures=self.CANDIDATES_PER_FEATURE * max_features,
            scaleFactor=self.SCALE_FACTOR,
            nlevels=self.LEVELS,
            fastThreshold=5,
        )
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)

    def detect(self, rgb):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        candidates = self.detector.detect(grey, None)
        chosen = spread_keypoints(
            np.array([k.pt for k in candidates], np.float64).reshape(-1, 2),
            np.array([k.response for k in candidates], np.float64),
            self.max_features,
            self.CELL_PX,
        )
        keypoints, descriptors = self.detector.compute(grey, [candidates[i] for i in chosen])
        if descriptors is None or not keypoints:
            width, dtype = self.DESCRIPTOR
            return self._features(rgb, np.zeros((0, 2)), np.zeros((0, width), dtype), np.zeros(0))
        points = np.array([k.pt for k in keypoints], np.float64)
        return self._features(rgb, points, descriptors, self._sigma(keypoints))

    def _sigma(self, keypoints):
        return self.SCALE_FACTOR ** np.array([k.octave for k in keypoints], np.float64)

    def distances(self, descriptors_a, descriptors_b):
        differing = np.bitwise_xor(descriptors_a, descriptors_b)
        return np.unpackbits(differing, axis=1).sum(axis=1).astype(np.float64)


ORB_KEYPOINTS = (1200, 3000)
"""ORB's default keypoints per frame: KITTI's density (1200 on a 1226 x 370 frame, chosen
for 20 frames/s there), at least 1200 and at most 3000 (`orb_keypoint_count`). On
fountain-P11 at 1229 x 819, 1200 lost the last two of 11 frames (4.8 % of the path) and 2000
to 3000 tracked them all (0.05 to 0.09 %)."""


def orb_keypoint_count(size_hw: tuple[int, int] | None) -> int:
    """ORB's keypoints for frames of ``size_hw`` pixels (`ORB_KEYPOINTS`; None: the least)."""
    least, most = ORB_KEYPOINTS
    if size_hw is None:
        return least
    kitti_pixels = 1226 * 370
    return int(np.clip(round(least * size_hw[0] * size_hw[1] / kitti_pixels), least, most))


class SiftFrontend(OpenCvFrontend):
    """OpenCV's SIFT, matched by L2 distance (Lowe's ratio test). A keypoint's sigma grows with
    its scale (size / 4 px, at least 1)."""

    name = "sift"
    DESCRIPTOR = (128, np.float32)
    max_distance = 250.0  # L2 of OpenCV's SIFT descriptors (norm about 512)

    def __init__(self, intrinsics: Intrinsics, max_features: int = 2000):
        super().__init__(intrinsics, max_features)
        self.detector = cv2.SIFT_create(nfeatures=max_features)
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)

    def _sigma(self, keypoints):
        return np.maximum(np.array([k.size for k in keypoints], np.float64) / 4.0, 1.0)

    def distances(self, descriptors_a, descriptors_b):
        difference = descriptors_a.astype(np.float32) - descriptors_b.astype(np.float32)
        return np.linalg.norm(difference, axis=1).astype(np.float64)


def spread_keypoints(
    points: np.ndarray, response: np.ndarray, count: int, cell_px: float
) -> np.ndarray:
    """Indices of at most ``count`` of (N, 2) ``points`` (pixels) spread over the image: each
    square cell of ``cell_px`` gives its strongest ``response`` first, then its second
    strongest, and so on, the stronger first within each round."""
    if len(points) <= count:
        return np.arange(len(points))
    cell_xy = np.floor(points / cell_px).astype(np.int64)
    cells = cell_xy[:, 1] * (int(cell_xy[:, 0].max()) + 1) + cell_xy[:, 0]
    by_cell = np.lexsort((-response, cells))  # by cell, strongest first
    sorted_cells = cells[by_cell]
    group_start = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    starts = np.repeat(group_start, np.diff(np.r_[group_start, len(by_cell)]))
    rank = np.empty(len(points), np.int64)
    rank[by_cell] = np.arange(len(by_cell)) - starts
    return np.lexsort((-response, rank))[:count]


def ratio_matches(
    matcher: cv2.DescriptorMatcher,
    descriptors_a: np.ndarray,
    descriptors_b: np.ndarray,
    ratio: float,
    max_distance: float | None = None,
) -> np.ndarray:
    """(M, 2) indices of matches a -> b that pass the ratio test (best < ``ratio`` x second
    best) and, when given, ``max_distance``, one per keypoint of b (the closest: a one-to-one
    assignment without a second, backward search)."""
    if len(descriptors_a) < 2 or len(descriptors_b) < 2:
        return np.zeros((0, 2), np.int64)
    knn = [pair for pair in matcher.knnMatch(descriptors_a, descriptors_b, k=2) if len(pair) == 2]
    if not knn:
        return np.zeros((0, 2), np.int64)
    table = np.array([(m.queryIdx, m.trainIdx, m.distance, n.distance) for m, n in knn], np.float64)
    keep = table[:, 2] < ratio * table[:, 3]
    if max_distance is not None:
        keep &= table[:, 2] <= max_distance
    table = table[keep]
    order = np.lexsort((table[:, 2], table[:, 1]))  # by b, then by distance
    table = table[order]
    first = np.ones(len(table), bool)
    first[1:] = table[1:, 1] != table[:-1, 1]
    return table[first][:, :2].astype(np.int64)


class TrainedFrontend(Frontend):
    """A shipped keypoint matcher (``matcher_name``) as a front-end: its ``extract`` detects
    and describes a frame once (at the frame's own size), its ``match_features`` matches two
    (mutual nearest neighbours for XFeat, LightGlue's assignment for the glue matchers). The
    descriptors are unit vectors: a match found by projection is within an L2 distance of
    ``max_distance`` (a cosine of at least 0.75). A keypoint's sigma is 1 px."""

    matcher_name = ""
    max_distance = 0.7
    matcher_conf: dict[str, object] = {}  # the matcher's options for VO beyond the defaults

    def __init__(self, intrinsics: Intrinsics, max_features: int = 2048):
        from core.matchers import create_matcher

        super().__init__(intrinsics, max_features)
        self.name = self.matcher_name
        conf = {"max_keypoints": max_features, "resize": 0, "device": "cpu"}
        self.matcher = create_matcher(self.matcher_name, {**conf, **self.matcher_conf})
        self.matcher.load()  # now: a bad weight file fails before the run, not in its time

    def detect(self, rgb: np.ndarray) -> Features:
        native = self.matcher.extract(rgb)
        descriptors = native.descriptors
        if hasattr(descriptors, "detach"):  # a torch tensor on the model's device
            descriptors = descriptors.detach().float().cpu().numpy()
        descriptors = np.asarray(descriptors, np.float32)
        count = len(native.keypoints)
        return self._features(rgb, native.keypoints, descriptors, np.ones(count), native)

    def match(self, a, b):
        if a.native is None or b.native is None or len(a) == 0 or len(b) == 0:
            return np.zeros((0, 2), np.int64)
        result = self.matcher.match_features(a.native, b.native)
        return np.asarray(result.match_indices, np.int64).reshape(-1, 2)

    def distances(self, descriptors_a, descriptors_b):
        return np.linalg.norm(descriptors_a - descriptors_b, axis=1).astype(np.float64)


XFEAT_MATCH_ERROR_PX = 4.0
"""XFeat's keypoints are less precise than a corner detector's: on KITTI 06 frames 0-50, PnP
at 2 px kept 28 % of the matches to the map (every frame became a keyframe) and at 4 px 56 %;
the ATE fell from 0.45 to 0.15 % and the speed rose from 2.1 to 3.7 frames/s."""


XFEAT_KEYFRAME_TRACKED_SHARE = 0.35
"""XFeat re-finds fewer of a keyframe's points than ORB does: the frame after a keyframe
tracks about 45 % of them on KITTI 06 (frames 0-50), so at ORB's 0.5 nearly every other frame
became a keyframe (24 of 51, ATE 0.15 %). At 0.35: 13 keyframes, ATE 0.13 %, and on the
synthetic room (200 frames) 0.35 % against 0.81 % at 0.5; at 0.3 the room gave 0.37 % and
KITTI 0.18 % (11 keyframes)."""


class XFeatFrontend(TrainedFrontend):
    """XFeat's mutual nearest neighbours at a cosine of at least 0.82 (XFeat's own default
    for ``match_xfeat``; the pair matcher keeps every one): on KITTI 06 frames 0-50 the ATE
    falls from 0.46 % to 0.27 %."""

    name = matcher_name = "xfeat"
    matcher_conf = {"min_cossim": 0.82}
    match_error_px = XFEAT_MATCH_ERROR_PX
    keyframe_tracked_share = XFEAT_KEYFRAME_TRACKED_SHARE

    def match_rows(self, a, rows, b):
        """`match`'s mutual nearest neighbours that start at a's keypoints ``rows``, from two
        (R, N) similarity products instead of two (N, N): each row's best keypoint of b, and
        that one's best keypoint of all of a, which must be the row."""
        import torch

        rows = np.asarray(rows, np.int64)
        if a.native is None or b.native is None or len(rows) == 0 or len(b) == 0:
            return np.zeros((0, 2), np.int64)
        descriptors_a, descriptors_b = a.native.descriptors, b.native.descriptors
        with torch.inference_mode():
            similarity, index_b = (descriptors_a[torch.from_numpy(rows)] @ descriptors_b.T).max(1)
            back = (descriptors_b[index_b] @ descriptors_a.T).argmax(1).numpy()
        keep = (back == rows) & (similarity.numpy() > self.matcher_conf["min_cossim"])
        return np.stack([rows[keep], index_b.numpy()[keep]], axis=1).astype(np.int64)


class XFeatLighterGlueFrontend(TrainedFrontend):
    name = matcher_name = "xfeat-lighterglue"
    match_error_px = XFEAT_MATCH_ERROR_PX


class AlikedLightGlueFrontend(TrainedFrontend):
    name = matcher_name = "aliked-lightglue"


def dino_frontend(intrinsics: Intrinsics, max_features: int = 512, **options) -> Frontend:
    """The ``dino`` front-end (`core.vo.dino.DinoFrontend`), imported (with torch) when made."""
    from core.vo.dino import DinoFrontend

    return DinoFrontend(intrinsics, max_features, **options)


def roma_frontend(intrinsics: Intrinsics, max_features: int = 1500, **options) -> Frontend:
    """The ``roma`` front-end (`core.vo.frontend_roma.RomaFrontend`), imported when made."""
    from core.vo.frontend_roma import make_roma_frontend

    return make_roma_frontend(intrinsics, max_features, **options)


FRONTENDS: dict[str, Callable[..., Frontend]] = {
    "orb": OrbFrontend,
    "sift": SiftFrontend,
    "xfeat": XFeatFrontend,
    "xfeat-lighterglue": XFeatLighterGlueFrontend,
    "aliked-lightglue": AlikedLightGlueFrontend,
    "dino": dino_frontend,
    "roma": roma_frontend,
}
"""The VO front-ends by ``--frontend`` name: classes, or functions that make one."""

OPTION_FRONTENDS = ("dino", "roma")
"""The front-ends that take options (``--set KEY=VALUE``) besides ``max_features``."""


def make_frontend(
    name: str,
    intrinsics: Intrinsics,
    max_features: int | None = None,
    options: dict[str, object] | None = None,
) -> Frontend:
    """The front-end called ``name`` for a camera, with ``options``: ``max_features`` (the
    keypoints per frame, every front-end; else ``max_features`` or the front-end's own
    default), the rest only for `OPTION_FRONTENDS`; a `MatchscopeError` naming the choices."""
    if name not in FRONTENDS:
        raise MatchscopeError(
            f"--frontend {name}: no such front-end (choose from {', '.join(FRONTENDS)})"
        )
    options = dict(options or {})
    if "max_features" in options:
        max_features = _keypoint_count(options.pop("max_features"))
    if options and name not in OPTION_FRONTENDS:
        raise MatchscopeError(
            f"--set: the {name} front-end takes only max_features, not {', '.join(options)}"
        )
    if max_features is None:
        return FRONTENDS[name](intrinsics, **options)
    return FRONTENDS[name](intrinsics, max_features, **options)


def parse_options(settings: list[str]) -> dict[str, str]:
    """``--set`` values ``["key=value", ...]`` -> ``{key: value}`` (``-`` in a key read as
    ``_``; the front-end types the values)."""
    options = {}
    for text in settings:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise MatchscopeError(f"--set expects KEY=VALUE, got {text!r}")
        options[key.strip().replace("-", "_")] = value
    return options


def _keypoint_count(value: object) -> int:
    """``--set max_features=N``'s N: a whole number of at least 8 (PnP and the two-view start
    need that many matches)."""
    try:
        count = int(str(value))
    except ValueError:
        raise MatchscopeError(f"--set max_features={value}: not a whole number") from None
    if count < 8:
        raise MatchscopeError(f"--set max_features={value}: at least 8 keypoints")
    return count
