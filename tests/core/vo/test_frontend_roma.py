"""The ``roma`` VO front-end with a small random-weight RoMa (DINOv2 ViT-S/14 at 56 px): each
frame encoded once, matches snapped onto keypoints and gated by certainty (a stubbed warp of
a known shift), the VO end to end through the CLI, and the error without weights."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from app.cli import main
from core.errors import MatchscopeError
from core.models.roma import RomaOutput, cell_centres
from core.models.testing import random_roma
from core.vo.frontend import FRONTENDS, make_frontend
from core.vo.frontend_roma import RomaFrontend
from core.vo.synthetic import SyntheticSequence, write_kitti_layout

SIZE_HW = (96, 128)
SHIFT = np.array([5.0, 3.0])  # (x, y) pixels


@pytest.fixture(scope="module")
def model():
    return random_roma("dinov2_vits14", seed=0)


@pytest.fixture(scope="module")
def room():
    sequence = SyntheticSequence(3, SIZE_HW)
    return sequence, [sequence.read(i) for i in range(3)]


def frontend(model, room, **options) -> RomaFrontend:
    return RomaFrontend(room[0].intrinsics, 300, model=model, resolution="56", **options)


def test_each_frame_is_encoded_once_and_matching_never_encodes(model, room, monkeypatch):
    encoded = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda images: encoded.append(1) or encode(images))
    roma = frontend(model, room)
    features = [roma.detect(rgb) for rgb in room[1][:3]]
    assert len(encoded) == 3
    for a, b in ((0, 1), (1, 2)):  # frame 1 twice (each match is seconds on a tiny RoMa)
        matches = roma.match(features[a], features[b])
        assert matches.ndim == 2 and matches.shape[1] == 2
    assert len(encoded) == 3 and roma.reencoded == 0
    first = features[0]
    assert 0 < len(first) <= 300
    assert first.descriptors.shape == (len(first), 384)  # ViT-S's width
    np.testing.assert_allclose(np.linalg.norm(first.descriptors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(first.sigma_px, 1.0)
    assert roma.distances(first.descriptors[:4], first.descriptors[:4]).max() < 1e-6


def test_a_dropped_encoding_is_computed_again_from_the_kept_image(model, room, monkeypatch):
    roma = frontend(model, room, kept_encodings=2)
    features = [roma.detect(rgb) for rgb in room[1][:3]]
    output = RomaOutput(*shifted_warp(SIZE_HW, SHIFT))
    monkeypatch.setattr(roma.model, "match_encoded", lambda *args, **kw: output)
    assert features[0].native.encoding is None and features[2].native.encoding is not None
    roma.match(features[1], features[2])
    assert roma.reencoded == 0
    roma.match(features[0], features[2])
    assert roma.reencoded == 1 and features[1].native.encoding is None


def shifted_warp(size_hw, shift_px, certain_left: bool = True):
    """A RoMa output over a ``size_hw`` image: every cell moves by ``shift_px`` (x, y), with
    certainty 0.9 on the image's left half (0.05 on the right) when ``certain_left``."""
    cells = cell_centres(56, 56)
    height, width = size_hw
    shift = torch.tensor([2 * shift_px[0] / width, 2 * shift_px[1] / height])
    certainty = torch.full((56, 56), 0.9)
    if certain_left:
        certainty[:, 28:] = 0.05
    return (cells + shift)[None], certainty[None]


