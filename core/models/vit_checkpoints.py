"""Checkpoints of the ViT backbones (:mod:`core.models.vit`): the official key layout and
transformers' (``Dinov2Model`` / ``DINOv3ViTModel`` directories), converted both ways, and
:func:`load_backbone_weights`, which reads either strictly through the safe reader of
:mod:`core.models.checkpoint` (a checkpoint is untrusted input).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import Tensor

from core.errors import InputError, MatchscopeError
from core.models.checkpoint import check_state_dict, read_checkpoint
from core.models.vit import VisionTransformer, ViTConfig, rope_periods

# ---------------------------------------------------------------------------------------------
# Key layouts: official <-> transformers


def _rename(name: str, table: dict[str, str]) -> str | None:
    """``name`` with the first matching dotted prefix of ``table`` replaced, else None."""
    for old, new in table.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return None


def _convert(
    state: dict[str, Tensor],
    block_pattern: str,
    block_prefix: str,
    top: dict[str, str],
    inner: dict[str, str],
    fused: dict[str, tuple[str, int, int]],
) -> tuple[dict[str, Tensor], dict[str, list]]:
    """Rename ``state`` by the tables; parts of fused tensors are gathered, not yet joined.

    ``block_pattern`` matches a block's prefix and captures its index; ``inner`` renames the
    rest of a block key, ``fused`` maps it to (target module, part index, number of parts).
    Keys that match nothing are kept unchanged (they show up as unexpected when loading).
    Returns the renamed tensors and ``{target key: [parts, original keys]}``.
    """
    out: dict[str, Tensor] = {}
    groups: dict[str, list] = {}
    for key, tensor in state.items():
        match = re.match(block_pattern, key)
        if match is None:
            out[_rename(key, top) or key] = tensor
            continue
        prefix = f"{block_prefix}{match.group(1)}."
        rest = key[match.end() :]
        module, _, param = rest.rpartition(".")
        if module in fused:
            target, part, count = fused[module]
            slots, origins = groups.setdefault(f"{prefix}{target}.{param}", [[None] * count, {}])
            slots[part] = tensor
            origins[part] = key
            continue
        renamed = _rename(rest, inner)
        out[prefix + renamed if renamed is not None else key] = tensor
    return out, groups


def _join(out: dict[str, Tensor], groups: dict[str, list]) -> dict[str, Tensor]:
    """Concatenate complete fused groups along dim 0; incomplete ones keep their old keys."""
    for target, (slots, origins) in groups.items():
        if all(slot is not None for slot in slots):
            out[target] = torch.cat(slots, dim=0)
        else:
            for part, key in origins.items():
                out[key] = slots[part]
    return out


_DINOV2_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.mask_token": "mask_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection": "patch_embed.proj",
    "layernorm": "norm",
}
_DINOV2_INNER = {
    "norm1": "norm1",
    "norm2": "norm2",
    "attention.output.dense": "attn.proj",  # on disk
    "attention.o_proj": "attn.proj",  # transformers >= 5 in memory
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "mlp.weights_in": "mlp.w12",  # fused SwiGLU (ViT-g)
    "mlp.weights_out": "mlp.w3",
    "mlp.down_proj": "mlp.w3",
}
_DINOV2_FUSED = {
    "attention.attention.query": ("attn.qkv", 0, 3),
    "attention.attention.key": ("attn.qkv", 1, 3),
    "attention.attention.value": ("attn.qkv", 2, 3),
    "attention.q_proj": ("attn.qkv", 0, 3),
    "attention.k_proj": ("attn.qkv", 1, 3),
    "attention.v_proj": ("attn.qkv", 2, 3),
    "mlp.gate_proj": ("mlp.w12", 0, 2),
    "mlp.up_proj": ("mlp.w12", 1, 2),
}


def dinov2_from_transformers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """transformers ``Dinov2Model`` state (on-disk or in-memory names) -> the official layout."""
    out, groups = _convert(
        state, r"encoder\.layer\.(\d+)\.", "blocks.", _DINOV2_TOP, _DINOV2_INNER, _DINOV2_FUSED
    )
    return _join(out, groups)


def dinov2_to_transformers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official DINOv2 layout -> the layout ``Dinov2Model.save_pretrained`` writes."""
    top = {new: old for old, new in _DINOV2_TOP.items()}
    inner = {
        "norm1": "norm1",
        "norm2": "norm2",
        "attn.proj": "attention.output.dense",
        "ls1.gamma": "layer_scale1.lambda1",
        "ls2.gamma": "layer_scale2.lambda1",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
        "mlp.w12": "mlp.weights_in",
        "mlp.w3": "mlp.weights_out",
    }
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        match = re.match(r"blocks\.(\d+)\.", key)
        if match is None:
            out[_rename(key, top) or key] = tensor
            continue
        prefix = f"encoder.layer.{match.group(1)}."
        rest = key[match.end() :]
        if rest.startswith("attn.qkv."):
            param = rest.rpartition(".")[2]
            for name, part in zip(("query", "key", "value"), tensor.chunk(3, dim=0), strict=True):
                out[f"{prefix}attention.attention.{name}.{param}"] = part
            continue
        out[prefix + (_rename(rest, inner) or rest)] = tensor
    return out


