"""Where model weights are found, under which licence, and an explicit opt-in download.

Weights are looked for, in order, in the folder named by ``$MATCHSCOPE_WEIGHTS``, in the app's
settings folder (given by the caller: ``core`` knows no Qt), and in torch hub's checkpoint cache
(``$TORCH_HOME/hub/checkpoints``). Nothing is ever downloaded unless the user asks for it
(``--download``), and then only into torch hub's cache. DINOv3 weights are gated by Meta behind
the DINOv3 License, so they have no URL here: users accept the licence and download them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from core.errors import InputError, MatchscopeError

WEIGHTS_ENV = "MATCHSCOPE_WEIGHTS"
"""Environment variable naming a folder searched first for weights."""

DINOV3_DOWNLOADS = "https://ai.meta.com/resources/models-and-libraries/dinov3-downloads/"
"""Meta's page where the DINOv3 License is accepted and the DINOv3 weights are downloaded."""

_ROMA_LICENCE = "https://github.com/Parskatt/RoMa/blob/main/LICENSE"
_DINOV2_LICENCE = "https://github.com/facebookresearch/dinov2/blob/main/LICENSE"
_DINOV3_LICENCE = "https://ai.meta.com/resources/models-and-libraries/dinov3-license/"
_ROMA_URL = "https://github.com/Parskatt/storage/releases/download/roma/"
_ROMAV2_LICENCE = "https://github.com/Parskatt/RoMaV2/blob/main/LICENSE"
_ROMAV2_URL = "https://github.com/Parskatt/RoMaV2/releases/download/v2.0.1/romav2.0.1.pt"
_DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/"


@dataclass(frozen=True)
class WeightFile:
    """One known weight file.

    name: the key in :data:`WEIGHT_FILES`, e.g. "roma_outdoor".
    filename_pattern: the file's name, or a glob pattern when releases carry a hash suffix
        (DINOv3); a literal name when ``url`` is set.
    url: where :func:`download_weights` fetches it from; None when it cannot be downloaded
        automatically (gated behind a licence agreement).
    licence: the licence's name as written in a notice, e.g. "MIT licence".
    licence_url: where the licence text is.
    summary: what the weights are, in a few words.
    """

    name: str
    filename_pattern: str
    url: str | None
    licence: str
    licence_url: str
    summary: str


def _dinov2(size: str, label: str) -> WeightFile:
    filename = f"dinov2_vit{size}14_pretrain.pth"
    return WeightFile(
        name=f"dinov2_vit{size}14",
        filename_pattern=filename,
        url=f"{_DINOV2_URL}dinov2_vit{size}14/{filename}",
        licence="Apache-2.0 licence",
        licence_url=_DINOV2_LICENCE,
        summary=f"DINOv2 ViT-{label}/14 backbone weights",
    )


def _dinov3(size: str, label: str) -> WeightFile:
    return WeightFile(
        name=f"dinov3_vit{size}16",
        filename_pattern=f"dinov3_vit{size}16_pretrain*.pth",
        url=None,
        licence="DINOv3 License",
        licence_url=_DINOV3_LICENCE,
        summary=f"DINOv3 ViT-{label}/16 backbone weights",
    )


WEIGHT_FILES: dict[str, WeightFile] = {
    w.name: w
    for w in (
        WeightFile(
            name="roma_outdoor",
            filename_pattern="roma_outdoor.pth",
            url=_ROMA_URL + "roma_outdoor.pth",
            licence="MIT licence",
            licence_url=_ROMA_LICENCE,
            summary="RoMa weights (outdoor, trained on MegaDepth)",
        ),
        WeightFile(
            name="roma_indoor",
            filename_pattern="roma_indoor.pth",
            url=_ROMA_URL + "roma_indoor.pth",
            licence="MIT licence",
            licence_url=_ROMA_LICENCE,
            summary="RoMa weights (indoor, trained on ScanNet)",
        ),
        WeightFile(
            name="romav2",
            filename_pattern="romav2.0.1.pt",
            url=_ROMAV2_URL,
            licence="MIT licence; the DINOv3 weights inside it under the DINOv3 License "
            f"({_DINOV3_LICENCE})",
            licence_url=_ROMAV2_LICENCE,
            summary="RoMa v2 2.0.1 weights with its DINOv3 ViT-L/16 (1.1 GB)",
        ),
        _dinov2("s", "S"),
        _dinov2("b", "B"),
        _dinov2("l", "L"),
        _dinov3("s", "S"),
        _dinov3("b", "B"),
        _dinov3("l", "L"),
    )
}
"""The weight files Matchscope knows, by name."""


class WeightsNotFound(MatchscopeError):
    """Weights found in none of the places looked; the message says how to obtain them."""

    def __init__(self, weight: WeightFile, searched: list[tuple[str, Path]]):
        self.weight = weight
        self.name = weight.name
        self.searched = searched
        super().__init__(self.message())

    def message(self, download: bool = True) -> str:
        """The one-line message; ``download=False`` leaves ``--download`` out (for the window,
        which cannot use it)."""
        weight = self.weight
        places = ", ".join(f"{path} ({label})" for label, path in self.searched)
        if weight.url is not None:
            how = f"download it from {weight.url} into one of these folders"
            if download:
                how += f", or run with --download to fetch it into {hub_checkpoint_dir()}"
        else:
            how = (
                f"these weights are gated by Meta: accept the {weight.licence} at "
                f"{DINOV3_DOWNLOADS} and download the file yourself into one of these folders"
            )
            if download:
                how += " (--download cannot fetch it)"
        return f"{weight.name} weights not found: no {weight.filename_pattern} in {places}; {how}"