def test_matches_land_where_the_warp_says_on_b_keypoints_one_to_one(model, room, monkeypatch):
    roma = frontend(model, room)
    rgb = room[1][0]
    a = roma.detect(rgb)
    b = roma.detect(np.roll(rgb, (int(SHIFT[1]), int(SHIFT[0])), axis=(0, 1)))
    warp, certainty = shifted_warp(SIZE_HW, SHIFT)
    monkeypatch.setattr(
        roma.model, "match_encoded", lambda *args, **kw: RomaOutput(warp, certainty)
    )
    matches = roma.match(a, b)
    assert len(matches) >= 10
    assert len(np.unique(matches[:, 0])) == len(np.unique(matches[:, 1])) == len(matches)
    landing = a.keypoints + SHIFT
    off = np.linalg.norm(b.keypoints[matches[:, 1]] - landing[matches[:, 0]], axis=1)
    assert off.max() <= roma.snap_radius_px
    # certainty-gated: only the certain left half (one warp cell, 2.3 px, of blending)
    assert a.keypoints[matches[:, 0], 0].max() < SIZE_HW[1] / 2 + 2.3
    # every certain keypoint of A whose corner B has (shifted; np.roll changes the borders')
    # is matched to exactly that corner
    gap = np.linalg.norm(landing[:, None] - b.keypoints[None], axis=2)
    exact = np.flatnonzero((gap.min(axis=1) < 0.05) & (a.keypoints[:, 0] < SIZE_HW[1] / 2 - 2.3))
    assert len(exact) >= 10
    partner = dict(matches.tolist())
    assert all(partner.get(int(i)) == int(gap[i].argmin()) for i in exact)
    # nothing certain: nothing matched
    nowhere = torch.zeros_like(certainty)
    monkeypatch.setattr(roma.model, "match_encoded", lambda *args, **kw: RomaOutput(warp, nowhere))
    assert len(roma.match(a, b)) == 0


def test_the_cycle_check_keeps_matches_whose_backward_warp_returns(model, room, monkeypatch):
    roma = frontend(model, room, cycle_radius_px=1.0)
    rgb = room[1][0]
    a = roma.detect(rgb)
    b = roma.detect(np.roll(rgb, (int(SHIFT[1]), int(SHIFT[0])), axis=(0, 1)))
    forward, certainty = shifted_warp(SIZE_HW, SHIFT, certain_left=False)
    asked = {}

    def stub(backward):
        def match_encoded(encoded_a, encoded_b, symmetric):
            asked["symmetric"] = symmetric
            return RomaOutput(torch.cat((forward, backward)), certainty.repeat(2, 1, 1))

        return match_encoded

    monkeypatch.setattr(roma.model, "match_encoded", stub(shifted_warp(SIZE_HW, -SHIFT)[0]))
    returning = roma.match(a, b)
    assert asked["symmetric"] and len(returning) >= 10
    monkeypatch.setattr(roma.model, "match_encoded", stub(shifted_warp(SIZE_HW, SHIFT)[0]))
    assert len(roma.match(a, b)) == 0  # back by +shift again: 11.7 px from where it started


def test_vo_runs_end_to_end_through_the_cli(model, room, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(FRONTENDS, "roma", partial(RomaFrontend, model=model))
    folder = write_kitti_layout(tmp_path / "room", room[0])
    out = str(tmp_path / "out")
    code = main(["vo", str(folder), "--frontend", "roma", "--set", "resolution=56", "--out", out])
    assert code == 0, capsys.readouterr().err
    for name in ("trajectory_kitti.txt", "trajectory_tum.txt", "stats.csv", "scene.npz"):
        assert (tmp_path / "out" / name).is_file()
    rows = (tmp_path / "out" / "stats.csv").read_text().splitlines()
    assert len(rows) == 1 + 3
    assert all(int(row.split(",")[4]) > 0 for row in rows[1:])  # keypoints per frame


def test_without_weights_it_says_where_it_looked(room, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MATCHSCOPE_WEIGHTS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    with pytest.raises(MatchscopeError) as error:
        make_frontend("roma", room[0].intrinsics)
    message = str(error.value)
    assert "roma_outdoor.pth" in message and str(tmp_path / "torch") in message
    assert "--download" not in message


@pytest.mark.parametrize(
    "options, message",
    [
        ({"resolution": "50"}, "multiples of the patch size 14"),
        ({"certainty_threshold": 1.5}, "certainty_threshold"),
        ({"snap_radius_px": 0}, "snap_radius_px"),
    ],
)
def test_bad_options_are_named(model, room, options, message):
    with pytest.raises(MatchscopeError, match=message):
        RomaFrontend(room[0].intrinsics, model=model, **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"radius": "3"}, "unknown option.*radius; options are resolution"),
        ({"certainty_threshold": "high"}, "certainty_threshold 'high' is not float"),
        ({"kept_encodings": "1.5"}, "kept_encodings '1.5' is not int"),
    ],
)
def test_set_options_are_typed_and_unknown_ones_named(room, options, message):
    with pytest.raises(MatchscopeError, match=message):
        make_frontend("roma", room[0].intrinsics, options=options)
