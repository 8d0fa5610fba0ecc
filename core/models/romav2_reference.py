"""The reference RoMa v2 (PyPI ``romav2`` 2.0.1) built offline on a given state, for parity.

The reference builds its DINOv3 through ``torch.hub.load("facebookresearch/dinov3@<commit>")``
and its weights through ``torch.hub.load_state_dict_from_url``; neither is reachable here. While
it is built, both are patched: the hub hands it transformers' ``DINOv3ViTModel`` (an
independent implementation that our ViT equals) behind the ``blocks`` /
``get_intermediate_layers(x, n)`` interface the reference calls, and the URL hands it ``state``
(the official layout, ``f.`` included). Nothing is downloaded.

Numerics: ``precision="fp32"`` turns off every autocast of the reference (``enable_amp=False``
in its configs, and the DPT head's hard ``torch.autocast(bfloat16)``, which is active on CPU
too, patched out while :func:`reference_numerics` is entered); the matcher's RoPE stays in bf16
as the reference computes it. ``precision="bf16"`` leaves the reference as released; there the
transformers DINOv3 stands in for the hub's in bf16, which rounds differently.

Only tests and ``bench roma-speed`` import this module; ``romav2`` and ``transformers`` are
installed for them (the Makefile's ``--no-deps`` line).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from unittest import mock

import torch
from torch import Tensor, nn

from core.errors import MatchscopeError
from core.models.testing import without_random_init
from core.models.vit import BACKBONES, ViTConfig
from core.models.vit_checkpoints import dinov3_to_transformers

REFERENCE_MISSING = (
    "the reference romav2 2.0.1 is missing: pip install --no-deps romav2==2.0.1 "
    "(and transformers>=4.56 for its DINOv3)"
)


def dinov3_transformers_config(config: ViTConfig, image_size: int = 224):
    """transformers' ``DINOv3ViTConfig`` of one of our DINOv3 configurations."""
    import transformers

    return transformers.DINOv3ViTConfig(
        hidden_size=config.embed_dim,
        num_hidden_layers=config.depth,
        num_attention_heads=config.num_heads,
        patch_size=config.patch_size,
        image_size=image_size,
        layer_norm_eps=config.layer_norm_eps,
        layerscale_value=1.0,
        intermediate_size=config.ffn_hidden,
        num_register_tokens=config.num_registers,
        rope_theta=config.rope_base,
        use_gated_mlp=config.ffn != "mlp",
        hidden_act="gelu" if config.ffn == "mlp" else "silu",
    )


class TransformersDinov3(nn.Module):
    """transformers' DINOv3 with the official hub model's ``get_intermediate_layers``."""

    def __init__(self, model: nn.Module, num_prefix_tokens: int):
        super().__init__()
        self.model = model
        self.num_prefix_tokens = num_prefix_tokens

    @property
    def blocks(self) -> nn.ModuleList:
        return self.model.get_submodule(_layers_path(self.model))

    def get_intermediate_layers(self, images: Tensor, n: list[int]) -> list[Tensor]:
        """images (B, 3, H, W) -> normed patch tokens (B, h * w, C) after each block in ``n``."""
        hidden = self.model(pixel_values=images, output_hidden_states=True).hidden_states
        return [self.model.norm(hidden[index + 1])[:, self.num_prefix_tokens :] for index in n]


def _transformers_dinov3(config: ViTConfig, state: dict[str, Tensor]) -> TransformersDinov3:
    import transformers

    model = transformers.DINOv3ViTModel(dinov3_transformers_config(config))  # buffers off meta
    model.load_state_dict(_in_memory_names(model, dinov3_to_transformers(state)), assign=True)
    # the reference assigns its wrapped forward to the class: give each instance its own class
    owner = type("ReferenceDinov3", (TransformersDinov3,), {})
    return owner(model.eval(), config.num_prefix_tokens)


def _layers_path(model: nn.Module) -> str:
    """Where this transformers version keeps the blocks: ``layer`` or ``model.layer`` (5.x)."""
    return (
        "model.layer" if any(k.startswith("model.layer.") for k in model.state_dict()) else "layer"
    )


def _in_memory_names(model: nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The saved layout's names (``layer.i.``) as ``model`` holds them in memory."""
    path = _layers_path(model)
    return {
        (f"{path}{key[5:]}" if key.startswith("layer.") else key): v for key, v in state.items()
    }


def _reference_state(state: dict[str, Tensor], stand_in: TransformersDinov3) -> dict[str, Tensor]:
    """``state`` with its ``f.`` part in the transformers layout the stand-in holds."""
    backbone = {key[2:]: value for key, value in state.items() if key.startswith("f.")}
    rest = {key: value for key, value in state.items() if not key.startswith("f.")}
    converted = _in_memory_names(stand_in.model, dinov3_to_transformers(backbone))
    return rest | {f"f.model.{key}": value for key, value in converted.items()}


def reference_romav2(
    state: dict[str, Tensor],
    setting: str = "turbo",
    precision: str = "fp32",
    backbone: ViTConfig = BACKBONES["dinov3_vitl16"],
) -> nn.Module:
    """The reference ``RoMaV2`` holding ``state`` (our checkpoint layout), eval mode, on CPU."""
    try:
        from romav2.features import Descriptor
        from romav2.matcher import Matcher
        from romav2.romav2 import RoMaV2
    except ImportError as error:
        raise MatchscopeError(REFERENCE_MISSING) from error
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    amp = precision == "bf16"
    backbone_state = {key[2:]: value for key, value in state.items() if key.startswith("f.")}
    cfg = RoMaV2.Cfg(
        descriptor=Descriptor.Cfg(enable_amp=amp),
        matcher=Matcher.Cfg(enable_amp=amp),
        setting=setting,
    )
    with without_random_init():  # both models load their state dicts strictly
        stand_in = _transformers_dinov3(backbone, backbone_state)
    with (
        without_random_init(),
        mock.patch("torch.hub.load", lambda *a, **k: stand_in),
        mock.patch(
            "torch.hub.load_state_dict_from_url", lambda *a, **k: _reference_state(state, stand_in)
        ),
    ):
        model = RoMaV2(cfg)
    for module in model.refiners.modules():
        if hasattr(module, "enable_amp"):  # the refiners' config does not pass it through
            module.enable_amp = amp
    model.precision = precision
    return model


class _TorchWithoutAutocast(types.ModuleType):
    """``torch`` as seen by one reference module, with ``torch.autocast`` turned off."""

    def __init__(self):
        super().__init__("torch")

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def autocast(*args, **kwargs):
        return contextlib.nullcontext()


@contextlib.contextmanager
def reference_numerics(model: nn.Module) -> Iterator[None]:
    """Run ``model`` (from :func:`reference_romav2`) in its precision: fp32 matmuls at
    "highest" (the reference refuses to run otherwise), and in fp32 no DPT autocast."""
    import romav2.dpt

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    patch = (
        mock.patch.object(romav2.dpt, "torch", _TorchWithoutAutocast())
        if model.precision == "fp32"
        else contextlib.nullcontext()
    )
    try:
        with patch:
            yield
    finally:
        torch.set_float32_matmul_precision(before)