def weight_file(name: str) -> WeightFile:
    """The known weight file called ``name``; MatchscopeError listing the known names if none."""
    try:
        return WEIGHT_FILES[name]
    except KeyError:
        known = ", ".join(WEIGHT_FILES)
        raise MatchscopeError(f"unknown weights {name!r}; known: {known}") from None


def hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint cache, ``$TORCH_HOME/hub/checkpoints``, without importing torch.

    The rule is torch.hub's: ``$TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch`` and
    ``$XDG_CACHE_HOME`` to ``~/.cache``; ``~`` is expanded. (A ``torch.hub.set_dir`` call made
    inside a process is not seen.)
    """
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    torch_home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(torch_home) / "hub" / "checkpoints"


def search_locations(settings_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """The folders searched for weights, first first, each with a label.

    ``$MATCHSCOPE_WEIGHTS`` (when set), ``settings_dir`` (the app's settings folder, when given),
    then torch hub's checkpoint cache. Folders that do not exist are listed too.
    """
    locations = []
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        locations.append((WEIGHTS_ENV, Path(env).expanduser()))
    if settings_dir is not None:
        locations.append(("app settings", Path(settings_dir).expanduser()))
    locations.append(("torch hub cache", hub_checkpoint_dir()))
    return locations


def _match(folder: Path, pattern: str) -> Path | None:
    """The file in ``folder`` matching ``pattern``; the last in sorted order when several do."""
    matches = sorted(p for p in folder.glob(pattern) if p.is_file())
    return matches[-1] if matches else None


def find_weights(
    name: str, explicit: str | Path | None = None, *, settings_dir: str | Path | None = None
) -> Path:
    """The file (or transformers directory) holding the weights called ``name``.

    An ``explicit`` path wins: a file is returned as is, a transformers-style directory (one with
    a ``config.json``) too, and another directory is searched for the file. Otherwise the first
    of :func:`search_locations` that holds the file wins. Raises InputError for a missing
    explicit path or a directory without the file, and WeightsNotFound when no place has it.
    """
    weight = weight_file(name)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise InputError(path, "no such file")
        if not path.is_dir() or (path / "config.json").is_file():
            return path
        found = _match(path, weight.filename_pattern)
        if found is None:
            raise InputError(path, f"folder holds no {weight.filename_pattern}")
        return found
    searched = search_locations(settings_dir)
    for _, folder in searched:
        found = _match(folder, weight.filename_pattern)
        if found is not None:
            return found
    raise WeightsNotFound(weight, searched)


def download_weights(name: str, *, progress: bool = True) -> Path:
    """Download the weights called ``name`` into torch hub's checkpoint cache; their path.

    Only for when the user asked. A file already there is returned without downloading. The
    download goes to a temporary name renamed when complete, so a failed or interrupted one
    leaves nothing behind. Weights without a URL (DINOv3) and network errors raise
    MatchscopeError.
    """
    weight = weight_file(name)
    if weight.url is None:
        raise MatchscopeError(
            f"{weight.name} weights cannot be downloaded automatically: they are gated by Meta "
            f"behind the {weight.licence}; accept it at {DINOV3_DOWNLOADS}, download "
            f"{weight.filename_pattern} yourself and put it in {hub_checkpoint_dir()} or in "
            f"${WEIGHTS_ENV}"
        )
    folder = hub_checkpoint_dir()
    dst = folder / weight.filename_pattern
    if dst.is_file():
        return dst
    import torch.hub

    tmp = folder / f"{dst.name}.{uuid.uuid4().hex}.download"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weight.url, str(tmp), progress=progress)
        os.replace(tmp, dst)
    except (OSError, HTTPException) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MatchscopeError(
            f"could not download {weight.name} from {weight.url} into {folder}: {reason}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def licence_notice(name: str) -> str:
    """One line naming the weights' file, what they are, their licence and where it is."""
    w = weight_file(name)
    return f"{w.filename_pattern}: {w.summary}, {w.licence} ({w.licence_url})"


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """The SHA-256 (hex) of a file, read ``chunk`` bytes at a time, for provenance.

    For a directory: of its files in sorted order of their relative paths, each contributing
    its relative path (UTF-8, "/"-separated), a NUL, its size in bytes (decimal), a NUL and its
    contents.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    else:
        files = [(None, path)]
    for rel, file in files:
        if rel is not None:
            digest.update(f"{rel}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as f:
            while block := f.read(chunk):
                digest.update(block)
    return digest.hexdigest()


_HASH_CACHE: dict[tuple, str] = {}  # (path, size, mtime) -> sha256


def cached_sha256(path: str | Path) -> str:
    """:func:`file_sha256`, remembered per (resolved path, size, modification time)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = file_sha256(path)
    return _HASH_CACHE[key]
