"""Seeded random weights for parity checks and benchmarks (no pretrained weights needed).

Values are drawn far from identity-like initialisations so that a wiring mistake cannot hide
behind them: LayerNorm / BatchNorm weights ``1 +- 0.3``, biases ``+- 0.2``, BatchNorm running
means ``+- 0.1`` and variances in [0.5, 1.5], LayerScale gammas in [0.1, 1]; convolution and
linear weights keep unit-variance activations (``randn / sqrt(fan_in)``). Buffers that are not
learned (DINOv3's RoPE periods and key-bias mask) take their official values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import torch
from torch import Tensor, nn

from core.models.roma import Roma
from core.models.vit import build_backbone


def random_state(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """Seeded random values for every tensor of ``model.state_dict()`` (may be on meta)."""
    generator = torch.Generator().manual_seed(seed)
    norms = {
        name
        for name, module in model.named_modules()
        if isinstance(module, (nn.LayerNorm, nn.BatchNorm2d))
    }
    state = {}
    for key, tensor in model.state_dict().items():
        shape = tensor.shape
        owner, _, leaf = key.rpartition(".")
        if key.endswith("rope_embed.periods") or key.endswith("bias_mask"):
            value = _official_buffer(model, key)
        elif leaf == "num_batches_tracked":
            value = torch.zeros((), dtype=torch.long)
        elif leaf == "running_mean":
            value = 0.1 * torch.randn(shape, generator=generator)
        elif leaf == "running_var":
            value = 0.5 + torch.rand(shape, generator=generator)
        elif leaf == "gamma":
            value = 0.1 + 0.9 * torch.rand(shape, generator=generator)
        elif owner in norms:
            noise = torch.randn(shape, generator=generator)
            value = 1.0 + 0.3 * noise if leaf == "weight" else 0.2 * noise
        elif leaf == "weight" and len(shape) >= 2:
            value = torch.randn(shape, generator=generator) / shape[1:].numel() ** 0.5
        elif leaf == "bias":
            value = 0.1 * torch.randn(shape, generator=generator)
        else:  # CLS, registers, mask token, position embedding
            value = 0.5 * torch.randn(shape, generator=generator)
        state[key] = value.to(tensor.dtype)
    return state


RANDOM_INITS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "_no_grad_trunc_normal_",  # what a bound ``from torch.nn.init import trunc_normal_`` calls
)


@contextlib.contextmanager
def without_random_init() -> Iterator[None]:
    """Modules built inside skip ``torch.nn.init``'s random draws (their tensors keep whatever
    memory they got): for a reference model whose every tensor a strict load overwrites next.
    The draws are most of the build time (about 25 of 28 s for romatch's RoMa on one thread)."""
    with contextlib.ExitStack() as stack:
        for name in RANDOM_INITS:
            stack.enter_context(mock.patch.object(nn.init, name, _keep))
        yield


def _keep(tensor: Tensor, *args, **kwargs) -> Tensor:
    return tensor


def _official_buffer(model: nn.Module, key: str) -> Tensor:
    """A non-learned buffer as the model computes it (built off the meta device)."""
    owner_name, _, leaf = key.rpartition(".")
    owner = model.get_submodule(owner_name)
    if leaf == "periods":
        return _rope_owner(model, owner_name).official_rope_periods()
    mask = torch.ones(owner.out_features)
    mask[owner.out_features // 3 : 2 * owner.out_features // 3] = 0.0
    return mask


def _rope_owner(model: nn.Module, name: str) -> nn.Module:
    """The closest module above ``name`` that knows its official RoPE periods."""
    parts = name.split(".")
    for end in range(len(parts), -1, -1):
        module = model.get_submodule(".".join(parts[:end]))
        if hasattr(module, "official_rope_periods"):
            return module
    raise KeyError(f"no module above {name} computes its RoPE periods")


def random_romav2(seed: int = 0):
    """RoMa v2 (DINOv3 ViT-L/16 inside) with seeded random weights, eval mode."""
    from core.models.romav2 import build_romav2

    model = build_romav2(device="meta")
    model.load_state_dict(random_state(model, seed), strict=True, assign=True)
    return model.eval()


def random_roma(backbone: str = "dinov2_vitl14", seed: int = 0) -> Roma:
    """A RoMa on ``backbone`` with seeded random weights (backbone from ``seed + 1``), eval mode."""
    vit = build_backbone(backbone, device="meta")
    vit.load_state_dict(random_state(vit, seed + 1), strict=True, assign=True)
    with torch.device("meta"):
        model = Roma(vit)
    model.load_state_dict(random_state(model, seed), strict=True, assign=True)
    return model.eval()
