"""RoMa: robust dense feature matching (Edstedt et al., CVPR 2024), our implementation.

The model takes two ImageNet-normalised images and returns, for every pixel of A, where it
lies in B (and the reverse when symmetric) with a certainty:

1. **Encoders.** A frozen ViT (:mod:`core.models.vit`; DINOv2 ViT-L/14 for the released
   weights) gives coarse patch tokens, the "scale 16" level (really the patch stride, 14 for
   DINOv2). A VGG19-BN gives fine features taken before each max-pool: strides 1, 2, 4, 8 with
   64, 128, 256, 512 channels.
2. **Projections** ``proj[s]``: 1x1 conv + BatchNorm per scale (backbone width -> 512, 512, 256,
   64, 9 channels at scales 16, 8, 4, 2, 1).
3. **Gaussian-process embedding** (coarse scale): with the cosine kernel
   ``k(x, y) = exp((cos(x, y) - 1) / 0.2)`` and noise 0.1, A's cells get the posterior mean of a
   Fourier embedding of B's cell positions, ``K_AB (K_BB + 0.1 I)^-1 cos(8 pi conv(xy_B))``.
4. **Match decoder**: five pre-norm transformer blocks over ``[GP embedding, A's features]``
   (1024 channels, 8 heads) predict, per coarse cell of A, logits over a 64 x 64 grid of anchor
   positions in B plus one certainty logit (regression by classification).
5. **Anchors -> warp**: softmax over the anchors; the warp is the probability-weighted mean of
   the most likely anchor and its four neighbours (left, right, up, down in the flattened
   anchor index, clamped to the valid range, as the reference does).
6. **Refiners** at scales 16, 8, 4, 2, 1: each sees A's features, B's features sampled at the
   current warp, an embedding of the displacement and (scales 16, 8, 4) the local correlation
   of A's feature with B's in a (2r + 1)^2 window around the warp (r = 7, 3, 2), and predicts a
   displacement (in units of ``4 / scale`` pixels of the full-resolution image) and a certainty
   logit increment. Between scales flow and certainty logits are bilinearly upsampled.
7. **Upsample pass** (optional): the fine scales 8, 4, 2, 1 run again on the VGG features of
   the images at a higher resolution, starting from the coarse pass's final warp.
8. **Output**: the certainty logit minus ``0.5 * min(c16, 0)`` (the coarse pass's scale-16
   certainty resized, "attenuation"), a sigmoid; cells warped outside B get certainty 0 and the
   warp is clamped to [-1, 1].

Coordinates are normalised like ``grid_sample(align_corners=False)``: -1 and +1 are the outer
edges of the image, cell ``i`` of ``n`` has its centre at ``-1 + (2 i + 1) / n``; warps hold
``(x, y)``.

Shapes (``N`` pairs, ``N' = 2 N`` when symmetric: A->B rows then B->A rows; ``H x W`` the output
grid: the upsample resolution when upsampling, else the coarse one; ``h16 x w16`` the coarse
grid, the coarse resolution divided by the backbone's patch size):

=======================  ======================  ===============================================
name                     shape                   meaning
=======================  ======================  ===============================================
``warp``                 (N', H, W, 2)           where each cell lands in the other image
``certainty``            (N', H, W)              certainty in [0, 1]
captured ``backbone``    (2 N, C, h16, w16)      backbone patch tokens of A then B
captured ``attention``   (2 N, blocks, heads, h16, w16)  CLS -> patch attention of every
                                                 backbone block and head (A, B), fp32
captured ``gp``          (N', 512, h16, w16)     GP posterior embedding
captured ``anchor_logits``  (N', 64 * 64, h16, w16)  the decoder's anchor logits; anchor
                                                 ``k`` is at column ``k % 64``, row ``k // 64``
captured ``coarse_warp``  (N', 2, h16, w16)      warp from the anchors, before any refiner
captured ``coarse.s{S}.flow``  (N', 2, h_S, w_S)  warp after the refiner at scale S (coarse
                                                 pass; ``upsample.s{S}.*`` for the upsample one)
captured ``coarse.s{S}.certainty``  (N', 1, h_S, w_S)  accumulated certainty logit after it
=======================  ======================  ===============================================

**Weights.** ``Roma.state_dict()`` has the key layout of the official ``roma_outdoor.pth`` /
``roma_indoor.pth`` (``encoder.cnn.layers.*`` and ``decoder.{embedding_decoder, gps.16,
proj.*, conv_refiner.*}``); the frozen backbone is not part of it (nor of ``parameters()``) and
loads from its own file (:func:`core.models.vit_checkpoints.load_backbone_weights`).

**Speed.** The reference computes the local correlation by sampling B's features bilinearly
at every window position, one image at a time. The window positions are the warp plus whole
pixels, so every window shares the warp's bilinear weights: here the dot products with B's
features are taken once on the ``(2 r + 2)^2`` integer neighbours, then blended with those
weights, which is the same number with four times fewer feature reads and no per-window
feature copy. The VGG and the refiners run in channels-last memory layout with their BatchNorm
folded into the preceding convolution (eval mode). The projections and the GP are kept
exactly as the reference computes them: on smooth real images the GP's solve has a condition
number near 1e4 and would turn rounding differences into flipped anchor argmaxes.

**Encoding apart from matching.** Steps 1 (the encoders) depend on one image only:
:meth:`Roma.encode` gives an image's pyramid, and :meth:`Roma.match_encoded` runs steps 2-8 on
two such pyramids, with :meth:`Roma.forward`'s numbers (the same code does both), so a
sequence's frames are encoded once each (the ``roma`` VO front-end, :mod:`core.vo.frontend_roma`).

**Progress and cancellation.** ``Roma.forward(..., checkpoint=f)`` calls
``f(step, fraction)`` (:data:`core.models.progress.Checkpoint`) before every VGG convolution, each
half (attention, FFN) of every ViT and decoder block, every refiner block and every row of a
local correlation's window, and at the start of each step (the VGG, the backbone,
the decoder with the projection and the GP, each refiner): step names are like ``"coarse:
backbone block 12/24"``, ``"coarse: refiner s4 block 3/9"``, ``"upsample: VGG conv 5/12"``.
``fraction`` is the share of the pass's multiply-adds done before that point, estimated from the
shapes (:meth:`Roma.step_costs`; at 560 / 864 the backbone is about a third, as the FLOP count
of ``bench roma-speed``), so it grows steadily. ``f`` may raise to stop the pass; the longest
stretch without a call is about a second at 560 / 864 on two CPU cores (``bench cancel``).
Without ``checkpoint`` nothing is estimated or called.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.checkpoint import check_state_dict, read_checkpoint
from core.models.progress import Checkpoint, Progress, begin, starts
from core.models.vit import Attention, Mlp, VisionTransformer

TRAINING_RESOLUTION = 560  # the displacement embedding is scaled by sqrt(h w) / 560
VGG19_STAGES = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512))
CAPTURABLE = frozenset({"backbone", "attention", "gp", "anchors", "refiners"})


@dataclass(frozen=True)
class RefinerSpec:
    """One refiner: projected feature width, displacement embedding width, correlation radius."""

    feature_dim: int
    displacement_dim: int
    corr_radius: int = 0  # 0: no local correlation

    @property
    def width(self) -> int:
        corr = (2 * self.corr_radius + 1) ** 2 if self.corr_radius else 0
        return 2 * self.feature_dim + self.displacement_dim + corr


@dataclass(frozen=True)
class RomaConfig:
    """Architecture of RoMa; the defaults are the released model's."""

    backbone: str = "dinov2_vitl14"
    fine_dims: tuple[int, ...] = (64, 128, 256, 512)  # VGG channels at strides 1, 2, 4, 8
    gp_dim: int = 512
    decoder_depth: int = 5
    decoder_heads: int = 8
    anchor_res: int = 64
    gp_temperature: float = 0.2
    gp_noise: float = 0.1
    refiner_depth: int = 8
    refiner_kernel: int = 5
    refiners: dict[int, RefinerSpec] = field(
        default_factory=lambda: {
            16: RefinerSpec(512, 128, 7),
            8: RefinerSpec(512, 64, 3),
            4: RefinerSpec(256, 32, 2),
            2: RefinerSpec(64, 16),
            1: RefinerSpec(9, 6),
        }
    )

    @property
    def decoder_dim(self) -> int:
        return self.gp_dim + self.refiners[16].feature_dim


