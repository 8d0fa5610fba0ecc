"""Finding weights, their licences and the opt-in download (never a real download here)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.errors import InputError, MatchscopeError
from core.weights import (
    DINOV3_DOWNLOADS,
    WEIGHT_FILES,
    WeightsNotFound,
    download_weights,
    file_sha256,
    find_weights,
    hub_checkpoint_dir,
    licence_notice,
    search_locations,
)

ROMA_URL = "https://github.com/Parskatt/storage/releases/download/roma/roma_outdoor.pth"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fake home; no TORCH_HOME, XDG_CACHE_HOME or MATCHSCOPE_WEIGHTS."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("TORCH_HOME", "XDG_CACHE_HOME", "MATCHSCOPE_WEIGHTS", "TORCH_HUB"):
        monkeypatch.delenv(var, raising=False)
    return home


def _put(folder: Path, name: str, content: bytes = b"w") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_weight_table():
    assert WEIGHT_FILES["roma_outdoor"].url == ROMA_URL
    assert WEIGHT_FILES["dinov2_vitl14"].url == (
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
    )
    for name in ("dinov2_vits14", "dinov2_vitb14", "dinov3_vits16", "dinov3_vitb16"):
        assert name in WEIGHT_FILES
    for w in WEIGHT_FILES.values():
        if w.url is None:
            assert w.name.startswith("dinov3") and "*" in w.filename_pattern
        else:
            assert w.url.endswith("/" + w.filename_pattern)


def test_search_locations_order_and_labels(home, tmp_path, monkeypatch):
    hub = home / ".cache" / "torch" / "hub" / "checkpoints"
    assert search_locations() == [("torch hub cache", hub)]
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(tmp_path / "env"))
    assert search_locations(tmp_path / "settings") == [
        ("MATCHSCOPE_WEIGHTS", tmp_path / "env"),
        ("app settings", tmp_path / "settings"),
        ("torch hub cache", hub),
    ]


def test_env_beats_settings_beats_hub_cache(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(tmp_path / "env"))
    settings = tmp_path / "settings"
    in_hub = _put(hub_checkpoint_dir(), "roma_outdoor.pth")
    assert find_weights("roma_outdoor", settings_dir=settings) == in_hub
    in_settings = _put(settings, "roma_outdoor.pth")
    assert find_weights("roma_outdoor", settings_dir=settings) == in_settings
    in_env = _put(tmp_path / "env", "roma_outdoor.pth")
    assert find_weights("roma_outdoor", settings_dir=settings) == in_env


def test_explicit_path_beats_all(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(tmp_path / "env"))
    _put(tmp_path / "env", "roma_outdoor.pth")
    mine = _put(tmp_path / "mine", "renamed.pth")
    assert find_weights("roma_outdoor", mine) == mine
    in_dir = _put(tmp_path / "dir", "roma_outdoor.pth")
    assert find_weights("roma_outdoor", tmp_path / "dir") == in_dir
    hf = _put(tmp_path / "hf", "config.json", b"{}").parent
    assert find_weights("dinov2_vitl14", str(hf)) == hf


def test_explicit_missing_raises_input_error(home, tmp_path):
    with pytest.raises(InputError, match="no such file") as info:
        find_weights("roma_outdoor", tmp_path / "absent.pth")
    assert info.value.path == str(tmp_path / "absent.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no roma_outdoor\.pth"):
        find_weights("roma_outdoor", tmp_path / "empty")


def test_not_found_lists_every_place_url_and_download(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(tmp_path / "env"))
    with pytest.raises(WeightsNotFound) as info:
        find_weights("roma_outdoor", settings_dir=tmp_path / "settings")
    message = str(info.value)
    for place in (tmp_path / "env", tmp_path / "settings", hub_checkpoint_dir()):
        assert str(place) in message
    assert ROMA_URL in message and "--download" in message
    assert "\n" not in message
    assert isinstance(info.value, MatchscopeError)


def test_unknown_name_lists_known_names(home):
    with pytest.raises(MatchscopeError, match=r"roma_outdoor.*dinov3_vitl16"):
        find_weights("roma_huge")
    with pytest.raises(MatchscopeError, match="known"):
        download_weights("roma_huge")


def test_dinov3_glob_picks_last_sorted(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(tmp_path / "env"))
    _put(tmp_path / "env", "dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth")
    with pytest.raises(WeightsNotFound):
        find_weights("dinov3_vits16")
    _put(tmp_path / "env", "dinov3_vits16_pretrain_lvd1689m-08c60483.pth")
    last = _put(tmp_path / "env", "dinov3_vits16_pretrain_lvd1689m-ffffffff.pth")
    assert find_weights("dinov3_vits16") == last


def test_dinov3_not_found_points_to_meta_and_cannot_download(home, monkeypatch):
    def fake(*args, **kwargs):
        raise AssertionError("DINOv3 must not be downloaded")

    monkeypatch.setattr("torch.hub.download_url_to_file", fake)
    with pytest.raises(WeightsNotFound) as info:
        find_weights("dinov3_vitb16")
    message = str(info.value)
    assert DINOV3_DOWNLOADS in message and "DINOv3 License" in message
    assert "dinov3_vitb16_pretrain*.pth" in message and "cannot" in message
    with pytest.raises(MatchscopeError, match="cannot be downloaded") as info:
        download_weights("dinov3_vitb16")
    assert DINOV3_DOWNLOADS in str(info.value)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"XDG_CACHE_HOME": "{tmp}/xdg"},
        {"XDG_CACHE_HOME": "~/xdg"},
        {"TORCH_HOME": "{tmp}/th"},
        {"TORCH_HOME": "~/th", "XDG_CACHE_HOME": "{tmp}/xdg"},
    ],
)
def test_hub_dir_matches_torch(home, tmp_path, monkeypatch, env):
    import torch.hub

    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    for var, value in env.items():
        monkeypatch.setenv(var, value.format(tmp=tmp_path))
    assert str(hub_checkpoint_dir()) == os.path.join(torch.hub.get_dir(), "checkpoints")
    assert str(hub_checkpoint_dir()).startswith(str(tmp_path))


def test_download_writes_into_hub_dir(home, monkeypatch):
    calls = []

    def fake(url, dst, hash_prefix=None, progress=True):
        calls.append((url, progress))
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr("torch.hub.download_url_to_file", fake)
    path = download_weights("roma_outdoor", progress=False)
    assert path == hub_checkpoint_dir() / "roma_outdoor.pth"
    assert path.read_bytes() == b"weights"
    assert calls == [(ROMA_URL, False)]
    assert os.listdir(path.parent) == ["roma_outdoor.pth"]
    assert download_weights("roma_outdoor") == path  # already there: no second download
    assert len(calls) == 1
    assert find_weights("roma_outdoor") == path


@pytest.mark.parametrize("error", [OSError("connection reset\nby peer"), KeyboardInterrupt()])
def test_failed_download_leaves_nothing(home, monkeypatch, error):
    def fake(url, dst, hash_prefix=None, progress=True):
        Path(dst).write_bytes(b"half")
        raise error

    monkeypatch.setattr("torch.hub.download_url_to_file", fake)
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else MatchscopeError
    with pytest.raises(expected) as info:
        download_weights("dinov2_vits14")
    if expected is MatchscopeError:
        message = str(info.value)
        assert "connection reset by peer" in message and "\n" not in message
    assert os.listdir(hub_checkpoint_dir()) == []


def test_licence_notices():
    assert licence_notice("roma_outdoor") == (
        "roma_outdoor.pth: RoMa weights (outdoor, trained on MegaDepth), MIT licence "
        "(https://github.com/Parskatt/RoMa/blob/main/LICENSE)"
    )
    dinov2 = licence_notice("dinov2_vitl14")
    assert "Apache-2.0" in dinov2
    assert "https://github.com/facebookresearch/dinov2/blob/main/LICENSE" in dinov2
    dinov3 = licence_notice("dinov3_vitl16")
    assert "DINOv3 License" in dinov3
    assert "https://ai.meta.com/resources/models-and-libraries/dinov3-license/" in dinov3
    assert all("\n" not in licence_notice(name) for name in WEIGHT_FILES)


def test_file_sha256(tmp_path):
    path = _put(tmp_path, "a.bin", b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_sha256(path) == expected
    assert file_sha256(path, chunk=1) == expected
    folder = tmp_path / "model"
    _put(folder, "config.json", b"{}")
    _put(folder / "sub", "w.bin", b"abc")
    tree = hashlib.sha256(b"config.json\x002\x00{}sub/w.bin\x003\x00abc").hexdigest()
    assert file_sha256(folder) == tree
    (folder / "sub" / "w.bin").write_bytes(b"abd")
    assert file_sha256(folder) != tree
