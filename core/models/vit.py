"""Frozen ViT backbones for the coarse matcher: DINOv2 (patch 14) and DINOv3 (patch 16).

Our own implementation of the two official vision transformers, written to load their released
checkpoints strictly and to give the reference code's numbers on CPU in fp32:

* **DINOv2** ViT-S/B/L/14 and ViT-g/14 (``dinov2_vit{s,b,l,g}14_pretrain.pth``): a learned
  position embedding on a 37 x 37 grid (the 518 px training size), resized for another grid
  exactly like facebookresearch/dinov2 and romatch do: bicubic, ``scale_factor = (n + 0.1) / 37``
  per axis, no antialias, in fp32, and not resized at all on the 37 x 37 grid. transformers'
  ``Dinov2Model`` resizes to an output *size* instead, so off the native grid its features
  differ from the official model's (DESIGN.md: about 1 % at 560 px with the real weights).
  ViT-g uses a fused SwiGLU FFN.
* **DINOv3** ViT-S/B/L/16 (MLP FFN) and the "plus" variants ViT-S+/L+/H+/16 (SwiGLU FFN): no
  position embedding; axial 2D RoPE on the patch tokens (CLS and registers are not rotated): the
  patch centres are put in [-1, 1] along each axis separately, head dimension ``d`` is split in
  four quarters of frequencies with periods ``base ** (4 i / d)``, ``base = 100``, computed in
  fp32; four register ("storage") tokens after CLS; the key part of the qkv bias is masked to
  zero (``attn.qkv.bias_mask``); LayerNorm eps 1e-5.

Both: pre-norm blocks ``x + ls1 * attn(norm1(x))`` then ``x + ls2 * ffn(norm2(x))`` with
LayerScale, a final LayerNorm, and attention through ``scaled_dot_product_attention``: the
attention matrix is never materialised. Inference only: no drop-path, no RoPE coordinate
augmentation and no token masking (``mask_token`` is kept so that checkpoints load strictly).

Shapes (``B`` images, ``p`` the patch size, ``h = H / p``, ``w = W / p``, ``C`` the width):

==================  ================  ===========================================================
name                shape             meaning
==================  ================  ===========================================================
images              (B, 3, H, W)      ImageNet-normalised RGB; H and W multiples of ``p``
patch_tokens        (B, C, h, w)      last block's patch tokens after the final LayerNorm
cls_token           (B, C)            the CLS token after the final LayerNorm
cls_attention       (B, heads, h, w)  CLS -> patch softmax probabilities of one block; the
                                      softmax runs over CLS, registers and patches, so a row
                                      sums to 1 with the prefix part (``with_prefix=True``)
forward's           (B, blocks,       the same for every block, from ``forward(...,
``cls_attention``   heads, h, w)      attention=True)``: taken from each block's own q and k
==================  ================  ===========================================================

**Checkpoints.** A model's ``state_dict`` has the official key layout: ``cls_token``,
``pos_embed`` (DINOv2) or ``storage_tokens`` + ``rope_embed.periods`` (DINOv3), ``mask_token``,
``patch_embed.proj.*``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.*,
ls2.gamma}`` and ``norm.*``. transformers' directories convert to it with
:func:`core.models.vit_checkpoints.dinov2_from_transformers` / ``dinov3_from_transformers``
(and back with the ``*_to_transformers`` functions, which write the layout ``save_pretrained``
writes). :func:`core.models.vit_checkpoints.load_backbone_weights` reads either, only through
``torch.load(..., weights_only=True)`` or safetensors: a checkpoint is untrusted input.

**Keeping it frozen.** :func:`build_backbone` returns the model with ``requires_grad=False`` and in
eval mode. A model that owns a backbone (RoMa) must also keep it out of its own module tree, so
that its ``state_dict`` (the RoMa checkpoint) and its optimiser never see the backbone: hold it
in a plain attribute that is not a registered submodule, e.g. ``self._backbone = (vit,)`` (a
tuple, which ``nn.Module`` does not register; romatch uses a list), and forward ``_apply`` to it so
that ``.to(device)`` on the owner reaches it (:class:`core.models.roma.Roma` does).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.errors import MatchscopeError
from core.models.progress import Checkpoint

DINOV2_LICENCE = "DINOv2 weights: Apache-2.0 (facebookresearch/dinov2)"
DINOV3_LICENCE = "DINOv3 weights: DINOv3 License (facebookresearch/dinov3, ai.meta.com/dinov3)"


# ---------------------------------------------------------------------------------------------
# Configurations


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of one backbone; :data:`BACKBONES` holds the released ones."""

    name: str
    family: str  # "dinov2" or "dinov3"
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    ffn: str = "mlp"  # "mlp" (fc1, fc2), "swiglu" (w1, w2, w3) or "swiglu_fused" (w12, w3)
    ffn_ratio: float = 4.0
    num_registers: int = 0  # DINOv3's "storage tokens", between CLS and the patches
    pos_grid: int | None = None  # DINOv2: side of the learned position-embedding grid
    rope_base: float | None = None  # DINOv3: RoPE period base
    layer_norm_eps: float = 1e-6
    mask_k_bias: bool = False  # DINOv3: the key third of the qkv bias is multiplied by 0
    layer_scale: bool = True  # False: no LayerScale on the residual branches (RoMa v2's matcher)
    licence: str = ""

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def ffn_hidden(self) -> int:
        """Hidden width of the FFN; SwiGLU keeps 2/3 of it, rounded up to a multiple of 8."""
        hidden = int(self.embed_dim * self.ffn_ratio)
        if self.ffn == "mlp":
            return hidden
        return (int(hidden * 2 / 3) + 7) // 8 * 8

    @property
    def num_prefix_tokens(self) -> int:
        """CLS plus the registers: the tokens before the patch tokens."""
        return 1 + self.num_registers