@dataclass
class RomaOutput:
    """The model's answer; see the module docstring for shapes."""

    warp: Tensor
    certainty: Tensor
    captured: dict[str, Tensor] = field(default_factory=dict)
    backbone_tokens: dict[str, Tensor] = field(default_factory=dict)  # for ``forward``'s reuse


def cell_centres(h: int, w: int, device: torch.device | str | None = None) -> Tensor:
    """Normalised ``(x, y)`` centres of an ``h x w`` grid: (h, w, 2), fp32."""
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y), dim=-1)


def _no_autocast(device: torch.device):
    if device.type not in ("cpu", "cuda", "xpu", "mps"):  # e.g. meta: autocast is unknown there
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False)


def conv_bn(x: Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> Tensor:
    """``bn(conv(x))``; in eval mode one convolution with the BatchNorm folded into it."""
    if bn.training:
        return bn(conv(x))
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return F.conv2d(
        x,
        conv.weight * scale.reshape(-1, 1, 1, 1),
        (bias - bn.running_mean) * scale + bn.bias,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )


def _block_macs(tokens: int, dim: int, hidden: int) -> float:
    """Multiply-adds of one transformer block over ``tokens`` tokens (projections, attention)."""
    return tokens * (4 * dim * dim + 2 * dim * hidden) + 2 * tokens * tokens * dim


# ---------------------------------------------------------------------------------------------
# Encoders


class VGG19Pyramid(nn.Module):
    """VGG19-BN convolutions; features before each max-pool at strides 1, 2, 4, 8.

    ``layers`` is indexed like torchvision's ``vgg19_bn().features`` (conv, BN, ReLU triples
    and a max-pool between stages), so the official checkpoint's ``layers.N`` keys fit.
    """

    def __init__(self, stages: tuple[tuple[int, ...], ...] = VGG19_STAGES):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for index, widths in enumerate(stages):
            if index:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            for width in widths:
                layers += [
                    nn.Conv2d(channels, width, kernel_size=3, padding=1),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
        self.layers = nn.ModuleList(layers)

    def conv_costs(self) -> list[float]:
        """Multiply-adds of each convolution, in order, per pixel of the input image."""
        costs, area = [], 1.0
        for layer in self.layers:
            if isinstance(layer, nn.MaxPool2d):
                area /= 4
            elif isinstance(layer, nn.Conv2d):
                taps = layer.kernel_size[0] * layer.kernel_size[1]
                costs.append(area * taps * layer.in_channels * layer.out_channels)
        return costs

    def forward(self, images: Tensor, checkpoint: Checkpoint | None = None) -> dict[int, Tensor]:
        """(B, 3, H, W) -> {stride: (B, C_stride, H / stride, W / stride)} for 1, 2, 4, 8.

        ``checkpoint`` is called before each convolution (fractions by :meth:`conv_costs`)."""
        pyramid: dict[int, Tensor] = {}
        stride = 1
        x = images.contiguous(memory_format=torch.channels_last)
        layers = list(self.layers)
        offsets = None if checkpoint is None else starts(self.conv_costs())
        convs = 0
        for index, layer in enumerate(layers):
            if isinstance(layer, nn.MaxPool2d):
                pyramid[stride] = x
                stride *= 2
                x = layer(x)
            elif isinstance(layer, nn.Conv2d):  # conv, BN, ReLU
                if offsets is not None:
                    checkpoint(f"conv {convs + 1}/{len(offsets)}", offsets[convs])
                convs += 1
                x = F.relu(conv_bn(x, layer, layers[index + 1]), inplace=True)
        pyramid[stride] = x
        return pyramid


class FineEncoder(nn.Module):
    """Holds the VGG as ``cnn`` (the checkpoint's ``encoder.cnn.*``)."""

    def __init__(self):
        super().__init__()
        self.cnn = VGG19Pyramid()


# ---------------------------------------------------------------------------------------------
# Coarse matching: GP embedding, anchor decoder


class GaussianProcessEmbedding(nn.Module):
    """GP posterior mean of B's Fourier position embedding at A's cells (module docstring 3)."""

    def __init__(self, dim: int, temperature: float, noise: float):
        super().__init__()
        self.pos_conv = nn.Conv2d(2, dim, kernel_size=1)
        self.temperature = temperature
        self.noise = noise

    def kernel(self, x: Tensor, y: Tensor, eps: float = 1e-6) -> Tensor:
        """Cosine kernel: x (B, n, C), y (B, m, C) -> (B, n, m)."""
        cosine = torch.einsum("bnd,bmd->bnm", x, y) / (
            x.norm(dim=-1)[..., None] * y.norm(dim=-1)[:, None] + eps
        )
        return ((cosine - 1.0) / self.temperature).exp()

    def forward(self, feat_a: Tensor, feat_b: Tensor) -> Tensor:
        """feat_a (B, C, h_a, w_a), feat_b (B, C, h_b, w_b) -> (B, dim, h_a, w_a), fp32."""
        batch, _, h_a, w_a = feat_a.shape
        h_b, w_b = feat_b.shape[-2:]
        with _no_autocast(feat_a.device):
            # The solve is ill-conditioned (condition number ~1e4) and cos(8 pi t) turns the
            # rounding of t into absolute error: every tensor here has the reference's batch
            # and memory layout, so that the convolution and products round the same way.
            positions = cell_centres(h_b, w_b, feat_b.device)[None].expand(batch, -1, -1, -1)
            basis = torch.cos(8 * math.pi * self.pos_conv(positions.permute(0, 3, 1, 2)))
            basis = basis.permute(0, 2, 3, 1).reshape(batch, h_b * w_b, -1)  # (B, n_b, dim)
            x = feat_a.float().permute(0, 2, 3, 1).reshape(batch, h_a * w_a, -1)
            y = feat_b.float().permute(0, 2, 3, 1).reshape(batch, h_b * w_b, -1)
            k_bb = self.kernel(y, y)
            k_ab = self.kernel(x, y)
            eye = torch.eye(h_b * w_b, device=x.device)[None]
            chol = torch.linalg.cholesky(k_bb + self.noise * eye)
            mean = k_ab @ torch.cholesky_solve(basis, chol, upper=False)  # (B, h_a w_a, dim)
        return mean.transpose(1, 2).reshape(batch, -1, h_a, w_a)


class DecoderBlock(nn.Module):
    """Pre-norm transformer block without LayerScale; qkv has no bias."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, qkv_bias=False)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.feed_forward(self.attend(x))

    def attend(self, x: Tensor) -> Tensor:
        """The attention half: ``x + attn(norm1(x))``."""
        return x + self.attn(self.norm1(x))

    def feed_forward(self, x: Tensor) -> Tensor:
        """The MLP half: ``x + mlp(norm2(x))``."""
        return x + self.mlp(self.norm2(x))


class AnchorDecoder(nn.Module):
    """Transformer over the coarse cells of A -> anchor logits and a certainty logit."""

    def __init__(self, dim: int, depth: int, heads: int, anchor_res: int):
        super().__init__()
        self.blocks = nn.Sequential(*(DecoderBlock(dim, heads) for _ in range(depth)))
        self.to_out = nn.Linear(dim, anchor_res**2 + 1)

    def forward(
        self, gp_embedding: Tensor, feat_a: Tensor, checkpoint: Checkpoint | None = None
    ) -> tuple[Tensor, Tensor]:
        """(B, gp_dim, h, w), (B, C, h, w) -> logits (B, anchors, h, w), certainty (B, 1, h, w).

        ``checkpoint`` is called before each block and between its two halves."""
        x = torch.cat((gp_embedding, feat_a), dim=1)
        batch, _, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        depth = len(self.blocks)
        for index, block in enumerate(self.blocks):
            if checkpoint is None:
                tokens = block(tokens)
                continue
            checkpoint(f"block {index + 1}/{depth}", index / depth)
            tokens = block.attend(tokens)
            checkpoint(f"block {index + 1}/{depth} MLP", (index + 0.5) / depth)
            tokens = block.feed_forward(tokens)
        out = self.to_out(tokens)
        out = out.transpose(1, 2).reshape(batch, -1, h, w)
        return out[:, :-1], out[:, -1:]


def anchor_grid(anchor_res: int, device: torch.device | str | None = None) -> Tensor:
    """Normalised ``(x, y)`` of every anchor: (anchor_res^2, 2), row-major (x fastest)."""
    return cell_centres(anchor_res, anchor_res, device).reshape(-1, 2)


def anchors_to_warp(logits: Tensor) -> Tensor:
    """Anchor logits (B, R^2, h, w) -> warp (B, 2, h, w) (module docstring, step 5)."""
    count = logits.shape[1]
    res = round(math.sqrt(count))
    probs = logits.float().softmax(dim=1)
    mode = probs.max(dim=1).indices
    index = torch.stack((mode - 1, mode, mode + 1, mode - res, mode + res), dim=1)
    index = index.clamp(0, count - 1)  # (B, 5, h, w)
    weights = probs.gather(1, index)
    positions = anchor_grid(res, logits.device)[index]  # (B, 5, h, w, 2)
    warp = (weights[..., None] * positions).sum(dim=1) / weights.sum(dim=1)[..., None]
    return warp.permute(0, 3, 1, 2)


def anchor_probabilities(logits: Tensor) -> Tensor:
    """Logits (..., R^2) -> the anchor distribution as an (..., R, R) image (rows = y)."""
    res = round(math.sqrt(logits.shape[-1]))
    return logits.float().softmax(dim=-1).reshape(*logits.shape[:-1], res, res)


# ---------------------------------------------------------------------------------------------
# Refinement


def local_correlation(
    feat_a: Tensor,
    feat_b: Tensor,
    warp: Tensor,
    radius: int,
    checkpoint: Callable[[str], None] | None = None,
) -> Tensor:
    """Correlation of A's features with B's around the warp: (B, (2r + 1)^2, h, w).

    ``feat_a``, ``feat_b`` (B, C, h, w) on grids of the same size, ``warp`` (B, 2, h, w)
    normalised. Channel ``k = dy * (2 r + 1) + dx`` holds ``<a, b(warp + (dx - r, dy - r) px)>
    / sqrt(C)`` with B's features bilinearly interpolated (zero outside), like romatch's
    ``local_correlation``, computed with shared bilinear weights (module docstring, "Speed"):
    B's features, zero-padded by ``side = 2 r + 2`` cells, become rows of a table; for each of
    the ``side^2`` integer offsets one row gather (into a reused buffer) and one dot product.
    ``checkpoint(step)`` is called before each row of offsets.
    """
    batch, channels, h, w = feat_a.shape
    if feat_b.shape[-2:] != (h, w):
        raise ValueError(f"feature grids differ: {tuple(feat_a.shape)} vs {tuple(feat_b.shape)}")
    side = 2 * radius + 2  # integer neighbours that the windows' bilinear taps touch
    warp = warp.float().nan_to_num(nan=-2.0 * (h + w))
    px = (((warp[:, 0] + 1) * w - 1) / 2).flatten()  # (B h w,) pixel position in B
    py = (((warp[:, 1] + 1) * h - 1) / 2).flatten()
    # taps span [x0 - r, x0 + r + 1]; beyond these bounds all of them fall outside B (zero),
    # and the clamped ones still do, inside the zero padding
    x0 = px.floor().clamp(-radius - 2, w + radius)
    y0 = py.floor().clamp(-radius - 2, h + radius)
    fx, fy = (px - x0).clamp(0, 1)[:, None, None], (py - y0).clamp(0, 1)[:, None, None]
    padded_w, padded_h = w + 2 * side, h + 2 * side
    # fp32 throughout: a row-wise bf16 dot product falls back to a slow batched matmul on CPU
    table = F.pad(feat_b.float(), (side, side, side, side)).permute(0, 2, 3, 1)
    table = table.reshape(-1, channels)
    first = torch.arange(batch, device=feat_a.device).repeat_interleave(h * w)
    base = first * (padded_h * padded_w) + (y0.long() + side - radius) * padded_w
    base += x0.long() + side - radius
    rows_a = feat_a.float().permute(0, 2, 3, 1).reshape(-1, channels) / (channels**0.5)
    gathered = torch.empty_like(rows_a)
    index = torch.empty_like(base)
    dots = torch.empty(base.shape[0], side, side, device=feat_a.device, dtype=torch.float32)
    with _no_autocast(feat_a.device):  # autocast would send these dot products to a slow bmm
        for i in range(side):
            if checkpoint is not None:
                checkpoint(f"correlation {i + 1}/{side}")
            for j in range(side):
                torch.add(base, i * padded_w + j, out=index)
                torch.index_select(table, 0, index, out=gathered)
                dots[:, i, j] = torch.einsum("nc,nc->n", gathered, rows_a)
    top = (1 - fx) * dots[:, :-1, :-1] + fx * dots[:, :-1, 1:]
    bottom = (1 - fx) * dots[:, 1:, :-1] + fx * dots[:, 1:, 1:]
    corr = (1 - fy) * top + fy * bottom  # (B h w, 2r + 1, 2r + 1)
    return corr.reshape(batch, h, w, -1).permute(0, 3, 1, 2).to(feat_a.dtype)


class RefinerBlock(nn.Sequential):
    """Depthwise ``k x k`` conv, BatchNorm, ReLU, pointwise conv (the BatchNorm folded in eval)."""

    def __init__(self, width: int, kernel: int):
        super().__init__(
            nn.Conv2d(width, width, kernel, padding=kernel // 2, groups=width),
            nn.BatchNorm2d(width, momentum=0.01),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        depthwise, norm, _, pointwise = self
        return pointwise(F.relu(conv_bn(x, depthwise, norm), inplace=True))


class Refiner(nn.Module):
    """Depthwise-separable conv stack predicting a displacement and a certainty increment."""

    def __init__(self, spec: RefinerSpec, depth: int, kernel: int):
        super().__init__()
        width = spec.width
        self.block1 = RefinerBlock(width, kernel)
        self.hidden_blocks = nn.Sequential(*(RefinerBlock(width, kernel) for _ in range(depth)))
        self.out_conv = nn.Conv2d(width, 3, kernel_size=1)
        self.disp_emb = nn.Conv2d(2, spec.displacement_dim, kernel_size=1)
        self.corr_radius = spec.corr_radius

    def macs_per_cell(self) -> float:
        """Multiply-adds of the convolutions per grid cell (the correlation is not counted)."""
        width = self.block1[0].in_channels
        taps = self.block1[0].kernel_size[0] * self.block1[0].kernel_size[1]
        return (1 + len(self.hidden_blocks)) * (taps * width + width * width) + 3 * width

    def forward(
        self,
        feat_a: Tensor,
        feat_b: Tensor,
        warp: Tensor,
        scale_factor: float,
        checkpoint: Checkpoint | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(B, C, h, w) x 2, warp (B, 2, h, w) -> displacement (B, 2, h, w), logit (B, 1, h, w).

        ``checkpoint`` is called before each block."""
        _, _, h, w = feat_a.shape
        warped_b = F.grid_sample(
            feat_b, warp.permute(0, 2, 3, 1).to(feat_b.dtype), align_corners=False
        )
        centres = cell_centres(h, w, feat_a.device).permute(2, 0, 1)[None]
        embedding = self.disp_emb(40 / 32 * scale_factor * (warp - centres))
        parts = [feat_a, warped_b, embedding]
        if self.corr_radius:  # not counted in the progress: it stays at the refiner's start
            correlate = None if checkpoint is None else (lambda name: checkpoint(name, 0.0))
            parts.append(local_correlation(feat_a, feat_b, warp, self.corr_radius, correlate))
        x = torch.empty(
            (feat_a.shape[0], sum(part.shape[1] for part in parts), h, w),
            dtype=torch.promote_types(feat_a.dtype, embedding.dtype),
            device=feat_a.device,
            memory_format=torch.channels_last,
        )
        start = 0
        for part in parts:  # concatenated straight into channels-last memory
            x[:, start : start + part.shape[1]] = part
            start += part.shape[1]
        blocks = (self.block1, *self.hidden_blocks)
        for index, block in enumerate(blocks):
            if checkpoint is not None:
                checkpoint(f"block {index + 1}/{len(blocks)}", index / len(blocks))
            x = block(x)
        with _no_autocast(x.device):
            out = self.out_conv(x.float())
        return out[:, :2].contiguous(), out[:, 2:].contiguous()


# ---------------------------------------------------------------------------------------------
# The decoder and the model


class RomaDecoder(nn.Module):
    """Projections, GP, anchor decoder and refiners (the checkpoint's ``decoder.*``)."""

    def __init__(self, config: RomaConfig, backbone_dim: int):
        super().__init__()
        self.config = config
        self.embedding_decoder = AnchorDecoder(
            config.decoder_dim, config.decoder_depth, config.decoder_heads, config.anchor_res
        )
        self.gps = nn.ModuleDict(
            {"16": GaussianProcessEmbedding(config.gp_dim, config.gp_temperature, config.gp_noise)}
        )
        inputs = {16: backbone_dim, **dict(zip((1, 2, 4, 8), config.fine_dims, strict=True))}
        self.proj = nn.ModuleDict(
            {
                str(scale): nn.Sequential(
                    nn.Conv2d(inputs[scale], spec.feature_dim, kernel_size=1),
                    nn.BatchNorm2d(spec.feature_dim),
                )
                for scale, spec in config.refiners.items()
            }
        )
        self.conv_refiner = nn.ModuleDict(
            {
                str(scale): Refiner(spec, config.refiner_depth, config.refiner_kernel)
                for scale, spec in config.refiners.items()
            }
        )

    def forward(
        self,
        feats_a: dict[int, Tensor],
        feats_b: dict[int, Tensor],
        *,
        scale_factor: float,
        start: tuple[Tensor, Tensor] | None = None,
        captured: dict[str, Tensor] | None = None,
        capture: frozenset[str] = frozenset(),
        prefix: str = "coarse",
        progress: Progress | None = None,
    ) -> dict[int, tuple[Tensor, Tensor]]:
        """Match pyramids {scale: (B, C, h_s, w_s)} -> {scale: (warp, certainty logit)}.

        Without ``start`` this is the coarse pass (scales 16 to 1, anchors at 16); with
        ``start = (warp, logit)`` it is the upsample pass (scales 8 to 1) from that warp.
        Returns the warp (B, 2, h_s, w_s) and logit (B, 1, h_s, w_s) after each refiner.
        ``progress`` has the steps ``"{prefix}: decoder"`` and ``"{prefix}: refiner sS"``.
        """
        scales = [scale for scale in (16, 8, 4, 2, 1) if scale in feats_a]
        if start is not None:
            scales = [scale for scale in scales if scale != 16]
        sizes = {scale: tuple(feats_a[scale].shape[-2:]) for scale in scales}
        full_h, full_w = feats_a[1].shape[-2:]
        flow = certainty = None
        if start is not None:
            flow, certainty = (
                F.interpolate(t, size=sizes[scales[0]], mode="bilinear", align_corners=False)
                for t in start
            )
        out: dict[int, tuple[Tensor, Tensor]] = {}
        for scale in scales:
            refiner = f"{prefix}: refiner s{scale}"
            step = begin(progress, f"{prefix}: decoder" if scale == 16 else refiner)
            # not folded: the GP's solve amplifies rounding differences in these features ~1e4x
            proj = self.proj[str(scale)]
            feat_a, feat_b = proj(feats_a[scale]), proj(feats_b[scale])
            if scale == 16:
                gp = self.gps["16"](feat_a, feat_b)
                logits, certainty = self.embedding_decoder(gp.to(feat_a.dtype), feat_a, step)
                flow = anchors_to_warp(logits)
                certainty = certainty.float()
                if captured is not None:
                    if "gp" in capture:
                        captured["gp"] = gp
                    if "anchors" in capture:
                        captured["anchor_logits"] = logits
                        captured["coarse_warp"] = flow
                step = begin(progress, refiner)
            delta, delta_certainty = self.conv_refiner[str(scale)](
                feat_a, feat_b, flow, scale_factor, step
            )
            displacement = torch.stack(
                (delta[:, 0] / (4 * full_w), delta[:, 1] / (4 * full_h)), dim=1
            )
            flow = flow + scale * displacement
            certainty = certainty + delta_certainty
            out[scale] = (flow, certainty)
            if captured is not None and "refiners" in capture:
                captured[f"{prefix}.s{scale}.flow"] = flow
                captured[f"{prefix}.s{scale}.certainty"] = certainty
            if scale != 1:
                size = sizes[scale // 2]
                flow = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
                certainty = F.interpolate(
                    certainty, size=size, mode="bilinear", align_corners=False
                )
        return out


class Roma(nn.Module):
    """RoMa on a frozen ViT; ``state_dict()`` is the official checkpoint's layout."""

    def __init__(self, backbone: VisionTransformer, config: RomaConfig | None = None):
        super().__init__()
        self.config = config or RomaConfig(backbone=backbone.config.name)
        self._backbone = (backbone.freeze(),)  # a tuple: not registered, not in state_dict
        self.encoder = FineEncoder()
        self.decoder = RomaDecoder(self.config, backbone.config.embed_dim)

    @property
    def backbone(self) -> VisionTransformer:
        return self._backbone[0]

    @property
    def coarse_stride(self) -> int:
        return self.backbone.config.patch_size

    def _apply(self, fn, recurse: bool = True):
        self.backbone._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> Roma:
        super().train(mode)
        self.backbone.eval()
        return self

    def encode(
        self,
        images: Tensor,
        *,
        coarse: bool = True,
        captured: dict[str, Tensor] | None = None,
        capture: frozenset[str] = frozenset(),
        progress: Progress | None = None,
        tokens: dict[str, Tensor] | None = None,
    ) -> dict[int, Tensor]:
        """(B, 3, H, W) -> VGG pyramid {1, 2, 4, 8} and, with ``coarse``, backbone tokens {16}.

        ``tokens``: the backbone's output for ``images`` computed before (``patch_tokens``, and
        ``cls_attention`` when ``"attention"`` is captured); the backbone then does not run, and
        ``tokens`` is filled with its output when empty. ``progress`` has the steps ``"coarse:
        VGG"`` and ``"coarse: backbone"`` (``"upsample: VGG"`` without ``coarse``)."""
        prefix = "coarse" if coarse else "upsample"
        pyramid = self.encoder.cnn(images, begin(progress, f"{prefix}: VGG"))
        if coarse:
            attention = captured is not None and "attention" in capture
            step = begin(progress, "coarse: backbone")
            if not tokens:
                with torch.no_grad():
                    computed = self.backbone(images, attention=attention, checkpoint=step)
                if tokens is None:
                    tokens = {}
                tokens.update(computed)
            elif attention and "cls_attention" not in tokens:
                raise ValueError("the given backbone tokens hold no cls_attention to capture")
            pyramid[16] = tokens["patch_tokens"]
            if captured is not None:
                if "backbone" in capture:
                    captured["backbone"] = tokens["patch_tokens"]
                if attention:
                    captured["attention"] = tokens["cls_attention"]
        return pyramid

    def forward(
        self,
        images_a: Tensor,
        images_b: Tensor,
        *,
        upsample_a: Tensor | None = None,
        upsample_b: Tensor | None = None,
        symmetric: bool = True,
        attenuate: bool = True,
        capture: frozenset[str] | set[str] = frozenset(),
        checkpoint: Checkpoint | None = None,
        backbone_tokens: dict[str, Tensor] | None = None,
    ) -> RomaOutput:
        """Match ImageNet-normalised images (N, 3, h, w) (sides multiples of the patch size).

        ``upsample_a``, ``upsample_b`` (N, 3, H, W): the same images at the upsample
        resolution, or None for the coarse pass only. ``capture`` names intermediates to keep
        (:data:`CAPTURABLE`; ``"attention"`` keeps every backbone block's CLS attention).
        ``checkpoint(step, fraction)`` is called between steps (module docstring, "Progress and
        cancellation"); it may raise to cancel the run. ``backbone_tokens``: the
        ``backbone_tokens`` of an earlier output on the same coarse images (A then B, same
        weights, device and precision): the backbone is not run again, with the same numbers.
        """
        capture = frozenset(capture)
        unknown = capture - CAPTURABLE
        if unknown:
            raise ValueError(f"cannot capture {sorted(unknown)}; choose from {sorted(CAPTURABLE)}")
        if images_a.shape != images_b.shape:
            raise ValueError(f"images differ in shape: {images_a.shape} vs {images_b.shape}")
        captured: dict[str, Tensor] = {}
        count = images_a.shape[0]
        progress = None
        if checkpoint is not None:
            upsample_hw = None if upsample_a is None else tuple(upsample_a.shape[-2:])
            costs = self.step_costs(tuple(images_a.shape[-2:]), upsample_hw, count, symmetric)
            progress = Progress(checkpoint, costs)
        tokens = {} if backbone_tokens is None else dict(backbone_tokens)
        fine = None
        if upsample_a is not None and upsample_b is not None:

            def fine():
                images = torch.cat((upsample_a, upsample_b))
                return self.encode(images, coarse=False, progress=progress)

        images = torch.cat((images_a, images_b))
        out = self._decode(  # the pyramid is not kept here: freed before the upsample pass
            self.encode(
                images, captured=captured, capture=capture, progress=progress, tokens=tokens
            ),
            count,
            fine,
            symmetric,
            attenuate,
            captured,
            capture,
            progress,
        )
        out.backbone_tokens = tokens
        return out

    def match_encoded(
        self,
        encoded_a: dict[int, Tensor],
        encoded_b: dict[int, Tensor],
        *,
        fine_a: dict[int, Tensor] | None = None,
        fine_b: dict[int, Tensor] | None = None,
        symmetric: bool = True,
        attenuate: bool = True,
        capture: frozenset[str] | set[str] = frozenset(),
    ) -> RomaOutput:
        """Match images already encoded: :meth:`forward` without its encoders.

        ``encoded_a``, ``encoded_b``: :meth:`encode` of the coarse images (N, 3, h, w), the
        pyramids {1, 2, 4, 8: VGG, 16: backbone tokens}, each image encoded on its own or in a
        batch; ``fine_a``, ``fine_b``: ``encode(upsample images, coarse=False)`` for the upsample
        pass, or None. The decoder, refiners and output are :meth:`forward`'s, so the output
        equals ``forward``'s on the same pyramids (the ``"backbone"`` and ``"attention"``
        captures are the encoder's and are not available here).
        """
        capture = frozenset(capture)
        unknown = capture - (CAPTURABLE - {"backbone", "attention"})
        if unknown:
            raise ValueError(f"cannot capture {sorted(unknown)} from encoded images")
        count = encoded_a[16].shape[0]
        pyramid = {s: torch.cat((encoded_a[s], encoded_b[s])) for s in encoded_a}
        fine = None
        if fine_a is not None and fine_b is not None:

            def fine():
                return {s: torch.cat((fine_a[s], fine_b[s])) for s in fine_a}

        return self._decode(pyramid, count, fine, symmetric, attenuate, {}, capture, None)

    def _decode(
        self,
        pyramid: dict[int, Tensor],
        count: int,
        fine: Callable[[], dict[int, Tensor]] | None,
        symmetric: bool,
        attenuate: bool,
        captured: dict[str, Tensor],
        capture: frozenset[str],
        progress: Progress | None,
    ) -> RomaOutput:
        """The coarse pass on the pyramid of [A..., B...] ({scale: (2 N, C, h_s, w_s)}), the
        upsample pass on ``fine()`` (called after the coarse pass) when given, the output."""
        feats_a, feats_b = _pair_up(pyramid, count, symmetric)
        h, w = pyramid[1].shape[-2:]
        passes = self.decoder(
            feats_a,
            feats_b,
            scale_factor=math.sqrt(h * w / TRAINING_RESOLUTION**2),
            captured=captured,
            capture=capture,
            progress=progress,
        )
        del feats_a, feats_b, pyramid
        coarse_certainty = passes[16][1]
        flow, certainty = passes[1]
        if fine is not None:
            fine_pyramid = fine()
            h, w = fine_pyramid[1].shape[-2:]
            feats_a, feats_b = _pair_up(fine_pyramid, count, symmetric)
            passes = self.decoder(
                feats_a,
                feats_b,
                scale_factor=math.sqrt(h * w / TRAINING_RESOLUTION**2),
                start=(flow, certainty),
                captured=captured,
                capture=capture,
                prefix="upsample",
                progress=progress,
            )
            flow, certainty = passes[1]
        if attenuate:
            low = F.interpolate(coarse_certainty, size=(h, w), mode="bilinear", align_corners=False)
            certainty = certainty - 0.5 * low * (low < 0)
        warp = flow.permute(0, 2, 3, 1).float()
        certainty = certainty[:, 0].float().sigmoid()
        outside = (warp.abs() > 1).any(dim=-1)
        certainty = certainty.masked_fill(outside, 0.0)
        return RomaOutput(warp.clamp(-1, 1), certainty, captured)

    def step_costs(
        self,
        coarse_hw: tuple[int, int],
        upsample_hw: tuple[int, int] | None,
        pairs: int = 1,
        symmetric: bool = True,
    ) -> dict[str, float]:
        """Estimated multiply-adds of each step of :meth:`forward`, in the order they run.

        Convolutions and matrix products only (the GP's solve, the local correlation and
        element-wise work are left out): what progress is weighted by. ``pairs`` is ``N``.
        """
        config, vit = self.config, self.backbone.config
        images, queries = 2 * pairs, pairs * (2 if symmetric else 1)
        vgg = sum(self.encoder.cnn.conv_costs())
        h, w = coarse_hw
        cells = (h // vit.patch_size) * (w // vit.patch_size)
        tokens = cells + vit.num_prefix_tokens
        dim = config.decoder_dim
        decoder = config.decoder_depth * _block_macs(cells, dim, 4 * dim)
        costs = {
            "coarse: VGG": images * h * w * vgg,
            "coarse: backbone": images
            * vit.depth
            * _block_macs(tokens, vit.embed_dim, vit.ffn_hidden),
            "coarse: decoder": queries * (decoder + cells * dim * (config.anchor_res**2 + 1)),
        }
        passes = [("coarse", coarse_hw, (16, 8, 4, 2, 1))]
        if upsample_hw is not None:
            passes.append(("upsample", upsample_hw, (8, 4, 2, 1)))
        for name, (height, width), scales in passes:
            if name == "upsample":
                costs["upsample: VGG"] = images * height * width * vgg
            for scale in scales:
                grid = cells if scale == 16 else (height // scale) * (width // scale)
                refiner = self.decoder.conv_refiner[str(scale)]
                costs[f"{name}: refiner s{scale}"] = queries * grid * refiner.macs_per_cell()
        return costs


def _pair_up(
    pyramid: dict[int, Tensor], count: int, symmetric: bool
) -> tuple[dict[int, Tensor], dict[int, Tensor]]:
    """Split a pyramid of [A..., B...] into the decoder's query and support pyramids."""
    if symmetric:  # queries A then B, supports B then A
        swapped = {s: torch.cat((t[count:], t[:count])) for s, t in pyramid.items()}
        return pyramid, swapped
    return {s: t[:count] for s, t in pyramid.items()}, {s: t[count:] for s, t in pyramid.items()}


def load_roma_weights(model: Roma, path) -> None:
    """Load an official RoMa checkpoint strictly (``weights_only`` / safetensors).

    Raises :class:`core.errors.InputError` naming missing, unexpected and mis-shaped keys, or
    refusing a file that is not a plain tensor checkpoint.
    """
    state, _ = read_checkpoint(path)
    check_state_dict(model, state, path)
    expected = model.state_dict()
    on_meta = any(tensor.is_meta for tensor in expected.values())
    if on_meta:
        state = {key: state[key].to(tensor.dtype) for key, tensor in expected.items()}
    model.load_state_dict(state, strict=True, assign=on_meta)


def compile_model(model: Roma, mode: str = "max-autotune-no-cudagraphs") -> Roma:
    """Compile ``model``'s forward with ``torch.compile`` (in place; the state dict is unchanged).

    Meant for CUDA, where inductor fuses the refiners' element-wise work; the first match then
    takes the compile time (minutes), later ones at the same resolution are faster.
    """
    model.forward = torch.compile(model.forward, mode=mode, dynamic=False)
    return model


def autocast_context(device: torch.device | str, precision: str):
    """``torch.autocast`` for ``"bf16"`` / ``"fp16"``, nothing for ``"fp32"``."""
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in dtypes:
        raise ValueError(f"precision {precision!r}: use fp32, bf16 or fp16")
    return torch.autocast(torch.device(device).type, dtype=dtypes[precision])
