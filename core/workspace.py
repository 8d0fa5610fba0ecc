"""A workspace: the window's state as a JSON file, and the saved result beside it.

``FILE.json`` holds (version 1)::

    {"version": 1,
     "images": {"a": "/abs/a.png", "b": "/abs/b.png"},
     "matcher": "sift", "settings": {...}, "keep_intermediates": false, "threshold": 0.5,
     "weights_dir": "",
     "weights": {"roma_outdoor": {"path": "/abs/roma_outdoor.pth", "sha256": "..."}},
     "probe": [x, y] | [x, y, "b"] | null,   # the clicked pixel of A, or of B with "b"
     "pinned_probes": [[x, y], [x, y, "b"], ...],   # (pixel centres: top-left is 0, 0)
     "views": {"attention_head": "mean of heads", "scale": "coarse_s8"},  # see core.scales
     "layout": {"state": base64 of QMainWindow.saveState(), "geometry": base64}}

The result is saved as ``FILE``'s stem + ``.result.npz`` (:func:`result_path`) and read back
only when it was made from the same images (paths and sizes) with weights of the same SHA-256
as the files found now (:func:`reusable_result`). Relative image and weight paths are relative
to the workspace's folder. No Qt here: the window's side is :mod:`app.workspace`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import InputError, MatchscopeError
from core.result import MatchResult, load_result

WORKSPACE_VERSION = 1


@dataclass
class Workspace:
    """One window's state (see the module docstring for the JSON it is written as)."""

    image_a: str
    image_b: str
    matcher: str
    settings: dict = field(default_factory=dict)
    keep_intermediates: bool = False
    threshold: float = 0.5
    weights_dir: str = ""
    weights: dict = field(default_factory=dict)  # {name: {"path": str, "sha256": str}}
    probe: tuple | None = None  # (x, y) of A, or (x, y, "b") of B
    pinned_probes: list = field(default_factory=list)  # [[x, y] or [x, y, "b"], ...]
    views: dict = field(default_factory=dict)  # {"attention_head": text, "scale": name}
    layout: dict = field(default_factory=dict)  # {"state", "geometry": base64 text}
    version: int = WORKSPACE_VERSION

    def to_json(self) -> dict:
        data = asdict(self)
        images = {"a": data.pop("image_a"), "b": data.pop("image_b")}
        data["probe"] = None if self.probe is None else list(self.probe)
        return {"version": data.pop("version"), "images": images, **data}


def result_path(path: str | os.PathLike) -> Path:
    """Where the result of workspace ``path`` is saved: ``name.json`` -> ``name.result.npz``."""
    path = Path(path)
    return path.with_name(path.stem + ".result.npz")


def write_workspace(workspace: Workspace, path: str | os.PathLike) -> None:
    """Write ``workspace`` as indented JSON; a file that cannot be written is an InputError."""
    text = json.dumps(workspace.to_json(), indent=2) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write the workspace ({exc.strerror or exc})") from None