_DINOV3_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.mask_token": "mask_token",
    "embeddings.register_tokens": "storage_tokens",
    "embeddings.patch_embeddings": "patch_embed.proj",
    "norm": "norm",
}
_DINOV3_INNER = {
    "norm1": "norm1",
    "norm2": "norm2",
    "attention.o_proj": "attn.proj",
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
}
_DINOV3_FUSED = {
    "attention.q_proj": ("attn.qkv", 0, 3),
    "attention.k_proj": ("attn.qkv", 1, 3),
    "attention.v_proj": ("attn.qkv", 2, 3),
}
_DINOV3_MLP = {"mlp.up_proj": "mlp.fc1", "mlp.down_proj": "mlp.fc2"}
_DINOV3_SWIGLU = {"mlp.gate_proj": "mlp.w1", "mlp.up_proj": "mlp.w2", "mlp.down_proj": "mlp.w3"}


def dinov3_from_transformers(
    state: dict[str, Tensor], head_dim: int, rope_base: float = 100.0
) -> dict[str, Tensor]:
    """transformers ``DINOv3ViTModel`` state (on-disk or in-memory names) -> official layout.

    transformers stores no key bias (``key_bias=False``) and no RoPE periods: the key bias
    becomes zeros with the official ``bias_mask`` (a state with a key bias gets a mask of ones,
    so it is used as transformers uses it), and ``rope_embed.periods`` is computed from
    ``head_dim`` and ``rope_base`` (``rope_theta`` in its config).
    """
    gated = any(".mlp.gate_proj." in key for key in state)
    inner = {**_DINOV3_INNER, **(_DINOV3_SWIGLU if gated else _DINOV3_MLP)}
    out, groups = _convert(
        state, r"(?:model\.)?layer\.(\d+)\.", "blocks.", _DINOV3_TOP, inner, _DINOV3_FUSED
    )
    for target, (slots, _) in groups.items():
        q_bias, k_bias, v_bias = slots
        if not target.endswith(".attn.qkv.bias") or q_bias is None or v_bias is None:
            continue
        width = q_bias.shape[0]
        mask = torch.ones(3 * width, dtype=q_bias.dtype)
        if k_bias is None:
            slots[1] = torch.zeros_like(q_bias)
            mask[width : 2 * width] = 0.0
        out[target + "_mask"] = mask
    out = _join(out, groups)
    if "mask_token" in out and out["mask_token"].ndim == 3:
        out["mask_token"] = out["mask_token"].reshape(1, -1)  # (1, 1, C) -> (1, C)
    out["rope_embed.periods"] = rope_periods(head_dim, rope_base)
    return out