def _dinov2(name: str, dim: int, depth: int, heads: int, ffn: str = "mlp") -> ViTConfig:
    return ViTConfig(
        name=name,
        family="dinov2",
        patch_size=14,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        ffn=ffn,
        pos_grid=37,
        layer_norm_eps=1e-6,
        licence=DINOV2_LICENCE,
    )


def _dinov3(
    name: str, dim: int, depth: int, heads: int, ffn: str = "mlp", ratio: float = 4.0
) -> ViTConfig:
    return ViTConfig(
        name=name,
        family="dinov3",
        patch_size=16,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        ffn=ffn,
        ffn_ratio=ratio,
        num_registers=4,
        rope_base=100.0,
        layer_norm_eps=1e-5,
        mask_k_bias=True,
        licence=DINOV3_LICENCE,
    )


BACKBONES: dict[str, ViTConfig] = {
    config.name: config
    for config in (
        _dinov2("dinov2_vits14", 384, 12, 6),
        _dinov2("dinov2_vitb14", 768, 12, 12),
        _dinov2("dinov2_vitl14", 1024, 24, 16),
        _dinov2("dinov2_vitg14", 1536, 40, 24, ffn="swiglu_fused"),
        _dinov3("dinov3_vits16", 384, 12, 6),
        _dinov3("dinov3_vits16plus", 384, 12, 6, ffn="swiglu", ratio=6.0),
        _dinov3("dinov3_vitb16", 768, 12, 12),
        _dinov3("dinov3_vitl16", 1024, 24, 16),
        _dinov3("dinov3_vitl16plus", 1024, 24, 16, ffn="swiglu", ratio=6.0),
        _dinov3("dinov3_vith16plus", 1280, 32, 20, ffn="swiglu", ratio=6.0),
    )
}


# ---------------------------------------------------------------------------------------------
# Layers


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch: ``x * gamma``."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class MaskedBiasLinear(nn.Linear):
    """DINOv3's qkv projection: the bias is multiplied by ``bias_mask`` (0 on the key third)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        mask = torch.ones(out_features)
        mask[out_features // 3 : 2 * out_features // 3] = 0.0
        self.register_buffer("bias_mask", mask)

    def masked_bias(self) -> Tensor:
        return self.bias * self.bias_mask.to(self.bias.dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.masked_bias())


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))`` with the exact (erf) GELU."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    """DINOv3's SwiGLU: ``w3(silu(w1(x)) * w2(x))``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(dim, hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


