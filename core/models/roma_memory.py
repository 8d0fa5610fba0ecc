"""How much memory a RoMa match needs: its weights and its activations at given settings.

The activations are counted from the architecture's widths (:class:`core.models.roma.RomaConfig`,
the backbone's :class:`core.models.vit.ViTConfig`), per pass (coarse, then upsample; the coarse
pass's pyramid is freed before the upsample pass runs), at the point where a pass peaks: while its
widest refiner runs, with the whole VGG pyramid of both images alive (and its swapped copy when
symmetric); the decoder's anchor logits and the GP's kernels, the kept intermediates and the
result's arrays are added. Elements are 4 bytes (fp32); the count is scaled by
:data:`CALIBRATION` and :data:`FIXED_BYTES` added, fitted so that the estimate stays at or above
the peak resident set measured with random-weight RoMa on CPU and within 1.5x of it (``python
main.py bench roma-memory``; the README's RoMa section has the table: 1.00x to 1.41x on
ViT-S/14 and ViT-L/14 at 224 to 512 px). Under bf16/fp16 autocast the activations count
:data:`AUTOCAST_ACTIVATIONS` of that, and the weights' half-precision copies are added.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

FP32 = 4
CALIBRATION = 1.15  # measured peak RSS / counted bytes (allocator slack); module docstring
FIXED_BYTES = 160 * 2**20  # the first run's kernels and allocator pools (measured)
AUTOCAST_ACTIVATIONS = 0.75  # share of the fp32 activations under bf16 / fp16 autocast
ANCHOR_COPIES = 3  # logits, their softmax, the decoder's output before the split
REFINER_COPIES = 4  # the block's input, depthwise and pointwise outputs, the concatenation


@dataclass(frozen=True)
class RomaSettings:
    """What the activations depend on: resolutions (H, W), the pair's original sizes (H, W)."""

    coarse_hw: tuple[int, int]
    upsample_hw: tuple[int, int] | None
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    symmetric: bool = True
    intermediates: bool = False
    precision: str = "fp32"
    num_samples: int = 5000


@functools.lru_cache(maxsize=8)
def weight_bytes(backbone: str) -> int:
    """Bytes of RoMa's weights and buffers on ``backbone`` (the ViT's included), built on the
    meta device (nothing allocated)."""
    import torch

    from core.models.roma import Roma
    from core.models.vit import build_backbone

    vit = build_backbone(backbone, device="meta")
    with torch.device("meta"):
        model = Roma(vit)
    tensors = [*model.state_dict().values(), *vit.state_dict().values()]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def _pass_elements(config, hw: tuple[int, int], scales, images: int, queries: int, sym: bool):
    """Elements alive at a pass's peak: its VGG pyramid (strides 1, 2, 4, 8; both images, and
    the swapped copy when symmetric) plus the widest refiner's working tensors."""
    pixels = hw[0] * hw[1]
    strides = (1, 2, 4, 8)
    per_pixel = sum(dim / s**2 for dim, s in zip(config.fine_dims, strides, strict=True))
    pyramid = images * pixels * per_pixel * (2 if sym else 1)
    refiner = 0.0
    for scale in scales:
        spec = config.refiners[scale]
        width = spec.width + 3 * spec.feature_dim  # + both projections, B's warped features
        refiner = max(refiner, queries * pixels / scale**2 * width * REFINER_COPIES)
    return pyramid + refiner


def activation_bytes(backbone: str, settings: RomaSettings) -> int:
    """Bytes RoMa's forward pass and the result's arrays need beyond the weights."""
    from core.models.roma import RomaConfig
    from core.models.vit import BACKBONES

    config, vit = RomaConfig(backbone=backbone), BACKBONES[backbone]
    images, queries = 2, 2 if settings.symmetric else 1
    h, w = settings.coarse_hw
    cells = (h // vit.patch_size) * (w // vit.patch_size)
    tokens = cells + vit.num_prefix_tokens
    anchors = config.anchor_res**2 + 1
    backbone_work = images * tokens * (4 * vit.embed_dim + vit.ffn_hidden)
    decoder = queries * cells * (ANCHOR_COPIES * anchors + 6 * config.decoder_dim)
    gp = queries * 4 * cells * cells  # K_BB, its Cholesky factor, K_AB, the identity
    coarse = _pass_elements(config, settings.coarse_hw, (16, 8, 4, 2, 1), images, queries, True)
    if not settings.symmetric:
        coarse = _pass_elements(config, settings.coarse_hw, (16, 8, 4, 2, 1), images, 1, False)
    peak = max(coarse, backbone_work, decoder + gp)
    out_hw = settings.coarse_hw
    if settings.upsample_hw is not None:
        upsample = _pass_elements(
            config, settings.upsample_hw, (8, 4, 2, 1), images, queries, settings.symmetric
        )
        peak = max(peak, upsample)
        out_hw = settings.upsample_hw
    out_pixels = out_hw[0] * out_hw[1]
    kept = queries * out_pixels * 3 * 2  # warp and certainty, and the attenuation's copy
    if settings.intermediates:  # anchor logits, every scale's warp and certainty, tokens
        kept += queries * cells * anchors + queries * out_pixels * 3 * 3
        kept += images * cells * (vit.embed_dim + vit.depth * vit.num_heads)
    # the result: candidates and their certainty, the dense warps at the original sizes
    sizes = [settings.size_a] + ([settings.size_b] if settings.symmetric else [])
    result = queries * out_pixels * 10 + sum(3 * 3 * hh * ww for hh, ww in sizes)
    result += settings.num_samples * 16
    activations = (peak + kept) * FP32 * CALIBRATION
    if settings.precision != "fp32":
        activations *= AUTOCAST_ACTIVATIONS
    return int(activations + result * FP32 + FIXED_BYTES)


def roma_need_bytes(backbone: str, settings: RomaSettings, weights_loaded: bool) -> int:
    """What a match needs: activations, plus the weights unless they are loaded already (plus
    their half-precision copies under autocast)."""
    need = activation_bytes(backbone, settings)
    weights = weight_bytes(backbone)
    if not weights_loaded:
        need += weights
    if settings.precision != "fp32":
        need += weights // 2
    return need