def dinov3_to_transformers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official DINOv3 layout -> the layout ``DINOv3ViTModel.save_pretrained`` writes.

    The masked key bias is dropped (transformers has none); a key bias that the mask lets
    through cannot be expressed and raises :class:`MatchscopeError`. The RoPE periods are
    dropped too: transformers recomputes them from ``rope_theta``.
    """
    top = {new: old for old, new in _DINOV3_TOP.items()}
    gated = any(".mlp.w1." in key for key in state)
    inner = {new: old for old, new in _DINOV3_INNER.items()}
    inner.update({new: old for old, new in (_DINOV3_SWIGLU if gated else _DINOV3_MLP).items()})
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        match = re.match(r"blocks\.(\d+)\.", key)
        if match is None:
            if key == "rope_embed.periods":
                continue
            if key == "mask_token":
                tensor = tensor.reshape(1, 1, -1)  # (1, C) -> (1, 1, C)
            out[_rename(key, top) or key] = tensor
            continue
        prefix = f"layer.{match.group(1)}."
        rest = key[match.end() :]
        if rest == "attn.qkv.bias_mask":
            continue
        if rest.startswith("attn.qkv."):
            param = rest.rpartition(".")[2]
            if param == "bias" and key + "_mask" in state:
                tensor = tensor * state[key + "_mask"].to(tensor.dtype)
            q, k, v = tensor.chunk(3, dim=0)
            if param == "bias" and bool(k.any()):
                raise MatchscopeError(f"{key}: a non-zero key bias has no transformers equivalent")
            for name, part in (("q", q), ("k", k), ("v", v)):
                if not (param == "bias" and name == "k"):
                    out[f"{prefix}attention.{name}_proj.{param}"] = part
            continue
        out[prefix + (_rename(rest, inner) or rest)] = tensor
    return out


# ---------------------------------------------------------------------------------------------
# Loading checkpoints


def _same(found: object, wanted: object) -> bool:
    if isinstance(found, (list, tuple)) and not isinstance(wanted, (list, tuple)):
        return all(_same(item, wanted) for item in found)
    if isinstance(found, bool) or isinstance(wanted, bool):
        return found == wanted
    if isinstance(found, (int, float)) and isinstance(wanted, (int, float)):
        return math.isclose(found, wanted, rel_tol=1e-6)
    return found == wanted


def check_transformers_config(hf_config: dict, config: ViTConfig, source: str | Path) -> None:
    """Raise :class:`InputError` when a transformers ``config.json`` describes another model.

    Heads, LayerNorm eps, RoPE base and activation are not visible in tensor shapes.
    """
    wanted_type = {"dinov2": "dinov2", "dinov3": "dinov3_vit"}[config.family]
    model_type = hf_config.get("model_type")
    if model_type is not None and model_type != wanted_type:
        raise InputError(
            source, f"config.json describes a {model_type!r} model, not {wanted_type!r}"
        )
    wanted: dict[str, object] = {
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "patch_size": config.patch_size,
        "layer_norm_eps": config.layer_norm_eps,
    }
    if config.family == "dinov2":
        wanted["use_swiglu_ffn"] = config.ffn != "mlp"
        if config.ffn == "mlp":
            wanted["hidden_act"] = "gelu"
    else:
        wanted["rope_theta"] = config.rope_base
        wanted["num_register_tokens"] = config.num_registers
        wanted["use_gated_mlp"] = config.ffn != "mlp"
        wanted["hidden_act"] = "gelu" if config.ffn == "mlp" else "silu"
    wrong = [
        f"{name} {hf_config[name]!r} (model {value!r})"
        for name, value in wanted.items()
        if name in hf_config and not _same(hf_config[name], value)
    ]
    if wrong:
        raise InputError(source, f"config.json does not fit {config.name}: {', '.join(wrong)}")


def is_transformers_layout(state: dict[str, Tensor]) -> bool:
    prefixes = ("embeddings.", "encoder.layer.", "layer.", "model.layer.", "layernorm.")
    return any(key.startswith(prefixes) for key in state)


def load_backbone_weights(model: VisionTransformer, path: str | Path) -> str:
    """Load an official ``.pth``, a ``.safetensors`` file or a transformers directory strictly.

    Returns the layout that was read, ``"official"`` or ``"transformers"``. Raises
    :class:`InputError` (a :class:`MatchscopeError`) with a one-line reason for a file that
    cannot be read, is not a plain tensor checkpoint, or does not fit the model (naming the
    missing, unexpected and mis-shaped keys, in the official layout). DINOv3's
    ``local_cls_norm`` (used only on local crops in training) is ignored. A model built on
    the meta device takes the file's tensors without a copy.
    """
    path = Path(path)
    config = model.config
    state, hf_config = read_checkpoint(path)
    if hf_config is not None:
        check_transformers_config(hf_config, config, path)
    if is_transformers_layout(state):
        layout = "transformers"
        if config.family == "dinov2":
            state = dinov2_from_transformers(state)
        else:
            state = dinov3_from_transformers(state, config.head_dim, config.rope_base)
    else:
        layout = "official"
        state = {k: v for k, v in state.items() if not k.startswith("local_cls_norm.")}
    check_state_dict(model, state, path)
    expected = model.state_dict()
    on_meta = any(tensor.is_meta for tensor in expected.values())
    if on_meta:  # assign: keep the model's dtype, not the file's
        state = {key: state[key].to(tensor.dtype) for key, tensor in expected.items()}
    model.load_state_dict(state, strict=True, assign=on_meta)
    return layout
