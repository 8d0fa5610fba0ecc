"""The ``roma`` VO front-end: matches read off RoMa's dense warp and its certainty.

**Per frame** (`RomaFrontend.detect`, once): the frame resized to ``resolution`` (PIL bicubic,
ImageNet-normalised, as the ``roma`` matcher) is encoded by RoMa's image-only half,
:meth:`core.models.roma.Roma.encode`: the frozen DINO backbone's coarse tokens and the VGG's fine
pyramid (strides 1, 2, 4, 8). Keypoints are a fixed set per frame, so the tracker can keep a map
point per keypoint index: up to ``max_features`` Shi-Tomasi corners at least ``spacing_px``
apart, refined to sub-pixel. A keypoint's descriptor is the coarse DINO token bilinearly sampled
at it, unit-normalised (L2 ``distances``; a projection-search match needs a cosine of 0.75).

**Per pair** (`RomaFrontend.match`): RoMa's decoder and refiners on the two encodings
(:meth:`~core.models.roma.Roma.match_encoded`, never re-encoding a frame) give the warp A->B
and its certainty; each keypoint of A is warped into B (the warp and certainty sampled
bilinearly at it) and kept when the certainty exceeds ``certainty_threshold`` and a keypoint of B
lies within ``snap_radius_px`` of where it lands; each keypoint of B keeps the closest such
keypoint of A (one-to-one). With ``cycle_radius_px`` > 0 the B->A warp is computed in the same
batch, and a match is kept only when B's keypoint warps back within that radius of A's.

**Certainty and sigma.** Certainty only gates matches. The bundle adjustment weighs residuals
by each keypoint's ``sigma_px``, a property of the frame's keypoints, not of a pair: every corner
has 1 px (sub-pixel Shi-Tomasi corners; the match is snapped onto them, so RoMa's warp error does
not enter the position).

**Memory.** A frame's encoding is large (about 100 MB for ViT-L at 448 px, mostly the VGG's
stride-1 features): the encodings of the last ``kept_encodings`` frames used are kept (least
recently used dropped first; keyframes in use stay in), and a frame whose encoding was dropped
is encoded again from its resized image (counted in ``RomaFrontend.reencoded``).

**Weights** are found as the ``roma`` matcher finds them (:mod:`core.weights`: explicit paths,
``$MATCHSCOPE_WEIGHTS``, the settings folder, torch hub's cache); they are never downloaded, and
without them the front-end refuses to start with the matcher's message. Random weights (tests)
give random matches: real use needs the released ones.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from core.coords import normalized_to_pixel, pixel_to_normalized
from core.errors import MatchscopeError
from core.sequence.base import Intrinsics
from core.vo.frontend import Features, Frontend


@dataclass
class RomaFrame:
    """A frame's `Features.native`: (N, 2) float64 ``keypoints`` (recorded pixels), the frame's
    (H, W) ``size_hw``, its (1, 3, h, w) resized, normalised ``image`` tensor and its
    ``encoding`` (:meth:`Roma.encode`: {1, 2, 4, 8: VGG, 16: backbone tokens}, each (1, C, h_s,
    w_s); None once dropped). ``index`` counts the frames detected."""

    index: int
    keypoints: np.ndarray
    size_hw: tuple[int, int]
    image: object
    encoding: dict | None


class RomaFrontend(Frontend):
    """RoMa's dense matching as a VO front-end (module docstring).

    Args:
        intrinsics: the camera.
        max_features: corners per frame (at most).
        resolution: RoMa's coarse resolution, ``N`` or ``HxW``, multiples of the patch size.
        certainty_threshold: a match's least certainty (RoMa's, attenuated, in [0, 1]).
        snap_radius_px: how far (recorded pixels) from A's warped keypoint B's keypoint may be.
        cycle_radius_px: the B->A warp must bring B's keypoint back within this radius of A's
            (recorded pixels); 0: no cycle check (one-way matching, half the work).
        spacing_px: the least distance between two corners.
        kept_encodings: frames whose encoding is kept (module docstring, "Memory").
        backbone, roma_weights, dino_weights, device, settings_dir: the ``roma`` matcher's
            options of those names (which weights, where).
        model: a loaded :class:`core.models.roma.Roma` to use instead of loading weights
            (tests inject a small random one); its device is used.
    """

    name = "roma"
    max_distance = 0.7  # L2 of unit descriptors: a cosine of at least 0.755

    def __init__(
        self,
        intrinsics: Intrinsics,
        max_features: int = 1500,
        *,
        resolution: str = "448",
        certainty_threshold: float = 0.25,
        snap_radius_px: float = 4.0,
        cycle_radius_px: float = 0.0,
        spacing_px: float = 8.0,
        kept_encodings: int = 12,
        backbone: str = "dinov2_vitl14",
        roma_weights: str = "",
        dino_weights: str = "",
        device: str = "auto",
        settings_dir: str = "",
        model=None,
    ):
        from core.matchers.roma import parse_resolution

        super().__init__(intrinsics, max_features)
        if not 0.0 <= certainty_threshold < 1.0:
            raise MatchscopeError(f"certainty_threshold {certainty_threshold}: use 0 .. 1")
        if snap_radius_px <= 0 or cycle_radius_px < 0 or kept_encodings < 2:
            raise MatchscopeError("snap_radius_px > 0, cycle_radius_px >= 0, kept_encodings >= 2")
        self.resolution = parse_resolution(resolution, "resolution")
        if self.resolution is None:
            raise MatchscopeError("resolution: RoMa needs a coarse resolution")
        self.certainty_threshold = certainty_threshold
        self.snap_radius_px = snap_radius_px
        self.cycle_radius_px = cycle_radius_px
        self.spacing_px = spacing_px
        self.kept_encodings = kept_encodings
        if model is None:
            model = self._load(backbone, roma_weights, dino_weights, device, settings_dir)
        stride = model.coarse_stride
        if any(side % stride for side in self.resolution):
            raise MatchscopeError(
                f"resolution {resolution}: sides must be multiples of the patch size {stride}"
            )
        self.model = model
        self.device = next(model.parameters()).device
        self.reencoded = 0  # encodings computed again after being dropped
        self._frames = 0
        self._kept: OrderedDict[int, RomaFrame] = OrderedDict()  # least recently used first

    def _load(self, backbone, roma_weights, dino_weights, device, settings_dir):
        """The ``roma`` matcher's model for these options (its weight lookup, never a
        download); a `MatchscopeError` saying where it looked when the weights are missing."""
        from core.matchers import create_matcher
        from core.weights import WeightsNotFound

        matcher = create_matcher(
            "roma",
            {
                "backbone": backbone,
                "roma_weights": roma_weights,
                "dino_weights": dino_weights,
                "coarse_res": "x".join(map(str, self.resolution)),
                "upsample_res": "0",
                "device": device,
                "settings_dir": settings_dir,
                "download": False,
            },
        )
        try:
            return matcher.load_model()
        except WeightsNotFound as exc:  # `vo` has no --download: the message without it
            raise MatchscopeError(f"--frontend roma: {exc.message(download=False)}") from None

    # -- per frame ------------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> Features:
        import torch

        from core.matchers.roma import preprocess

        keypoints = self._corners(rgb)
        image = preprocess(rgb, self.resolution).to(self.device)
        with torch.inference_mode():
            encoding = self.model.encode(image)
            descriptors = self._describe(encoding[16], keypoints, rgb.shape[:2])
        native = RomaFrame(self._frames, keypoints, tuple(rgb.shape[:2]), image, encoding)
        self._frames += 1
        self._keep(native)
        return self._features(rgb, keypoints, descriptors, np.ones(len(keypoints)), native)

    def _corners(self, rgb: np.ndarray) -> np.ndarray:
        """(N, 2) float64 sub-pixel Shi-Tomasi corners of the frame, strongest first."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        corners = cv2.goodFeaturesToTrack(
            grey, self.max_features, qualityLevel=0.001, minDistance=self.spacing_px
        )
        if corners is None:
            return np.zeros((0, 2))
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 20, 0.01)
        corners = cv2.cornerSubPix(grey, corners.astype(np.float32), (3, 3), (-1, -1), criteria)
        return corners.reshape(-1, 2).astype(np.float64)

    @staticmethod
    def _describe(tokens, keypoints: np.ndarray, size_hw) -> np.ndarray:
        """(N, C) float32 unit vectors: the (1, C, h16, w16) tokens bilinearly at keypoints."""
        if len(keypoints) == 0:
            return np.zeros((0, tokens.shape[1]), np.float32)
        sampled = _sample(tokens.float(), keypoints, size_hw)
        sampled /= np.maximum(np.linalg.norm(sampled, axis=1, keepdims=True), 1e-12)
        return sampled.astype(np.float32)

    def _keep(self, frame: RomaFrame) -> None:
        """Mark ``frame``'s encoding as just used; drop the least recently used beyond
        ``kept_encodings``."""
        self._kept[frame.index] = frame
        self._kept.move_to_end(frame.index)
        while len(self._kept) > self.kept_encodings:
            _, dropped = self._kept.popitem(last=False)
            dropped.encoding = None

    def _encoding(self, frame: RomaFrame) -> dict:
        """``frame``'s encoding, computed again from its resized image when it was dropped."""
        if frame.encoding is None:
            frame.encoding = self.model.encode(frame.image)
            self.reencoded += 1
        self._keep(frame)
        return frame.encoding

    # -- per pair -------------------------------------------------------------------------------

    def match(self, a: Features, b: Features) -> np.ndarray:
        import torch

        empty = np.zeros((0, 2), np.int64)
        frame_a, frame_b = a.native, b.native
        if frame_a is None or frame_b is None or len(a) == 0 or len(b) == 0:
            return empty
        cycle = self.cycle_radius_px > 0
        with torch.inference_mode():
            out = self.model.match_encoded(
                self._encoding(frame_a), self._encoding(frame_b), symmetric=cycle
            )
            warp = out.warp.permute(0, 3, 1, 2).float()  # (N', 2, H, W)
            certainty = out.certainty[:, None].float()  # (N', 1, H, W)
            landed = _sample(warp[:1], frame_a.keypoints, frame_a.size_hw)
            sure = _sample(certainty[:1], frame_a.keypoints, frame_a.size_hw)[:, 0]
            height_b, width_b = frame_b.size_hw
            landed = normalized_to_pixel(landed, width_b, height_b)
            keep = np.flatnonzero(sure > self.certainty_threshold)
            matches = self._snap(keep, landed[keep], frame_b.keypoints)
            if cycle and len(matches):
                back = _sample(warp[1:], frame_b.keypoints[matches[:, 1]], frame_b.size_hw)
                height_a, width_a = frame_a.size_hw
                back = normalized_to_pixel(back, width_a, height_a)
                error = np.linalg.norm(back - frame_a.keypoints[matches[:, 0]], axis=1)
                matches = matches[error <= self.cycle_radius_px]
        return matches

    def _snap(self, index_a: np.ndarray, landed: np.ndarray, keypoints_b: np.ndarray):
        """(M, 2) ``[i_a, i_b]``: each of A's keypoints ``index_a`` that lands at (K, 2)
        ``landed`` (B's pixels) with B's nearest keypoint within ``snap_radius_px``; one per
        keypoint of B (the closest landing)."""
        from scipy.spatial import cKDTree

        if len(index_a) == 0:
            return np.zeros((0, 2), np.int64)
        distance, index_b = cKDTree(keypoints_b).query(
            landed, distance_upper_bound=self.snap_radius_px
        )
        found = np.isfinite(distance)
        index_a, index_b, distance = index_a[found], index_b[found], distance[found]
        order = np.lexsort((distance, index_b))  # by B's keypoint, then by distance
        index_a, index_b = index_a[order], index_b[order]
        first = np.ones(len(order), bool)
        first[1:] = index_b[1:] != index_b[:-1]
        return np.column_stack((index_a[first], index_b[first])).astype(np.int64)

    def distances(self, descriptors_a, descriptors_b):
        return np.linalg.norm(descriptors_a - descriptors_b, axis=1).astype(np.float64)


