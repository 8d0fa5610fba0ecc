"""RoMa v2's refiners at strides 4, 2, 1 and the VGG19-BN features they read.

Each refiner sees A's features and B's (projected by a linear layer), B's sampled at the
current warp, an embedding of the displacement ``(warp - grid) * (W / 512, H / 512)`` and,
at strides 4 and 2, the local correlation of A with B in a (2r + 1)^2 window around the warp
(:func:`core.models.roma.local_correlation`: the reference's window and scaling). A stack of
depthwise-separable blocks then predicts a warp step (``/ (4 (w, h))``), an overlap-logit
step and the Cholesky factors of a 2x2 precision: ``l00 = softplus(.) + 1e-6``, ``l10``,
``l11 = softplus(.) + 1e-6``, ``P = L L^T``. Precisions and overlap logits add up over the
refiners; the matcher's confidence (the overlap logit alone) starts with a zero precision.

Differences from RoMa (v1), made explicit: the projection is a linear layer on channels-last
features; the confidence has 4 channels (overlap + precision) where v1 has one; blocks are
named ``conv_depthwise``, ``norm``, ``conv_pointwise``; the VGG stops at stride 4 and
normalises the images itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.roma import (
    VGG19_STAGES,
    VGG19Pyramid,
    cell_centres,
    conv_bn,
    local_correlation,
)
from core.models.romav2_matcher import autocast

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHOLESKY_EPS = 1e-6


@dataclass(frozen=True)
class RefinerV2Spec:
    """One refiner: feature, projection and displacement-embedding widths, correlation radius."""

    feat_dim: int
    proj_dim: int
    disp_dim: int
    radius: int | None

    @property
    def width(self) -> int:
        corr = 0 if self.radius is None else (2 * self.radius + 1) ** 2
        return 2 * self.proj_dim + self.disp_dim + corr


REFINER_SPECS = {
    4: RefinerV2Spec(256, 192, 79, 3),  # 512 wide
    2: RefinerV2Spec(128, 48, 23, 1),  # 128
    1: RefinerV2Spec(64, 12, 8, None),  # 32
}


class FineFeaturesV2(VGG19Pyramid):
    """VGG19-BN to stride 4 (``layers.*``): images (B, 3, H, W) in [0, 1] -> {1: 64, 2: 128,
    4: 256 channels} (B, C, H / s, W / s), ImageNet-normalised inside."""

    def __init__(self):
        super().__init__(VGG19_STAGES[:3])

    def forward(self, images: Tensor, checkpoint=None) -> dict[int, Tensor]:
        mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return super().forward((images - mean) / std, checkpoint)


class RefinerBlockV2(nn.Module):
    """Depthwise ``k x k`` conv, BatchNorm, ReLU, pointwise conv (BatchNorm folded in eval)."""

    def __init__(self, width: int, kernel: int = 5):
        super().__init__()
        self.conv_depthwise = nn.Conv2d(width, width, kernel, padding=kernel // 2, groups=width)
        self.norm = nn.BatchNorm2d(width, momentum=0.01)
        self.conv_pointwise = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(conv_bn(x, self.conv_depthwise, self.norm), inplace=True)
        return self.conv_pointwise(x)


class RefinerV2(nn.Module):
    """One refiner (keys as the checkpoint's ``refiners.{stride}``)."""

    def __init__(self, spec: RefinerV2Spec, hidden_blocks: int = 8, kernel: int = 5):
        super().__init__()
        self.spec = spec
        width = spec.width
        self.proj = nn.Linear(spec.feat_dim, spec.proj_dim)
        self.block1 = RefinerBlockV2(width, kernel)
        self.hidden_blocks = nn.Sequential(
            *(RefinerBlockV2(width, kernel) for _ in range(hidden_blocks))
        )
        self.disp_emb = nn.Conv2d(2, spec.disp_dim, kernel_size=1)
        self.warp_head = nn.Conv2d(width, 2, kernel_size=1)
        self.confidence_head = nn.Conv2d(width, 4, kernel_size=1)

    def forward(
        self,
        feat_a: Tensor,
        feat_b: Tensor,
        warp: Tensor,
        confidence: Tensor,
        scale: Tensor,
        precision: str = "fp32",
    ) -> tuple[Tensor, Tensor]:
        """One step.

        Args:
            feat_a, feat_b: (B, C, h, w) fine features of the source and the target.
            warp: (B, h, w, 2) current warp, normalised coordinates in the target.
            confidence: (B, h, w, 1) overlap logit (from the matcher) or (B, h, w, 4) overlap
                logit and precision ``(p00, p10, p11)`` (from a refiner).
            scale: (2,) ``(W / 512, H / 512)`` of the pass's image.
            precision: "bf16" runs the blocks under bf16 autocast (the reference's).

        Returns: the new warp (B, h, w, 2) and confidence (B, h, w, 4), fp32.
        """
        h, w = feat_a.shape[-2:]
        proj_a = self.proj(feat_a.float().permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        proj_b = self.proj(feat_b.float().permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        warp = warp.float()
        sampled = F.grid_sample(proj_b, warp, mode="bilinear", align_corners=False)
        displacement = (warp - cell_centres(h, w, warp.device)).permute(0, 3, 1, 2)
        parts = [proj_a, sampled, self.disp_emb(scale.view(1, 2, 1, 1) * displacement)]
        if self.spec.radius is not None:
            parts.append(
                local_correlation(proj_a, proj_b, warp.permute(0, 3, 1, 2), self.spec.radius)
            )
        # channels-last: the depthwise and pointwise convolutions run 2-6x faster on CPU
        x = torch.cat(parts, dim=1).contiguous(memory_format=torch.channels_last)
        with autocast(feat_a.device, precision):
            z = self.hidden_blocks(self.block1(x))
        z = z.float()
        step = self.warp_head(z).permute(0, 2, 3, 1)
        delta = self.confidence_head(z).permute(0, 2, 3, 1)
        warp = warp + step / (4 * torch.tensor((w, h), device=warp.device, dtype=warp.dtype))
        l00 = F.softplus(delta[..., 1]) + CHOLESKY_EPS
        l10 = delta[..., 2]
        l11 = F.softplus(delta[..., 3]) + CHOLESKY_EPS
        delta = torch.stack((delta[..., 0], l00 * l00, l00 * l10, l10 * l10 + l11 * l11), -1)
        if confidence.shape[-1] == 1:  # the matcher's: a zero precision so far
            confidence = F.pad(confidence.float(), (0, 3))
        return warp, confidence.float() + delta


class RefinersV2(nn.ModuleDict):
    """The refiners by stride, ``"4"``, ``"2"``, ``"1"``, in the order they run."""

    def __init__(self):
        super().__init__({str(s): RefinerV2(spec) for s, spec in REFINER_SPECS.items()})


def precision_matrix(params: Tensor) -> Tensor:
    """(..., 3) ``(p00, p10, p11)`` -> the symmetric (..., 2, 2) precision matrix."""
    p00, p10, p11 = params.unbind(-1)
    return torch.stack((torch.stack((p00, p10), -1), torch.stack((p10, p11), -1)), -2)
