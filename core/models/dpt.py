"""The DPT head (Ranftl et al. 2021) as RoMa v2's matcher uses it: tokens -> dense output.

Four (B, h, w, D) token maps (RoMa v2 passes two, each twice) are LayerNormed, projected to
256 / 512 / 1024 / 1024 channels and resized to strides 4, 8, 16 and 32 of the patch grid's
image (x4 and x2 transposed convolutions, identity, a stride-2 convolution), then fused from the
coarsest up by RefineNet-style blocks, each upsampling bilinearly with ``align_corners=True``.
The output is resized to the image's stride 4 and mapped to ``out_dim`` channels in fp32.

Two details of the reference are kept: its residual units apply an in-place ReLU to their
input, so the skip adds ``relu(x)``, not ``x``; and the body runs under bf16 autocast in
``precision="bf16"`` only (the reference's is unconditional; its parity tests turn it off).
Keys follow the reference (``projects``, ``resize_layers``, ``scratch.*``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

OUT_CHANNELS = (256, 512, 1024, 1024)
FEATURES = 256


class ResidualConvUnit(nn.Module):
    """``conv2(relu(conv1(relu(x)))) + relu(x)`` (the reference's in-place ReLU)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        skip = F.relu(x)
        return self.conv2(F.relu(self.conv1(skip))) + skip


class FusionBlock(nn.Module):
    """Add the skip's residual unit (if any), a residual unit, upsample, a 1x1 convolution."""

    def __init__(self, features: int, has_residual: bool = True):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, kernel_size=1)
        if has_residual:
            self.resConfUnit1 = ResidualConvUnit(features)  # the checkpoint key
        self.resConfUnit2 = ResidualConvUnit(features)
        self.has_residual = has_residual

    def forward(self, x: Tensor, skip: Tensor | None = None, size=None) -> Tensor:
        if self.has_residual:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            size = (x.shape[-2] * 2, x.shape[-1] * 2)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Scratch(nn.Module):
    """The fusion half: ``layer{1..4}_rn`` (3x3, no bias), ``refinenet{1..4}``, outputs."""

    def __init__(self, out_dim: int):
        super().__init__()
        for index, channels in enumerate(OUT_CHANNELS, start=1):
            conv = nn.Conv2d(channels, FEATURES, kernel_size=3, padding=1, bias=False)
            setattr(self, f"layer{index}_rn", conv)
        self.refinenet1 = FusionBlock(FEATURES)
        self.refinenet2 = FusionBlock(FEATURES)
        self.refinenet3 = FusionBlock(FEATURES)
        self.refinenet4 = FusionBlock(FEATURES, has_residual=False)
        self.output_conv1 = nn.Conv2d(FEATURES, FEATURES // 2, kernel_size=3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(FEATURES // 2, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, out_dim, kernel_size=1),
        )


class DPTHead(nn.Module):
    """Four (B, h, w, D) token maps -> (B, 4h, 4w, out_dim) for a patch size of 16."""

    def __init__(self, dim_in: int, out_dim: int, patch_size: int = 16, down_ratio: int = 4):
        super().__init__()
        self.patch_size, self.down_ratio = patch_size, down_ratio
        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, c, kernel_size=1) for c in OUT_CHANNELS)
        c0, c1, _, c3 = OUT_CHANNELS
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(c0, c0, kernel_size=4, stride=4),
                nn.ConvTranspose2d(c1, c1, kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(c3, c3, kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_dim)

    def forward(self, tokens: list[Tensor], precision: str = "fp32") -> Tensor:
        if len(tokens) != len(OUT_CHANNELS):
            raise ValueError(f"the DPT head takes {len(OUT_CHANNELS)} token maps")
        _, h, w, _ = tokens[0].shape
        scratch = self.scratch
        with torch.autocast(tokens[0].device.type, torch.bfloat16, enabled=precision == "bf16"):
            levels = []
            for index, x in enumerate(tokens):
                x = self.norm(x).permute(0, 3, 1, 2)
                x = self.resize_layers[index](self.projects[index](x))
                levels.append(getattr(scratch, f"layer{index + 1}_rn")(x))
            l1, l2, l3, l4 = levels
            out = scratch.refinenet4(l4, size=l3.shape[-2:])
            out = scratch.refinenet3(out, l3, size=l2.shape[-2:])
            out = scratch.refinenet2(out, l2, size=l1.shape[-2:])
            out = scratch.output_conv1(scratch.refinenet1(out, l1))
            size = (h * self.patch_size // self.down_ratio, w * self.patch_size // self.down_ratio)
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        return scratch.output_conv2(out.float()).permute(0, 2, 3, 1)
