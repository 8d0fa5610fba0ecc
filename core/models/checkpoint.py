"""Reading checkpoints safely: ``torch.load(weights_only=True)``, safetensors and transformers
folders, and strict checks of a state dict against a model with one-line errors.

Every model of the project loads through here: a file that pickles code is refused without
running anything, and a state dict that does not fit names its missing, unexpected and
mis-shaped keys.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from core.errors import InputError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return detail if len(detail) <= 120 else detail[:117] + "..."


def _torch_load(path: Path) -> dict[str, Tensor]:
    """``torch.load(weights_only=True)``: only tensors and plain containers are unpickled.
    Read into memory, not mapped: a model holding mapped pages would crash (SIGBUS) when the
    file is rewritten in place, as ``torch.save`` does."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        detail = f" (it pickles {found.group(1)})" if found else ""
        raise InputError(
            path, f"refused: not a plain tensor checkpoint{detail}; nothing in it was run"
        ) from None
    except Exception as exc:
        raise InputError(path, f"not a PyTorch checkpoint ({_first_line(exc)})") from None
    return _tensors_only(obj, path)


def _safetensors_load(path: Path) -> dict[str, Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise InputError(path, "reading safetensors needs: pip install safetensors") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise InputError(path, f"not a safetensors file ({_first_line(exc)})") from None


def _tensors_only(obj: object, path: Path) -> dict[str, Tensor]:
    """The checkpoint's ``{name: tensor}``; a ``{"state_dict" | "model" | "extractor": {...}}``
    is unwrapped (DISK's checkpoints keep the network under "extractor")."""
    if isinstance(obj, dict) and not all(isinstance(v, Tensor) for v in obj.values()):
        keys = ("state_dict", "model", "extractor")
        wrapped = [obj[k] for k in keys if isinstance(obj.get(k), dict)]
        if len(wrapped) == 1:
            obj = wrapped[0]
    if not isinstance(obj, dict):
        raise InputError(path, f"holds a {type(obj).__name__}, not a state dict of tensors")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise InputError(path, f"entry {key!r} is a {type(value).__name__}, not a tensor")
    return obj


def _read_transformers_dir(path: Path) -> tuple[dict[str, Tensor], dict | None]:
    config = None
    if (path / "config.json").is_file():
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError(path / "config.json", f"unreadable ({_first_line(exc)})") from None
    if (path / "model.safetensors").is_file():
        return _safetensors_load(path / "model.safetensors"), config
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise InputError(index, f"unreadable ({_first_line(exc)})") from None
        state: dict[str, Tensor] = {}
        for shard in shards:
            if Path(shard).name != shard:
                raise InputError(index, f"shard {shard!r} is not a file in this folder")
            state.update(_safetensors_load(path / shard))
        return state, config
    if (path / "pytorch_model.bin").is_file():
        return _torch_load(path / "pytorch_model.bin"), config
    raise InputError(path, "no model.safetensors, its index, or pytorch_model.bin in this folder")


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict | None]:
    """Tensors of a ``.pth`` / ``.safetensors`` file or a transformers directory.

    Returns ``(state, config)``: ``config`` is the directory's ``config.json`` (else None).
    Raises :class:`InputError` for anything that is not a plain tensor checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        return _read_transformers_dir(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.suffix == ".safetensors":
        return _safetensors_load(path), None
    return _torch_load(path), None


def _shape(tensor: Tensor) -> str:
    return "x".join(str(size) for size in tensor.shape) or "scalar"


def _few(label: str, items: list[str], shown: int = 3) -> str:
    more = f", ... ({len(items) - shown} more)" if len(items) > shown else ""
    return f"{len(items)} {label}: {', '.join(items[:shown])}{more}"


def check_state_dict(model: nn.Module, state: dict[str, Tensor], source: str | Path) -> None:
    """Raise :class:`InputError` naming missing, unexpected and mis-shaped keys, if any."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    misshaped = [
        f"{key} {_shape(state[key])} in the file vs {_shape(tensor)} in the model"
        for key, tensor in expected.items()
        if key in state and state[key].shape != tensor.shape
    ]
    parts = [
        _few(label, items)
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", misshaped),
        )
        if items
    ]
    if parts:
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        raise InputError(source, f"does not fit {name}: {'; '.join(parts)}")
