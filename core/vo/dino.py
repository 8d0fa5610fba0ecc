"""The ``dino`` VO front-end: keypoints and descriptors on a frozen DINOv2 / DINOv3 ViT, after
DINO-VO (Azhari & Shim, RA-L 2025; DESIGN.md, "Geometry, VO, evaluation").

Per frame: the image is resized (PIL bicubic, ImageNet normalisation) to sides that are
multiples of the patch ``p`` (14 for DINOv2, 16 for DINOv3): each side is scaled so that the
longer one is ``max_size`` (0: the frame's own size), then rounded to the nearest multiple of
``p``. A keypoint at input pixel ``u'`` maps back to the frame's pixel
``u = (u' + 0.5) W / W' - 0.5`` (the same per axis: pixel centres at integers, as PIL and OpenCV
resize), clipped to the frame. The frozen backbone (no gradients, eval mode, run under
``no_grad``) gives one token per cell; then:

* ``selector="gradient"`` (DINO-VO's, not learned): the grey input, Gaussian-smoothed (sigma
  1 px), Sobel gradient magnitude; its maximum in each patch cell (max-pool with kernel = stride
  = ``p``, keeping the argmax pixel), candidates under ``min_gradient`` dropped, greedy NMS with
  radius ``nms_radius`` (input pixels) by decreasing gradient, the ``max_features`` strongest.
  At most one keypoint per cell: the grid alignment DINO-VO's ablation found to matter most.
* ``selector="learned"``: :class:`core.vo.dino_heads.KeypointHead`'s saliency per cell, the
  ``max_features`` most salient cells, each keypoint at its predicted offset inside its cell.
* ``descriptor="raw"``: the L2-normalised patch token of the keypoint's cell (C wide: 384 for
  ViT-S): what works with real DINO weights before the heads are trained.
* ``descriptor="refined"``: :class:`core.vo.dino_heads.DescriptorHead` (token + fine CNN
  feature -> 192, unit).

``sigma_px`` is :class:`core.vo.dino_heads.UncertaintyHead`'s sigma (in frame pixels) when a
heads checkpoint is given (``heads=PATH``), else 1 px. Without ``heads`` the heads are random
and untrained (seeded by ``seed``); they are trained in a later issue. Matching: mutual nearest
neighbours of the unit descriptors with a ratio test and an uncertainty gate (a match whose
sigma exceeds ``max_sigma`` px in either frame is dropped); ``distances`` is their L2 distance.

Backbone weights are found like RoMa's (:func:`core.weights.find_weights`: ``dino_weights``, then
``$MATCHSCOPE_WEIGHTS``, then torch hub's cache) and loaded strictly; none found raises
:class:`core.weights.WeightsNotFound`, which says how to get them. Tests pass a backbone of
random weights (``backbone_model=``) instead. Options come from ``--set KEY=VALUE`` of
``matchscope vo`` (:data:`DinoFrontend.default_conf`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.spatial import cKDTree

from core import weights as weight_files
from core.errors import MatchscopeError
from core.matchers.base import parse_setting
from core.matchers.roma import preprocess
from core.models.vit import VisionTransformer, build_backbone
from core.sequence.base import Intrinsics
from core.vo.dino_heads import DinoHeads, gather_tokens, load_heads, token_cells
from core.vo.frontend import Features, Frontend


def network_size(size_hw: tuple[int, int], patch: int, max_size: int = 0) -> tuple[int, int]:
    """(H', W') multiples of ``patch`` for a frame of ``size_hw``: scaled so the longer side is
    ``max_size`` (0: unscaled), each side rounded to the nearest multiple (at least one patch)."""
    height, width = size_hw
    scale = max_size / max(height, width) if max_size else 1.0
    return tuple(max(patch, round(side * scale / patch) * patch) for side in (height, width))


def gradient_keypoints(
    grey: np.ndarray,
    patch: int,
    top_k: int = 512,
    nms_radius: float = 8.0,
    min_gradient: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """DINO-VO's selector on an (H, W) float grey image in [0, 1], H and W multiples of
    ``patch``: (K, 2) float64 pixels (x, y) and (K,) their gradient magnitudes, by decreasing
    magnitude, at most one per patch cell, none closer than ``nms_radius`` to a stronger one.

    The magnitude is that of OpenCV's 3x3 Sobel on the image blurred by a Gaussian of sigma 1 px
    (a unit step gives about 2.6 after the blur); ties are broken by the cell's raster order.
    """
    height, width = grey.shape
    if height % patch or width % patch:
        raise ValueError(f"image {height}x{width} is not a multiple of the patch {patch}")
    blurred = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt(gx * gx + gy * gy)
    h, w = height // patch, width // patch
    cells = magnitude.reshape(h, patch, w, patch).transpose(0, 2, 1, 3).reshape(h * w, -1)
    best = cells.argmax(axis=1)  # max-pool with kernel = stride = patch, keeping the argmax
    scores = cells[np.arange(h * w), best].astype(np.float64)
    rows, cols = np.divmod(np.arange(h * w), w)
    dy, dx = np.divmod(best, patch)
    points = np.column_stack([cols * patch + dx, rows * patch + dy]).astype(np.float64)
    keep = scores >= min_gradient
    points, scores = points[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    points, scores = points[order], scores[order]
    kept = _nms(points, nms_radius, top_k)
    return points[kept], scores[kept]


def _nms(points: np.ndarray, radius: float, limit: int) -> np.ndarray:
    """Indices of ``points`` (sorted strongest first) kept by greedy NMS, at most ``limit``."""
    if len(points) == 0 or radius <= 0:
        return np.arange(min(limit, len(points)))
    neighbours = cKDTree(points).query_ball_point(points, r=radius - 1e-9)
    suppressed = np.zeros(len(points), bool)
    kept = []
    for index in range(len(points)):
        if suppressed[index]:
            continue
        kept.append(index)
        if len(kept) == limit:
            break
        suppressed[neighbours[index]] = True
    return np.array(kept, np.int64)


def mutual_matches(
    descriptors_a: np.ndarray,
    descriptors_b: np.ndarray,
    sigma_a: np.ndarray,
    sigma_b: np.ndarray,
    ratio: float = 0.9,
    max_sigma: float = 4.0,
) -> np.ndarray:
    """(M, 2) indices ``[i_a, i_b]`` of mutual nearest neighbours of two sets of unit
    descriptors (L2), whose best distance is under ``ratio`` x the second best (among b, for
    a's keypoint) and whose keypoints' sigmas are both at most ``max_sigma`` px."""
    if len(descriptors_a) < 2 or len(descriptors_b) < 2:
        return np.zeros((0, 2), np.int64)
    a = np.asarray(descriptors_a, np.float32)
    b = np.asarray(descriptors_b, np.float32)
    distance = np.sqrt(np.maximum(2.0 - 2.0 * (a @ b.T), 0.0))  # (Na, Nb)
    best_b = distance.argmin(axis=1)
    best_a = distance.argmin(axis=0)
    two = np.partition(distance, 1, axis=1)[:, :2]
    index_a = np.arange(len(a))
    keep = best_a[best_b] == index_a
    keep &= two[:, 0] < ratio * two[:, 1]
    keep &= (np.asarray(sigma_a) <= max_sigma) & (np.asarray(sigma_b)[best_b] <= max_sigma)
    return np.column_stack([index_a[keep], best_b[keep]]).astype(np.int64)


class DinoFrontend(Frontend):
    """The ``dino`` front-end (module docstring). ``backbone_model``: a ViT to use instead of
    loading one (tests give random weights); ``options``: :data:`default_conf` keys, values
    typed or strings (as ``--set`` gives them)."""

    name = "dino"
    max_distance = 0.8  # L2 of unit descriptors: a cosine of at least 0.68
    default_conf = {
        "backbone": "dinov2_vits14",  # dinov2_vit{s,b,l}14 or dinov3_vit{s,b,l}16
        "dino_weights": "",  # backbone checkpoint (.pth or transformers folder); empty: search
        "heads": "",  # heads checkpoint (DinoHeads state dict); empty: random, untrained
        "selector": "gradient",  # gradient | learned
        "descriptor": "raw",  # raw (the patch token) | refined (DescriptorHead)
        "max_size": 0,  # longer side of the network's input before rounding; 0: the frame's
        "nms_radius": 8.0,  # input pixels
        "min_gradient": 0.1,  # Sobel magnitude of the blurred grey image in [0, 1]
        "ratio": 0.9,  # matching: best distance < ratio x second best
        "max_sigma": 4.0,  # matching: the uncertainty gate, frame pixels
        "seed": 0,  # random initialisation of untrained heads
        "settings_dir": "",  # an extra folder to search for backbone weights
    }
    SELECTORS = ("gradient", "learned")
    DESCRIPTORS = ("raw", "refined")

    def __init__(
        self,
        intrinsics: Intrinsics,
        max_features: int = 512,
        *,
        backbone_model: VisionTransformer | None = None,
        **options,
    ):
        super().__init__(intrinsics, max_features)
        self.conf = self._parse(options)
        if backbone_model is None:
            backbone_model = self._load_backbone()
        self.backbone = backbone_model.freeze()
        config = self.backbone.config
        self.patch = config.patch_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.conf["seed"])
            self.heads = DinoHeads(config.embed_dim, self.patch).eval()
        self.trained = bool(self.conf["heads"])
        if self.trained:
            load_heads(self.heads, self.conf["heads"])

    def _parse(self, options: dict) -> dict:
        unknown = sorted(set(options) - set(self.default_conf))
        if unknown:
            raise MatchscopeError(
                f"dino: unknown option(s) {', '.join(unknown)}; "
                f"options are {', '.join(self.default_conf)}"
            )
        conf = dict(self.default_conf)
        for key, value in options.items():
            if isinstance(value, str) and not isinstance(self.default_conf[key], str):
                value = parse_setting(f"{key}={value}", self.default_conf)[1]
            conf[key] = value
        for key, choices in (("selector", self.SELECTORS), ("descriptor", self.DESCRIPTORS)):
            if conf[key] not in choices:
                raise MatchscopeError(f"dino: {key} {conf[key]!r}: use one of {', '.join(choices)}")
        return conf

    def _load_backbone(self) -> VisionTransformer:
        from core.models.vit_checkpoints import load_backbone_weights

        name = self.conf["backbone"]
        if name not in weight_files.WEIGHT_FILES:
            known = [n for n in weight_files.WEIGHT_FILES if n.startswith("dino")]
            raise MatchscopeError(f"dino: backbone {name!r}: use one of {', '.join(known)}")
        path = weight_files.find_weights(
            name, self.conf["dino_weights"] or None, settings_dir=self.conf["settings_dir"] or None
        )
        vit = build_backbone(name, device="meta")
        load_backbone_weights(vit, path)
        return vit

    def network_input(self, rgb: np.ndarray) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """An (H, W, 3) uint8 frame -> the (1, 3, H', W') normalised input, the (H', W') grey
        input in [0, 1] and the (2,) scale (W' / W, H' / H)."""
        height, width = rgb.shape[:2]
        size_hw = network_size((height, width), self.patch, self.conf["max_size"])
        resized = np.asarray(
            Image.fromarray(np.ascontiguousarray(rgb)).resize(size_hw[::-1], Image.BICUBIC)
        )
        grey = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        scale = np.array([size_hw[1] / width, size_hw[0] / height])
        return preprocess(resized, size_hw), grey, scale

    def detect(self, rgb: np.ndarray) -> Features:
        image, grey, scale = self.network_input(rgb)
        with torch.no_grad():
            tokens = self.backbone(image)["patch_tokens"]  # (1, C, h, w)
            if self.conf["selector"] == "gradient":
                points, _ = gradient_keypoints(
                    grey,
                    self.patch,
                    top_k=self.max_features,
                    nms_radius=self.conf["nms_radius"],
                    min_gradient=self.conf["min_gradient"],
                )
                keypoints = torch.from_numpy(points).float()[None]
            else:
                keypoints = self.heads.keypoints.select(tokens, self.max_features)[0]
            refined = self.conf["descriptor"] == "refined"
            out = self.heads.describe(image, tokens, keypoints) if refined or self.trained else {}
            if refined:
                descriptors = out["descriptors"][0]
            else:
                cells = token_cells(keypoints, self.patch, tuple(tokens.shape[-2:]))
                descriptors = F.normalize(gather_tokens(tokens, cells), dim=-1)[0]
            if self.trained:  # input pixels -> frame pixels
                sigma = out["sigma"][0].double().numpy() / scale.mean()
            else:
                sigma = np.ones(keypoints.shape[1])
        pixels = (keypoints[0].double().numpy() + 0.5) / scale - 0.5
        height, width = rgb.shape[:2]
        pixels = np.clip(pixels, 0.0, [width - 1.0, height - 1.0])
        return self._features(rgb, pixels, descriptors.float().numpy(), sigma)

    def match(self, a: Features, b: Features) -> np.ndarray:
        return mutual_matches(
            a.descriptors,
            b.descriptors,
            a.sigma_px,
            b.sigma_px,
            ratio=self.conf["ratio"],
            max_sigma=self.conf["max_sigma"],
        )

    def distances(self, descriptors_a: np.ndarray, descriptors_b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(descriptors_a - descriptors_b, axis=1).astype(np.float64)