OPTIONS = {
    "resolution": str,
    "certainty_threshold": float,
    "snap_radius_px": float,
    "cycle_radius_px": float,
    "spacing_px": float,
    "kept_encodings": int,
    "backbone": str,
    "roma_weights": str,
    "dino_weights": str,
    "device": str,
    "settings_dir": str,
}
"""`RomaFrontend`'s options (``vo --set KEY=VALUE``) and their types."""


def make_roma_frontend(intrinsics: Intrinsics, max_features: int = 1500, **options):
    """A `RomaFrontend` from ``options`` (`OPTIONS`; text values, as ``--set`` gives them, are
    converted); a `MatchscopeError` naming an unknown option or a value of the wrong type."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise MatchscopeError(
            f"roma: unknown option(s) {', '.join(unknown)}; options are {', '.join(OPTIONS)}"
        )
    typed = {}
    for key, value in options.items():
        try:
            typed[key] = OPTIONS[key](value)
        except ValueError:
            raise MatchscopeError(f"roma: {key} {value!r} is not {OPTIONS[key].__name__}") from None
    return RomaFrontend(intrinsics, max_features, **typed)


def _sample(grid, pixels: np.ndarray, size_hw) -> np.ndarray:
    """(N, C) float64: the (1, C, h, w) tensor ``grid`` over an image of (H, W) ``size_hw``
    sampled bilinearly (edges clamped) at (N, 2) pixels of that image."""
    import torch
    import torch.nn.functional as F

    height, width = size_hw
    uv = pixel_to_normalized(pixels, width, height)
    points = torch.as_tensor(uv, dtype=grid.dtype, device=grid.device).reshape(1, 1, -1, 2)
    sampled = F.grid_sample(
        grid, points, mode="bilinear", padding_mode="border", align_corners=False
    )
    return sampled[0, :, 0].T.double().cpu().numpy()