def read_workspace(path: str | os.PathLike) -> Workspace:
    """Read a workspace file; any problem (unreadable, not JSON, a field of the wrong type) is
    one InputError naming the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot read the workspace ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a workspace: malformed JSON ({exc})") from None
    try:
        return _parse(data, path.resolve().parent)
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"not a workspace: {exc}") from None


def _parse(data, folder: Path) -> Workspace:
    if not isinstance(data, dict):
        raise ValueError("wants a JSON object")
    version = data.get("version")
    if version != WORKSPACE_VERSION:
        raise ValueError(f"unknown version {version!r} (this Matchscope reads {WORKSPACE_VERSION})")
    images = _typed(data, "images", dict)
    image_a, image_b = (_typed(images, side, str, "images.") for side in ("a", "b"))
    weights = _typed(data, "weights", dict, default={})
    for name, entry in weights.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)):
            raise ValueError(f"weights.{name} wants {{'path': ..., 'sha256': ...}}")
        entry["path"] = str(_resolve(entry["path"], folder))
    probe = data.get("probe")
    if probe is not None:
        probe = _point(probe, "probe")
    pinned = [_point(p, "pinned_probes") for p in _typed(data, "pinned_probes", list, default=[])]
    threshold = data.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError("threshold wants a number")
    return Workspace(
        image_a=str(_resolve(image_a, folder)),
        image_b=str(_resolve(image_b, folder)),
        matcher=_typed(data, "matcher", str),
        settings=_typed(data, "settings", dict, default={}),
        keep_intermediates=_typed(data, "keep_intermediates", bool, default=False),
        threshold=float(threshold),
        weights_dir=_typed(data, "weights_dir", str, default=""),
        weights=weights,
        probe=probe,
        pinned_probes=[list(p) for p in pinned],
        views=_typed(data, "views", dict, default={}),
        layout=_typed(data, "layout", dict, default={}),
    )


def _typed(data: dict, key: str, kind: type, prefix: str = "", default=None):
    if key not in data and default is not None:
        return default
    if key not in data:
        raise ValueError(f"{prefix}{key} is missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{prefix}{key} wants a {kind.__name__}, got {type(value).__name__}")
    return value


def _point(value, name: str) -> tuple:
    """(x, y) from ``[x, y]`` or ``[x, y, "a"]``, (x, y, "b") from ``[x, y, "b"]`` (a pixel of
    B; files from before B probes have only pixels of A)."""
    origin = value[2] if isinstance(value, list) and len(value) == 3 else "a"
    xy = value[:2] if isinstance(value, list) and len(value) in (2, 3) else None
    ok = xy is not None and origin in ("a", "b")
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in xy)
    if not ok or not all(math.isfinite(v) for v in xy):
        raise ValueError(f'{name} wants [x, y] or [x, y, "b"] (two numbers), got {value!r}')
    point = float(xy[0]), float(xy[1])
    return point if origin == "a" else (*point, "b")


def _resolve(path: str, folder: Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else folder / path


def missing_images(workspace: Workspace) -> list[str]:
    """The workspace's image paths that are not files now."""
    return [p for p in (workspace.image_a, workspace.image_b) if not Path(p).is_file()]


def weight_hashes(found: dict) -> dict[str, str]:
    """{file name: sha256} of the weights in ``found`` ({name: path}, as
    :func:`core.matchers.matcher_weights` gives with no errors), as a result's provenance
    records them."""
    from core.weights import cached_sha256

    return {Path(p).name: cached_sha256(p) for p in found.values()}


def reusable_result(
    path: str | os.PathLike,
    workspace: Workspace,
    hashes: dict[str, str],
    sizes: tuple[tuple[int, int], tuple[int, int]],
) -> MatchResult | None:
    """The result saved beside workspace ``path``, when it was made by the workspace's matcher
    from its images (same paths, and ``sizes``, (H, W) of A and B as loaded now) with weights
    whose SHA-256 are ``hashes`` ({file name: sha256} of the files found now) and the
    workspace's settings; else None (no file, an unreadable one, or a stale one)."""
    saved = result_path(path)
    if not saved.is_file():
        return None
    try:
        result = load_result(saved)
    except MatchscopeError:
        return None
    prov = result.provenance
    same_images = [_real(prov.image_a), _real(prov.image_b)] == [
        _real(workspace.image_a),
        _real(workspace.image_b),
    ]
    same_sizes = (tuple(prov.size_a), tuple(prov.size_b)) == tuple(map(tuple, sizes))
    same_settings = all(prov.settings.get(k, v) == v for k, v in workspace.settings.items())
    if prov.matcher != workspace.matcher or not (same_images and same_sizes and same_settings):
        return None
    return result if prov.weights == hashes else None


def _real(path: str) -> Path | None:
    return Path(path).resolve() if path else None
