"""RoMa v2's coarse matcher: a two-view transformer, a matching softmax, a DPT head.

Input: the DINOv3 patch tokens of A and B after blocks 11 and 17, (B, h, w, 1024) each.

1. **Match transformer** (``mv_vit``): the two layers concatenated (2048) and projected to 768,
   12 pre-norm blocks (12 heads, MLP 3072, LayerNorm eps 1e-6, no LayerScale) alternating
   attention over both views' tokens together (even blocks, no position encoding) and within
   each view (odd blocks, DINOv3's axial RoPE with base 100 on the h x w grid). The RoPE's
   sin / cos, and q and k while rotated, are bf16 in every run, as the reference computes them
   (its ``pos_embed_rope_dtype="bf16"``). Then a norm and a projection to 1024.
2. **Matching**: logits ``cos(f_A, f_B) / 0.1`` of each cell of A over all of B's cells, their
   softmax, and its expectation of a random-Fourier embedding of B's cell centres
   (``[sin, cos](x @ (scale * omega)^T)``, 1024 wide).
3. **DPT head** (:mod:`core.models.dpt`) on ``[f_11, f_11, f_17 + f_mv + emb, f_17 + f_mv +
   emb]``: warp (2) and overlap logit (1) at stride 4.

``precision="bf16"`` reproduces the reference's autocasts: the transformer and the DPT body
under bf16 autocast (the matching in fp32, the DPT's last convolutions in fp32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from core.models.dpt import DPTHead
from core.models.roma import cell_centres
from core.models.vit import Block, RopeEmbedding, ViTConfig

MATCHER_CONFIG = ViTConfig(
    name="romav2_matcher",
    family="dinov3",
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    rope_base=100.0,
    layer_norm_eps=1e-6,
    layer_scale=False,
)
"""The reference's ``vit_base`` match transformer (its blocks are DINOv3 blocks)."""


@dataclass(frozen=True)
class CoarseMatch:
    """The matcher's output per direction (``_ba`` None unless bidirectional).

    logits: (B, h, w, h, w) matching logits of each cell of the source over the target's
    cells; warp: (B, 4h, 4w, 2) normalised coordinates in the target, fp32; overlap: (B, 4h,
    4w, 1) overlap logit, fp32.
    """

    logits_ab: Tensor
    warp_ab: Tensor
    overlap_ab: Tensor
    logits_ba: Tensor | None = None
    warp_ba: Tensor | None = None
    overlap_ba: Tensor | None = None


def autocast(device: torch.device, precision: str):
    """bf16 autocast for ``precision="bf16"`` (on CPU too, as the reference), else none."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


class MatchTransformer(nn.Module):
    """Two views' tokens (B, 2, h, w, in_dim) -> (B, 2, h, w, out_dim); keys as ``mv_vit``."""

    def __init__(self, config: ViTConfig = MATCHER_CONFIG, in_dim: int = 2048, out_dim=1024):
        super().__init__()
        self.config = config
        self.projector = nn.Linear(in_dim, config.embed_dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.output_projector = nn.Linear(config.embed_dim, out_dim)
        self.rope_embed = RopeEmbedding(config.head_dim, config.rope_base, torch.bfloat16)

    def official_rope_periods(self) -> Tensor:
        """The periods as the reference initialises them: ``base ** (2 i / (d / 2))`` in bf16."""
        quarter = self.config.head_dim // 4
        exponent = 2 * torch.arange(quarter, dtype=torch.bfloat16) / (self.config.head_dim // 2)
        return self.config.rope_base**exponent

    def forward(self, x: Tensor) -> Tensor:
        batch, views, h, w, _ = x.shape
        tokens = self.projector(x.reshape(batch, views * h * w, -1))
        rope = self.rope_embed(h, w)
        for index, block in enumerate(self.blocks):
            if index % 2:  # within each view, with RoPE
                tokens = block(tokens.reshape(batch * views, h * w, -1), rope)
                tokens = tokens.reshape(batch, views * h * w, -1)
            else:  # over both views, no position encoding
                tokens = block(tokens)
        out = self.output_projector(self.norm(tokens))
        return out.reshape(batch, views, h, w, -1)


class RomaV2Matcher(nn.Module):
    """The coarse matcher; ``state_dict()`` is the checkpoint's ``matcher.`` part.

    ``omega`` (512, 2) random Fourier frequencies, ``scale`` (int64 scalar) and ``temp`` (the
    softmax temperature, 0.1) are buffers of the checkpoint."""

    def __init__(self, config: ViTConfig = MATCHER_CONFIG, feat_dim: int = 1024, dim: int = 1024):
        super().__init__()
        self.omega = nn.Buffer(torch.zeros(dim // 2, 2))
        self.scale = nn.Buffer(torch.tensor(1))
        self.temp = nn.Buffer(torch.tensor(0.1))
        self.mv_vit = MatchTransformer(config, 2 * feat_dim, dim)
        self.head = DPTHead(dim_in=dim, out_dim=3)

    def position_embedding(self, h: int, w: int) -> Tensor:
        """(h * w, dim) random-Fourier embedding of the cell centres of an h x w grid."""
        grid = cell_centres(h, w, self.omega.device).reshape(h * w, 2)
        angles = grid @ (self.scale * self.omega).T
        return torch.cat((angles.sin(), angles.cos()), dim=-1)

    def match(self, f_a: Tensor, f_b: Tensor) -> tuple[Tensor, Tensor]:
        """Refined features (B, h, w, D) of the source and target -> logits (B, h, w, h, w)
        and the expected position embedding (B, h, w, D), in fp32."""
        batch, h, w, dim = f_a.shape
        a = (f_a / f_a.norm(dim=-1, keepdim=True)).reshape(batch, h * w, dim)
        b = (f_b / f_b.norm(dim=-1, keepdim=True)).reshape(batch, h * w, dim)
        logits = (1 / self.temp) * (a @ b.transpose(1, 2))  # (B, hw, hw)
        embedding = torch.softmax(logits, dim=-1) @ self.position_embedding(h, w)
        return logits.reshape(batch, h, w, h, w), embedding.reshape(batch, h, w, -1)

    def forward(
        self,
        layers_a: list[Tensor],
        layers_b: list[Tensor],
        bidirectional: bool = True,
        precision: str = "fp32",
    ) -> CoarseMatch:
        """Two (B, h, w, 1024) token maps of each image -> :class:`CoarseMatch`."""
        if layers_a[0].shape != layers_b[0].shape:
            raise ValueError("A and B must have the same token grid (both images one size)")
        device = layers_a[0].device
        both = torch.stack((torch.cat(layers_a, dim=-1), torch.cat(layers_b, dim=-1)), dim=1)
        with autocast(device, precision):
            refined = self.mv_vit(both).float()
        directions = [(layers_a, refined[:, 0], refined[:, 1])]
        if bidirectional:
            directions.append((layers_b, refined[:, 1], refined[:, 0]))
        out = []
        for layers, source, target in directions:
            logits, embedding = self.match(source, target)
            first, last = layers
            head_input = [first, first, last + source + embedding, last + source + embedding]
            prediction = self.head(head_input, precision=precision)
            out += [logits, prediction[..., :2], prediction[..., 2:]]
        return CoarseMatch(*out)
