"""The frozen ViT backbones against the reference implementations, with seeded random weights.

DINOv2 is compared with romatch's vendored DINOv2 (the code RoMa runs) and with transformers'
``Dinov2Model``; DINOv3 with transformers' ``DINOv3ViTModel``. Before comparing, LayerNorm and
LayerScale parameters are drawn far from their identity-like initial values, so that a wiring
mistake (a swapped norm, a missing LayerScale) cannot hide. Errors are relative:
``max|ours - ref| / max|ref|``. No pretrained weights are needed.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import replace
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError, MatchscopeError
from core.models.vit import BACKBONES, VisionTransformer, ViTConfig, build_backbone
from core.models.vit_checkpoints import (
    dinov2_from_transformers,
    dinov2_to_transformers,
    dinov3_from_transformers,
    dinov3_to_transformers,
    load_backbone_weights,
)
from tests.conftest import WritesAMarker

TOLERANCE = 1e-4
ROMATCH_MISSING = "romatch is not importable: pip install --no-deps romatch einops loguru kornia"
TRANSFORMERS_MISSING = "transformers with DINOv3ViTModel is missing: pip install transformers>=4.56"


# ---------------------------------------------------------------------------------------------
# Helpers


def optional(module: str, reason: str):
    """Import an optional reference package, or skip the test saying what is missing."""
    return pytest.importorskip(module, reason=reason, exc_type=ImportError)


def rel_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours - ref).abs().max() / ref.abs().max())


def random_state(config: ViTConfig, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random values for every tensor of the official layout of ``config``.

    LayerNorm weights are 1 +- 0.3 and their biases +- 0.2, LayerScale gammas lie in [0.1, 1],
    far from identity-like initialisations; linear layers keep unit-variance activations. The
    DINOv3 key bias is random too: the official ``bias_mask`` must cancel it. Non-learned
    buffers take their official values.
    """
    with torch.device("meta"):
        shapes = {key: t.shape for key, t in VisionTransformer(config).state_dict().items()}
    generator = torch.Generator().manual_seed(seed)

    def randn(shape):
        return torch.randn(shape, generator=generator)

    state = {}
    for key, shape in shapes.items():
        if key == "rope_embed.periods":  # base ** (4 i / d), i < d / 4
            exponent = 4 * torch.arange(shape[0], dtype=torch.float32) / config.head_dim
            value = config.rope_base**exponent
        elif key.endswith("bias_mask"):  # 1 on q and v, 0 on k
            value = torch.ones(shape)
            value[shape[0] // 3 : 2 * shape[0] // 3] = 0.0
        elif key.endswith(".gamma"):
            value = 0.1 + 0.9 * torch.rand(shape, generator=generator)
        elif ".norm" in key or key.startswith("norm."):
            value = 1.0 + 0.3 * randn(shape) if key.endswith("weight") else 0.2 * randn(shape)
        elif key.endswith("weight") and len(shape) >= 2:
            value = randn(shape) / shape[1:].numel() ** 0.5
        elif key.endswith("bias"):
            value = 0.1 * randn(shape)
        else:  # CLS, registers, mask token, position embedding
            value = 0.5 * randn(shape)
        state[key] = value
    return state


def make_model(config: ViTConfig, state: dict[str, torch.Tensor]) -> VisionTransformer:
    """Our model holding ``state`` (no copy, no random initialisation)."""
    with torch.device("meta"):
        model = VisionTransformer(config)
    model.load_state_dict(state, strict=True, assign=True)
    return model.freeze()


def make_images(batch: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def romatch_vit(config: ViTConfig, state: dict[str, torch.Tensor]) -> nn.Module:
    """romatch's vendored DINOv2 as RoMa builds it, holding ``state``."""
    dinov2 = optional("romatch.models.transformer.dinov2", ROMATCH_MISSING)
    from romatch.models.transformer.layers import MemEffAttention, NestedTensorBlock

    with torch.device("meta"):  # uniform drop-path: its linspace(...).item() fails on meta
        model = dinov2.DinoVisionTransformer(
            img_size=config.pos_grid * config.patch_size,
            patch_size=config.patch_size,
            embed_dim=config.embed_dim,
            depth=config.depth,
            num_heads=config.num_heads,
            mlp_ratio=config.ffn_ratio,
            init_values=1.0,
            ffn_layer="mlp" if config.ffn == "mlp" else "swiglufused",
            block_chunks=0,
            drop_path_uniform=True,
            block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention),
        )
    model.load_state_dict(state, strict=True, assign=True)  # strict: our layout is theirs
    return model.eval()


def save_transformers_dir(path: pathlib.Path, config: ViTConfig, state: dict, image_size: int):
    """A transformers model directory (``config.json`` + ``model.safetensors``) of ``state``."""
    transformers = optional("transformers", TRANSFORMERS_MISSING)
    from safetensors.torch import save_file

    if not hasattr(transformers, "DINOv3ViTConfig"):
        pytest.skip(TRANSFORMERS_MISSING)
    common = {
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "patch_size": config.patch_size,
        "image_size": image_size,
        "layer_norm_eps": config.layer_norm_eps,
        "layerscale_value": 1.0,
    }
    if config.family == "dinov2":
        hf_config = transformers.Dinov2Config(
            **common, mlp_ratio=int(config.ffn_ratio), use_swiglu_ffn=config.ffn != "mlp"
        )
        tensors = dinov2_to_transformers(state)
    else:
        hf_config = transformers.DINOv3ViTConfig(
            **common,
            intermediate_size=config.ffn_hidden,
            num_register_tokens=config.num_registers,
            rope_theta=config.rope_base,
            use_gated_mlp=config.ffn != "mlp",
            hidden_act="gelu" if config.ffn == "mlp" else "silu",
        )
        tensors = dinov3_to_transformers(state)
    hf_config.save_pretrained(path)
    save_file({key: t.contiguous() for key, t in tensors.items()}, path / "model.safetensors")
    return path


def transformers_model(path: pathlib.Path, family: str, eager: bool = False) -> nn.Module:
    transformers = optional("transformers", TRANSFORMERS_MISSING)
    cls = transformers.Dinov2Model if family == "dinov2" else transformers.DINOv3ViTModel
    kwargs = {"attn_implementation": "eager"} if eager else {}
    model, info = cls.from_pretrained(path, output_loading_info=True, **kwargs)
    problems = {name: keys for name, keys in info.items() if keys}
    assert not problems, f"transformers did not load our converted state strictly: {problems}"
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Layouts and configurations


def test_dinov2_vitl14_has_the_official_343_tensors():
    model = build_backbone("dinov2_vitl14", device="meta")
    state = model.state_dict()
    assert len(state) == 343  # as in dinov2_vitl14_pretrain.pth
    assert tuple(state["pos_embed"].shape) == (1, 1 + 37 * 37, 1024)
    assert tuple(state["mask_token"].shape) == (1, 1024)
    assert tuple(state["patch_embed.proj.weight"].shape) == (1024, 3, 14, 14)
    assert tuple(state["blocks.23.attn.qkv.weight"].shape) == (3072, 1024)
    assert tuple(state["blocks.23.mlp.fc1.weight"].shape) == (4096, 1024)
    assert {"blocks.0.ls1.gamma", "blocks.0.ls2.gamma", "norm.weight"} <= set(state)


def test_dinov3_vits16_has_the_official_layout():
    state = build_backbone("dinov3_vits16", device="meta").state_dict()
    top = {key for key in state if not key.startswith("blocks.")}
    assert top == {
        "cls_token",
        "storage_tokens",
        "mask_token",
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        "rope_embed.periods",
        "norm.weight",
        "norm.bias",
    }
    block = {key[len("blocks.0.") :] for key in state if key.startswith("blocks.0.")}
    assert block == {
        *(f"{m}.{p}" for m in ("norm1", "norm2", "attn.proj") for p in ("weight", "bias")),
        *(f"mlp.{m}.{p}" for m in ("fc1", "fc2") for p in ("weight", "bias")),
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.qkv.bias_mask",
        "ls1.gamma",
        "ls2.gamma",
    }
    assert len(state) == 8 + 12 * 15
    assert tuple(state["storage_tokens"].shape) == (1, 4, 384)
    assert tuple(state["rope_embed.periods"].shape) == (384 // 6 // 4,)
    plus = build_backbone("dinov3_vitl16plus", device="meta").state_dict()
    assert tuple(plus["blocks.0.mlp.w1.weight"].shape) == (4096, 1024)  # SwiGLU, ratio 6


def test_build_backbone_is_frozen_and_stays_out_of_an_owners_tree():
    vit = build_backbone("dinov3_vits16")
    assert not vit.training
    assert not any(p.requires_grad for p in vit.parameters())

    class Owner(nn.Module):  # how RoMa holds it: a tuple is not a registered submodule
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(384, 8)
            self._backbone = (vit,)

    owner = Owner()
    assert set(owner.state_dict()) == {"proj.weight", "proj.bias"}
    assert len(list(owner.parameters())) == 2


def test_unknown_backbone_and_bad_inputs_are_named():
    with pytest.raises(MatchscopeError, match="dinov2_vitl14"):
        build_backbone("dinov2_vitx14")
    model = build_backbone("dinov2_vits14")
    with pytest.raises(ValueError, match="multiple of the patch 14"):
        model(torch.zeros(1, 3, 70, 85))
    with pytest.raises(ValueError, match="block 12 out of range"):
        model.cls_attention(torch.zeros(1, 3, 28, 28), block=12)


# ---------------------------------------------------------------------------------------------
# DINOv2 parity


DINOV2_CASES = {
    # name: (config, batch, height, width)
    "vits14-resized": (BACKBONES["dinov2_vits14"], 2, 70, 84),  # 37x37 -> 5x6 position grid
    "vits14-native": (replace(BACKBONES["dinov2_vits14"], pos_grid=4), 2, 56, 56),  # no resize
    "vitg14-swiglu": (replace(BACKBONES["dinov2_vitg14"], depth=2), 1, 42, 56),
}


@pytest.mark.parametrize("case", list(DINOV2_CASES))
def test_dinov2_matches_romatch(case):
    config, batch, height, width = DINOV2_CASES[case]
    state = random_state(config, seed=11)
    ref = romatch_vit(config, state)
    ours = make_model(config, state)
    x = make_images(batch, height, width)
    with torch.inference_mode():
        expected = ref.forward_features(x)
        got = ours(x)
    ref_patches = expected["x_norm_patchtokens"].transpose(1, 2)
    ref_patches = ref_patches.reshape(batch, config.embed_dim, height // 14, width // 14)
    assert got["patch_tokens"].shape == ref_patches.shape
    assert rel_error(got["patch_tokens"], ref_patches) <= TOLERANCE
    assert rel_error(got["cls_token"], expected["x_norm_clstoken"]) <= TOLERANCE


def test_dinov2_vitl14_matches_romatch_at_a_tiny_resolution():
    config = BACKBONES["dinov2_vitl14"]
    state = random_state(config, seed=12)
    ref = romatch_vit(config, state)
    ours = make_model(config, state)  # shares the tensors: one copy of ViT-L in memory
    x = make_images(1, 28, 42)
    with torch.inference_mode():
        expected = ref.forward_features(x)["x_norm_patchtokens"].transpose(1, 2)
        got = ours(x)["patch_tokens"].flatten(2)
    assert rel_error(got, expected) <= TOLERANCE


DINOV2_HF_CASES = {
    "vits14": replace(BACKBONES["dinov2_vits14"], pos_grid=4),
    "vitg14-swiglu": replace(BACKBONES["dinov2_vitg14"], depth=2, pos_grid=4),
}


@pytest.mark.parametrize("case", list(DINOV2_HF_CASES))
def test_dinov2_matches_transformers_on_the_native_grid(case, tmp_path):
    """transformers resizes the position embedding to an output size, the official code by a
    ``(n + 0.1) / grid`` scale: the two agree only on the native grid (a 4 x 4 grid here, 56
    px), and differ elsewhere (about 1 % at 560 px with real weights). Off the native grid our
    model follows the official code (see ``test_dinov2_matches_romatch``)."""
    config = DINOV2_HF_CASES[case]
    state = random_state(config, seed=13)
    path = save_transformers_dir(tmp_path, config, state, image_size=56)
    ref = transformers_model(path, "dinov2")
    ours = make_model(config, state)
    x = make_images(2, 56, 56)
    with torch.inference_mode():
        expected = ref(pixel_values=x).last_hidden_state
        got = ours(x)
    patches = got["patch_tokens"].flatten(2).transpose(1, 2)
    assert rel_error(patches, expected[:, 1:]) <= TOLERANCE
    assert rel_error(got["cls_token"], expected[:, 0]) <= TOLERANCE

    off_grid = make_images(1, 42, 70)  # a 3 x 5 grid: the known, documented difference
    with torch.inference_mode():
        hf_off = ref(pixel_values=off_grid).last_hidden_state[:, 1:]
        ours_off = ours(off_grid)["patch_tokens"].flatten(2).transpose(1, 2)
    assert rel_error(ours_off, hf_off) > 1e-3

    # the directory loads back into our layout, exactly
    loaded = VisionTransformer(config)
    assert load_backbone_weights(loaded, path) == "transformers"
    for key, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, state[key]), key
    # and transformers' in-memory names (q_proj, o_proj, ...) convert too
    converted = dinov2_from_transformers(ref.state_dict())
    assert set(converted) == set(state)
    assert all(torch.equal(converted[key], state[key]) for key in state)


# ---------------------------------------------------------------------------------------------
# DINOv3 parity


DINOV3_CASES = {
    "vits16": BACKBONES["dinov3_vits16"],
    "vits16plus-swiglu": replace(BACKBONES["dinov3_vits16plus"], depth=3),
}


@pytest.mark.parametrize("case", list(DINOV3_CASES))
def test_dinov3_matches_transformers(case, tmp_path):
    config = DINOV3_CASES[case]
    state = random_state(config, seed=21)
    path = save_transformers_dir(tmp_path, config, state, image_size=224)
    ref = transformers_model(path, "dinov3")
    ours = make_model(config, state)
    x = make_images(2, 64, 80)  # a 4 x 5 grid: RoPE normalises each axis separately
    with torch.inference_mode():
        expected = ref(pixel_values=x)
        got = ours(x)
    hidden = expected.last_hidden_state  # after the final norm: CLS, 4 registers, patches
    patches = got["patch_tokens"].flatten(2).transpose(1, 2)
    assert rel_error(patches, hidden[:, 5:]) <= TOLERANCE
    assert rel_error(got["cls_token"], expected.pooler_output) <= TOLERANCE

    # the directory and transformers' in-memory names load back into the official layout
    loaded = VisionTransformer(config)
    assert load_backbone_weights(loaded, path) == "transformers"
    converted = dinov3_from_transformers(ref.state_dict(), config.head_dim, config.rope_base)
    for candidate in (loaded.state_dict(), converted):
        assert set(candidate) == set(state)
        for key, tensor in state.items():
            if key.endswith("attn.qkv.bias"):  # the masked key bias comes back as zeros
                mask = state[key + "_mask"]
                assert torch.equal(candidate[key], tensor * mask), key
            else:
                assert torch.allclose(candidate[key], tensor, rtol=1e-6, atol=0), key


def test_intermediate_layers_equal_transformers_hidden_states_through_the_norm(tmp_path):
    """``layers`` is the official ``get_intermediate_layers``: RoMa v2 reads blocks 11 and 17."""
    config = DINOV3_CASES["vits16"]
    state = random_state(config, seed=22)
    ref = transformers_model(save_transformers_dir(tmp_path, config, state, 224), "dinov3")
    ours = make_model(config, state)
    x = make_images(1, 48, 64)
    calls = []
    ours.blocks[2].register_forward_pre_hook(lambda module, args: calls.append(2))
    with torch.inference_mode():
        hidden = ref(pixel_values=x, output_hidden_states=True).hidden_states
        got = ours(x, layers=(0, 1))
        normed = [ref.norm(hidden[index + 1])[:, 5:] for index in (0, 1)]  # [0]: the embedding
    assert not calls, "blocks after the last requested layer must not run"
    assert len(got["layers"]) == 2
    for tokens, expected in zip(got["layers"], normed, strict=True):
        assert tokens.shape == (1, config.embed_dim, 3, 4)
        assert rel_error(tokens.flatten(2).transpose(1, 2), expected) <= TOLERANCE
    assert torch.equal(got["patch_tokens"], got["layers"][-1])
    for bad in ((1, 0), (), (0, 99)):
        with pytest.raises(ValueError, match="layers"):
            ours(x, layers=bad)


# ---------------------------------------------------------------------------------------------
# CLS attention


def naive_cls_attention(model: VisionTransformer, x: torch.Tensor, block: int) -> torch.Tensor:
    """CLS row of ``softmax(q k^T / sqrt(d))`` over all tokens, written out: (B, heads, N).

    The tokens entering ``block`` are captured with a hook on a normal forward. DINOv3's RoPE
    is written here independently, as a complex rotation of channel pairs (i, i + d/2).
    """
    config = model.config
    captured = {}
    handle = model.blocks[block].register_forward_pre_hook(
        lambda module, args: captured.setdefault("x", args[0])
    )
    model(x)
    handle.remove()
    tokens = captured["x"]
    layer = model.blocks[block]
    norm = layer.norm1
    y = F.layer_norm(tokens, (config.embed_dim,), norm.weight, norm.bias, config.layer_norm_eps)
    bias = layer.attn.qkv.bias.clone()
    if config.mask_k_bias:
        bias[config.embed_dim : 2 * config.embed_dim] = 0.0
    qkv = y @ layer.attn.qkv.weight.T + bias
    batch, tokens_count, _ = qkv.shape
    d = config.head_dim
    q, k, _ = qkv.reshape(batch, tokens_count, 3, config.num_heads, d).permute(2, 0, 3, 1, 4)
    if config.rope_base:
        h, w = x.shape[2] // config.patch_size, x.shape[3] // config.patch_size
        ys = ((torch.arange(h) + 0.5) / h * 2 - 1).repeat_interleave(w)
        xs = ((torch.arange(w) + 0.5) / w * 2 - 1).repeat(h)
        periods = config.rope_base ** (4 * torch.arange(d // 4) / d)
        theta = 2 * math.pi * torch.cat((ys[:, None] / periods, xs[:, None] / periods), dim=1)
        rotation = torch.polar(torch.ones_like(theta), theta)  # (h * w, d / 2)

        def rotate(t):
            prefix, patches = t[:, :, : -h * w], t[:, :, -h * w :]
            z = torch.complex(patches[..., : d // 2], patches[..., d // 2 :]) * rotation
            return torch.cat((prefix, torch.cat((z.real, z.imag), dim=-1)), dim=2)

        q, k = rotate(q), rotate(k)
    attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)  # (B, h, N, N)
    return attention[:, :, 0]


ATTENTION_CASES = {
    "dinov2": (replace(BACKBONES["dinov2_vits14"], depth=4), 42, 56),
    "dinov3": (replace(BACKBONES["dinov3_vits16"], depth=4), 48, 64),
}


@pytest.mark.parametrize("case", list(ATTENTION_CASES))
def test_cls_attention_is_the_explicit_softmax_of_the_blocks_qkv(case):
    config, height, width = ATTENTION_CASES[case]
    model = make_model(config, random_state(config, seed=31))
    x = make_images(2, height, width)
    h, w = height // config.patch_size, width // config.patch_size
    prefix_count = config.num_prefix_tokens
    with torch.inference_mode():
        patches, prefix = model.cls_attention(x, block=2, with_prefix=True)
        expected = naive_cls_attention(model, x, block=2)
        one_head = model.cls_attention(x, block=2, head=3)
        last = model.cls_attention(x, block=-1)
        in_forward = model(x, attention=True)["cls_attention"]  # (B, blocks, heads, h, w)
        per_block = [model.cls_attention(x, block=k) for k in range(config.depth)]
        last_expected = naive_cls_attention(model, x, block=config.depth - 1)
    assert patches.shape == (2, config.num_heads, h, w)
    assert prefix.shape == (2, config.num_heads, prefix_count)
    sums = patches.sum(dim=(2, 3)) + prefix.sum(dim=2)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    assert (patches.flatten(2) - expected[:, :, prefix_count:]).abs().max() <= 1e-5
    assert (prefix - expected[:, :, :prefix_count]).abs().max() <= 1e-5
    assert torch.allclose(one_head, patches[:, 3:4], rtol=0, atol=1e-6)
    assert in_forward.shape == (2, config.depth, config.num_heads, h, w)
    assert torch.allclose(in_forward[:, 2], patches, rtol=0, atol=1e-6)
    for k, expected_block in enumerate(per_block):  # every block equals the old way's
        assert torch.equal(in_forward[:, k], expected_block), k
    assert (last.flatten(2) - last_expected[:, :, prefix_count:]).abs().max() <= 1e-5


def test_dinov3_cls_attention_matches_transformers_eager_attentions(tmp_path):
    config = replace(BACKBONES["dinov3_vits16"], depth=3)
    state = random_state(config, seed=32)
    path = save_transformers_dir(tmp_path, config, state, image_size=224)
    ref = transformers_model(path, "dinov3", eager=True)
    ours = make_model(config, state)
    x = make_images(2, 48, 80)
    with torch.inference_mode():
        attentions = ref(pixel_values=x, output_attentions=True).attentions
        got = ours.cls_attention(x, block=1)
    assert attentions is not None and len(attentions) == config.depth
    expected = attentions[1][:, :, 0, config.num_prefix_tokens :]  # (B, heads, h * w)
    assert rel_error(got.flatten(2), expected) <= TOLERANCE


# ---------------------------------------------------------------------------------------------
# Loading checkpoints


@pytest.fixture
def small_state():
    config = BACKBONES["dinov2_vits14"]
    return config, random_state(config, seed=41)


def test_loads_an_official_checkpoint_strictly(small_state, tmp_path):
    _, state = small_state
    torch.save(state, tmp_path / "dinov2_vits14_pretrain.pth")
    model = build_backbone("dinov2_vits14", device="meta")
    assert load_backbone_weights(model, tmp_path / "dinov2_vits14_pretrain.pth") == "official"
    assert all(torch.equal(t, state[k]) for k, t in model.state_dict().items())
    assert not any(p.requires_grad for p in model.parameters())
    safetensors = optional("safetensors.torch", "safetensors is not installed")
    safetensors.save_file(state, tmp_path / "weights.safetensors")
    model = build_backbone("dinov2_vits14")
    assert load_backbone_weights(model, tmp_path / "weights.safetensors") == "official"
    assert all(torch.equal(t, state[k]) for k, t in model.state_dict().items())


def test_a_renamed_key_is_named_missing_and_unexpected(small_state, tmp_path):
    _, state = small_state
    state["blocks.3.norm_1.weight"] = state.pop("blocks.3.norm1.weight")
    torch.save(state, tmp_path / "renamed.pth")
    with pytest.raises(InputError) as error:
        load_backbone_weights(build_backbone("dinov2_vits14"), tmp_path / "renamed.pth")
    message = str(error.value)
    assert "\n" not in message
    assert "1 missing: blocks.3.norm1.weight" in message
    assert "1 unexpected: blocks.3.norm_1.weight" in message


def test_a_misshaped_tensor_is_named_with_both_shapes(small_state, tmp_path):
    _, state = small_state
    state["blocks.0.attn.qkv.weight"] = torch.zeros(1152, 380)
    torch.save(state, tmp_path / "misshaped.pth")
    with pytest.raises(InputError) as error:
        load_backbone_weights(build_backbone("dinov2_vits14"), tmp_path / "misshaped.pth")
    message = str(error.value)
    assert "1 mis-shaped: blocks.0.attn.qkv.weight 1152x380 in the file vs 1152x384" in message
    assert "missing" not in message and "unexpected" not in message


def test_a_wrong_model_gets_counts_and_the_first_few_keys(small_state, tmp_path):
    _, state = small_state
    torch.save(state, tmp_path / "vits.pth")
    with pytest.raises(InputError) as error:
        load_backbone_weights(build_backbone("dinov2_vitl14", device="meta"), tmp_path / "vits.pth")
    message = str(error.value)
    assert "does not fit dinov2_vitl14" in message
    assert "168 missing: blocks.12.norm1.weight" in message  # blocks 12..23
    assert "more)" in message and "mis-shaped" in message


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(small_state, tmp_path):
    _, state = small_state
    marker = tmp_path / "marker"
    state["extra"] = WritesAMarker(marker)
    torch.save(state, tmp_path / "evil.pth")
    with pytest.raises(InputError) as error:
        load_backbone_weights(build_backbone("dinov2_vits14"), tmp_path / "evil.pth")
    message = str(error.value)
    assert "refused: not a plain tensor checkpoint" in message and "\n" not in message
    assert not marker.exists()
    torch.load(tmp_path / "evil.pth", weights_only=False)  # the file really does run code
    assert marker.exists()


def test_files_that_are_not_tensor_checkpoints_are_refused(tmp_path):
    model = build_backbone("dinov2_vits14", device="meta")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match=r"not a (plain tensor|PyTorch) checkpoint"):
        load_backbone_weights(model, tmp_path / "text.pth")
    torch.save({"weights": [1, 2, 3]}, tmp_path / "list.pth")
    with pytest.raises(InputError, match="'weights' is a list, not a tensor"):
        load_backbone_weights(model, tmp_path / "list.pth")
    with pytest.raises(InputError, match="no such file"):
        load_backbone_weights(model, tmp_path / "absent.pth")
    with pytest.raises(InputError, match=r"no model\.safetensors"):
        load_backbone_weights(model, tmp_path)


def test_a_transformers_config_for_another_model_is_refused(tmp_path):
    config = replace(BACKBONES["dinov3_vits16"], depth=1)
    save_transformers_dir(tmp_path, replace(config, num_heads=12), random_state(config, 1), 224)
    with pytest.raises(InputError, match="num_attention_heads 12 \\(model 6\\)"):
        load_backbone_weights(VisionTransformer(config), tmp_path)
    with pytest.raises(InputError, match="'dinov3_vit' model, not 'dinov2'"):
        load_backbone_weights(build_backbone("dinov2_vits14", device="meta"), tmp_path)