class SwiGLUFused(nn.Module):
    """DINOv2's SwiGLU with the two input projections in one matrix: ``w12 = [w1; w2]``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * up)


FFN_LAYERS: dict[str, Callable[[int, int], nn.Module]] = {
    "mlp": Mlp,
    "swiglu": SwiGLU,
    "swiglu_fused": SwiGLUFused,
}

Rope = tuple[Tensor, Tensor]  # (sin, cos), each (h * w, head_dim), fp32 (or bf16)


def apply_rope(x: Tensor, rope: Rope) -> Tensor:
    """Rotate the last ``h * w`` tokens of ``x`` (B, heads, N, d) in the dtype of ``rope``
    (fp32 for DINOv3; bf16 for RoMa v2's matcher); the prefix is kept.

    Rotation pairs channel ``i`` with ``i + d / 2``: ``x * cos + [-x2, x1] * sin``.
    """
    sin, cos = rope
    prefix = x.shape[-2] - sin.shape[-2]
    patches = x[:, :, prefix:].to(sin.dtype)
    first, second = patches.chunk(2, dim=-1)
    rotated = patches * cos + torch.cat((-second, first), dim=-1) * sin
    return torch.cat((x[:, :, :prefix], rotated.to(x.dtype)), dim=-2)


def cls_softmax(q: Tensor, k: Tensor) -> Tensor:
    """``softmax(q_cls k^T / sqrt(d))`` in fp32: q, k (B, heads, N, d) -> (B, heads, N).

    One query (CLS, token 0) per head: the attention matrix is never materialised.
    """
    scale = q.shape[-1] ** -0.5
    logits = torch.einsum("bhd,bhnd->bhn", q[:, :, 0].float(), k.float()) * scale
    return logits.softmax(dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention with an optional RoPE on the patch tokens of q and k."""

    def __init__(self, dim: int, num_heads: int, mask_k_bias: bool = False, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        if mask_k_bias:
            self.qkv = MaskedBiasLinear(dim, 3 * dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x: Tensor, rope: Rope | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(B, N, C) -> q, k, v, each (B, heads, N, C / heads); RoPE applied to q and k."""
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        return q, k, v

    def forward(
        self, x: Tensor, rope: Rope | None = None, cls_probs: list[Tensor] | None = None
    ) -> Tensor:
        """(B, N, C) -> (B, N, C); with ``cls_probs`` given, appends the CLS query's softmax
        over every token (B, heads, N) (:func:`cls_softmax`) from the same q and k."""
        batch, tokens, dim = x.shape
        q, k, v = self.qkv_heads(x, rope)
        if cls_probs is not None:
            cls_probs.append(cls_softmax(q, k))
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = Attention(dim, config.num_heads, config.mask_k_bias)
        self.ls1 = LayerScale(dim) if config.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = FFN_LAYERS[config.ffn](dim, config.ffn_hidden)
        self.ls2 = LayerScale(dim) if config.layer_scale else nn.Identity()

    def forward(
        self, x: Tensor, rope: Rope | None = None, cls_probs: list[Tensor] | None = None
    ) -> Tensor:
        return self.feed_forward(self.attend(x, rope, cls_probs))

    def attend(
        self, x: Tensor, rope: Rope | None = None, cls_probs: list[Tensor] | None = None
    ) -> Tensor:
        """The attention half: ``x + ls1 * attn(norm1(x))`` (``cls_probs``: :class:`Attention`)."""
        return x + self.ls1(self.attn(self.norm1(x), rope, cls_probs))

    def feed_forward(self, x: Tensor) -> Tensor:
        """The FFN half: ``x + ls2 * ffn(norm2(x))``."""
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping ``p x p`` patches -> tokens: (B, 3, H, W) -> (B, h * w, C)."""

    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: Tensor) -> Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


def rope_periods(head_dim: int, base: float) -> Tensor:
    """DINOv3's RoPE periods ``base ** (4 i / head_dim)``, i < head_dim / 4, fp32."""
    quarter = head_dim // 4
    return base ** (2 * torch.arange(quarter, dtype=torch.float32) / (head_dim // 2))


class RopeEmbedding(nn.Module):
    """DINOv3's axial 2D rotary embedding; ``periods`` (head_dim / 4,) is the only state.

    ``dtype``: what the periods are stored and the angles computed in, whatever the module is
    cast to later: fp32 for DINOv3; bf16 for RoMa v2's matcher, whose checkpoint stores them
    so and whose reference computes its sin / cos (and rotates q, k) in bf16 in any run."""

    def __init__(self, head_dim: int, base: float, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.dtype = dtype
        self.register_buffer("periods", rope_periods(head_dim, base).to(dtype))

    def forward(self, h: int, w: int) -> Rope:
        """(sin, cos) for an ``h x w`` patch grid in row-major order, each (h * w, head_dim)."""
        periods = self.periods.to(self.dtype)
        like = {"device": periods.device, "dtype": self.dtype}
        ys = torch.arange(0.5, h, **like) / h  # patch centres in [0, 1]
        xs = torch.arange(0.5, w, **like) / w
        coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).flatten(0, 1)
        coords = 2.0 * coords - 1.0  # (h * w, 2) in [-1, 1]: (y, x)
        angles = 2 * math.pi * coords[:, :, None] / periods[None, None, :]  # (hw, 2, d / 4)
        angles = angles.flatten(1, 2).tile(2)  # (hw, d): [y freqs, x freqs] twice
        return torch.sin(angles), torch.cos(angles)


# ---------------------------------------------------------------------------------------------
# The model


class VisionTransformer(nn.Module):
    """DINOv2 or DINOv3 ViT (see the module docstring); ``forward`` returns a dict of tensors."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        if config.ffn not in FFN_LAYERS:
            raise ValueError(f"unknown ffn {config.ffn!r}; use one of {', '.join(FFN_LAYERS)}")
        self.config = config
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(config.patch_size, dim)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        if config.pos_grid:
            tokens = 1 + config.pos_grid**2  # CLS + the grid
            self.pos_embed = nn.Parameter(0.02 * torch.randn(1, tokens, dim))
        else:
            self.pos_embed = None
        if config.num_registers:
            self.storage_tokens = nn.Parameter(0.02 * torch.randn(1, config.num_registers, dim))
        else:
            self.storage_tokens = None
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # training only; kept for loading
        if config.rope_base:
            self.rope_embed = RopeEmbedding(config.head_dim, config.rope_base)
        else:
            self.rope_embed = None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)

    def official_rope_periods(self) -> Tensor:
        """The RoPE periods the official DINOv3 computes for this configuration (fp32)."""
        return rope_periods(self.config.head_dim, self.config.rope_base)

    def freeze(self) -> VisionTransformer:
        """No gradients, eval mode; returns ``self``."""
        self.requires_grad_(False)
        return self.eval()

    # -- tokens ---------------------------------------------------------------------------

    def position_embedding(self, h: int, w: int) -> Tensor:
        """DINOv2's position embedding for an ``h x w`` grid: (1, 1 + h * w, C).

        Resized like the official code: bicubic in fp32 with ``scale_factor = (n + 0.1) / grid``
        (the scale, not the size, sets the sampling positions), no antialias, and not resized
        on the native grid.
        """
        grid = self.config.pos_grid
        if (h, w) == (grid, grid):
            return self.pos_embed
        pos = self.pos_embed.float()
        dim = pos.shape[-1]
        patch_pos = pos[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(
            patch_pos,
            scale_factor=((h + 0.1) / grid, (w + 0.1) / grid),
            mode="bicubic",
            antialias=False,
        )
        if tuple(patch_pos.shape[-2:]) != (h, w):
            raise RuntimeError(f"position embedding resized to {patch_pos.shape[-2:]}, not {h, w}")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, h * w, dim)
        return torch.cat((pos[:, :1], patch_pos), dim=1)

    def embed(self, images: Tensor) -> tuple[Tensor, tuple[int, int], Rope | None]:
        """images (B, 3, H, W) -> tokens (B, prefix + h * w, C), the grid (h, w), the RoPE."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        batch, _, height, width = images.shape
        p = self.config.patch_size
        if height % p or width % p:
            raise ValueError(f"image size {height}x{width} is not a multiple of the patch {p}")
        h, w = height // p, width // p
        patches = self.patch_embed(images)  # (B, h * w, C)
        cls = self.cls_token.expand(batch, -1, -1)
        if self.pos_embed is not None:
            x = torch.cat((cls, patches), dim=1)
            x = x + self.position_embedding(h, w).to(x.dtype)
        else:
            prefix = [cls]
            if self.storage_tokens is not None:
                prefix.append(self.storage_tokens.expand(batch, -1, -1))
            x = torch.cat((*prefix, patches), dim=1)
        rope = self.rope_embed(h, w) if self.rope_embed is not None else None
        return x, (h, w), rope

    # -- forward --------------------------------------------------------------------------

    def forward(
        self,
        images: Tensor,
        attention: bool = False,
        checkpoint: Checkpoint | None = None,
        layers: tuple[int, ...] | None = None,
    ) -> dict[str, Tensor]:
        """images (B, 3, H, W) -> ``patch_tokens`` (B, C, h, w) and ``cls_token`` (B, C).

        With ``attention``, also ``cls_attention`` (B, blocks, heads, h, w): every block's CLS
        -> patch attention, from the q and k that block computes anyway (one extra query per
        head and block; equal to :meth:`cls_attention` of each block). ``checkpoint`` is
        called before each block and between its attention and FFN halves (:data:`Checkpoint`;
        each half counts as half a block).

        With ``layers`` (0-based block indices, ascending), the official
        ``get_intermediate_layers(x, n=layers)``: ``layers`` is a list of the patch tokens after
        each of those blocks through the final LayerNorm, (B, C, h, w) each; only the blocks up
        to the last one listed run, and ``patch_tokens`` / ``cls_token`` are those of that block.
        """
        x, (h, w), rope = self.embed(images)
        out: dict[str, Tensor] = {}
        probs: list[Tensor] | None = [] if attention else None
        depth = len(self.blocks)
        if layers is not None and (list(layers) != sorted(set(layers)) or not layers):
            raise ValueError(f"layers must be distinct ascending block indices, got {layers}")
        if layers is not None and not 0 <= layers[0] <= layers[-1] < depth:
            raise ValueError(f"layers {layers} out of range for {depth} blocks")
        last = depth if layers is None else layers[-1] + 1
        kept: list[Tensor] = []
        for index, block in enumerate(self.blocks[:last]):
            if checkpoint is None:
                x = block(x, rope, probs)
            else:
                checkpoint(f"block {index + 1}/{last}", index / last)
                x = block.attend(x, rope, probs)
                checkpoint(f"block {index + 1}/{last} FFN", (index + 0.5) / last)
                x = block.feed_forward(x)
            if layers is not None and index in layers:
                kept.append(self._patch_grid(self.norm(x), h, w))
        if probs is not None:
            out["cls_attention"] = torch.stack([self._patch_part(p, h, w) for p in probs], dim=1)
        x = self.norm(x)
        out["cls_token"] = x[:, 0]
        out["patch_tokens"] = kept[-1] if kept else self._patch_grid(x, h, w)
        if layers is not None:
            out["layers"] = kept
        return out

    def _patch_grid(self, x: Tensor, h: int, w: int) -> Tensor:
        """Normed tokens (B, prefix + h * w, C) -> the patch part as a grid (B, C, h, w)."""
        batch, _, dim = x.shape
        patches = x[:, self.config.num_prefix_tokens :]
        return patches.transpose(1, 2).reshape(batch, dim, h, w)

    def cls_attention(
        self, images: Tensor, block: int, head: int | None = None, *, with_prefix: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """CLS -> patch attention of one block: (B, heads, h, w), or (B, 1, h, w) for one head.

        Computed from that block's qkv (after RoPE for DINOv3) for the CLS query only, as
        ``softmax(q_cls k^T / sqrt(d))`` over all tokens, so it costs one extra qkv projection
        and nothing when not asked for. ``block`` may be negative (-1 is the last block).
        ``with_prefix=True`` also returns the probabilities on CLS and the registers
        (B, heads, 1 + registers); patch and prefix parts sum to 1.
        """
        target = self._block_index(block)
        x, (h, w), rope = self.embed(images)
        for index in range(target):
            x = self.blocks[index](x, rope)
        probs = self._cls_probs(self.blocks[target], x, rope, head)
        patches = self._patch_part(probs, h, w)
        if with_prefix:
            return patches, probs[..., : self.config.num_prefix_tokens]
        return patches

    def _block_index(self, block: int) -> int:
        depth = len(self.blocks)
        if not -depth <= block < depth:
            raise ValueError(f"block {block} out of range for {depth} blocks")
        return block % depth

    def _cls_probs(self, block: Block, x: Tensor, rope: Rope | None, head: int | None) -> Tensor:
        """Softmax of the CLS query against every token of ``block``'s input x: (B, heads, N)."""
        q, k, _ = block.attn.qkv_heads(block.norm1(x), rope)  # (B, heads, N, d)
        if head is not None:
            if not -q.shape[1] <= head < q.shape[1]:
                raise ValueError(f"head {head} out of range for {q.shape[1]} heads")
            head %= q.shape[1]
            q, k = q[:, head : head + 1], k[:, head : head + 1]
        return cls_softmax(q, k)

    def _patch_part(self, probs: Tensor, h: int, w: int) -> Tensor:
        patches = probs[..., self.config.num_prefix_tokens :]
        return patches.reshape(probs.shape[0], probs.shape[1], h, w)


def build_backbone(
    kind: str, *, frozen: bool = True, device: str | torch.device | None = None
) -> VisionTransformer:
    """A backbone by name (:data:`BACKBONES`), frozen unless ``frozen=False``.

    ``device="meta"`` allocates nothing; :func:`load_backbone_weights` then takes the file's
    tensors as they are (no second copy, no random initialisation).
    """
    config = BACKBONES.get(kind)
    if config is None:
        raise MatchscopeError(f"unknown backbone {kind!r}; known: {', '.join(BACKBONES)}")
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = VisionTransformer(config)
    return model.freeze() if frozen else model
