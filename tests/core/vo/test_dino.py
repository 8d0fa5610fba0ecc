"""The ``dino`` VO front-end on a random-weight ViT-S (no downloads): the VO end to end, the
gradient selector, the heads' shapes and training, matching, and the heads' checkpoints."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from core.errors import InputError, MatchscopeError
from core.models.testing import random_state
from core.models.vit import build_backbone
from core.vo.dino import DinoFrontend, gradient_keypoints, mutual_matches, network_size
from core.vo.dino_heads import DinoHeads
from core.vo.frontend import make_frontend
from core.vo.run import run_vo, write_outputs
from core.vo.synthetic import SyntheticSequence

SIZE_HW = (224, 320)
PATCH = 14


@pytest.fixture(scope="module")
def vit():
    model = build_backbone("dinov2_vits14", device="meta")
    model.load_state_dict(random_state(model, 1), strict=True, assign=True)
    return model.freeze()


@pytest.fixture(scope="module")
def room():
    sequence = SyntheticSequence(4, SIZE_HW)
    return sequence, [sequence.read(i) for i in range(len(sequence))]


def test_dino_runs_the_vo_and_writes_its_outputs(vit, room, tmp_path):
    sequence, _ = room
    frontend = DinoFrontend(sequence.intrinsics, 256, backbone_model=vit)
    run = run_vo(sequence, frontend)
    write_outputs(tmp_path, sequence, run, with_eval=False)
    for name in ("trajectory_kitti.txt", "stats.csv", "scene.npz"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "trajectory_tum.txt").is_file()  # random weights: maybe nothing tracked
    assert len((tmp_path / "stats.csv").read_text().splitlines()) == 5
    assert run.poses.shape == (4, 4, 4) and 0 < run.stats[0].keypoints <= 256
    assert run.odometry.frontend.name == "dino"


def test_frontend_is_made_lazily_and_reports_missing_weights(room, tmp_path, monkeypatch):
    code = "import sys, core.vo.frontend, core.vo.run; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    sequence, _ = room
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MatchscopeError, match="dinov2_vits14 weights not found"):
        make_frontend("dino", sequence.intrinsics)
    with pytest.raises(MatchscopeError, match=r"unknown option.*nope"):
        make_frontend("dino", sequence.intrinsics, options={"nope": "1"})
    with pytest.raises(MatchscopeError, match="selector 'best'"):
        make_frontend("dino", sequence.intrinsics, options={"selector": "best"})
    with pytest.raises(MatchscopeError, match="orb front-end takes only max_features, not ratio"):
        make_frontend("orb", sequence.intrinsics, options={"ratio": "0.8"})
    assert (
        make_frontend("orb", sequence.intrinsics, options={"max_features": "300"}).max_features
        == 300
    )
    for bad in ("many", "3"):
        with pytest.raises(MatchscopeError, match=f"max_features={bad}"):
            make_frontend("orb", sequence.intrinsics, options={"max_features": bad})


def test_gradient_selector_one_keypoint_per_cell_with_nms(room):
    _, frames = room
    grey = frames[0][:, :308].mean(axis=2).astype(np.float32) / 255.0  # 224 x 308: 16 x 22 cells
    points, scores = gradient_keypoints(grey, PATCH, top_k=512, nms_radius=8.0, min_gradient=0.1)
    assert 50 < len(points) <= 16 * 22 and len(points) <= 512
    assert (points >= 0).all() and (points[:, 0] < 308).all() and (points[:, 1] < 224).all()
    cells = (points[:, 1] // PATCH) * 22 + points[:, 0] // PATCH
    assert len(np.unique(cells)) == len(cells)
    gaps = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(len(points)) * 99
    assert gaps.min() >= 8.0
    assert (np.diff(scores) <= 0).all() and scores.min() >= 0.1
    again = gradient_keypoints(grey, PATCH, top_k=512, nms_radius=8.0, min_gradient=0.1)
    np.testing.assert_array_equal(points, again[0])
    top, _ = gradient_keypoints(grey, PATCH, top_k=20)
    np.testing.assert_array_equal(top, points[:20])  # the strongest first
    # a flat image has no gradient: no keypoints
    assert len(gradient_keypoints(np.full((28, 28), 0.5, np.float32), PATCH)[0]) == 0


def test_frontend_keypoints_map_back_into_the_frame(vit, room):
    sequence, frames = room
    assert network_size(SIZE_HW, PATCH) == (224, 322)
    assert network_size((480, 640), 16, 320) == (240, 320)
    frontend = DinoFrontend(sequence.intrinsics, 512, backbone_model=vit)
    features = frontend.detect(frames[0])
    width = SIZE_HW[1]
    assert (features.keypoints >= 0).all() and (features.keypoints[:, 0] <= width - 1).all()
    scale = np.array([322 / width, 1.0])
    on_input = (features.keypoints + 0.5) * scale - 0.5  # back on the 224 x 322 input
    cells = np.floor((on_input + 0.5) / PATCH).astype(int)
    assert len(np.unique(cells[:, 1] * 23 + cells[:, 0])) == len(cells)
    assert features.descriptors.shape == (len(features), 384)
    np.testing.assert_allclose(np.linalg.norm(features.descriptors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(features.sigma_px, 1.0)  # no trained heads
    np.testing.assert_array_equal(features.keypoints, frontend.detect(frames[0]).keypoints)
    b = frontend.detect(frames[1])
    matches = frontend.match(features, b)
    assert len(np.unique(matches[:, 1])) == len(matches)


def test_heads_outputs_have_documented_shapes_and_ranges():
    torch.manual_seed(0)
    heads = DinoHeads(384, PATCH).eval()
    images, tokens = torch.randn(2, 3, 224, 308), torch.randn(2, 384, 16, 22)
    with torch.no_grad():
        saliency = heads.keypoints(tokens)
        keypoints, cells, scores = heads.keypoints.select(tokens, 100)
        out = heads.describe(images, tokens, keypoints)
    assert saliency["logits"].shape == (2, 16, 22) and saliency["offsets"].shape == (2, 2, 16, 22)
    assert (saliency["offsets"] > 0).all() and (saliency["offsets"] < 1).all()
    assert keypoints.shape == (2, 100, 2) and (scores[:, :-1] >= scores[:, 1:]).all()
    inside = torch.floor((keypoints + 0.5) / PATCH).long()  # each keypoint inside its cell
    assert torch.equal(inside[..., 1] * 22 + inside[..., 0], cells)
    assert out["descriptors"].shape == (2, 100, 192)
    torch.testing.assert_close(out["descriptors"].norm(dim=-1), torch.ones(2, 100))
    sigma = out["sigma"]
    assert sigma.shape == (2, 100) and (sigma >= 0.25).all() and (sigma <= 16).all()
    assert (sigma - 1.0).abs().max() < 0.1  # untrained: about 1 px


def test_a_gradient_step_trains_the_heads_not_the_backbone(vit):
    torch.manual_seed(0)
    heads = DinoHeads(384, PATCH).train()
    before_heads = {k: v.clone() for k, v in heads.state_dict().items()}
    before_vit = {k: v.clone() for k, v in vit.state_dict().items()}
    images = torch.randn(1, 3, 224, 308)
    with torch.no_grad():
        tokens = vit(images)["patch_tokens"]
    keypoints, _, scores = heads.keypoints.select(tokens, 64)
    out = heads.describe(images, tokens, keypoints)
    loss = (out["descriptors"][0, :32] @ out["descriptors"][0, 32:].T).mean()
    loss = loss + out["sigma"].mean() - scores.mean()
    optimiser = torch.optim.Adam(heads.parameters(), lr=1e-2)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    changed = [k for k, v in heads.state_dict().items() if not torch.equal(v, before_heads[k])]
    assert {k.split(".")[0] for k in changed} == {"keypoints", "fine", "descriptor", "uncertainty"}
    assert all(not p.requires_grad and p.grad is None for p in vit.parameters())
    assert all(torch.equal(v, before_vit[k]) for k, v in vit.state_dict().items())


def test_mutual_matches_with_ratio_test_and_uncertainty_gate():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 16))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    order = np.array([3, 0, 5, 1, 4, 2])  # b[k] is a[order[k]], slightly moved
    b = a[order] + 0.01 * rng.normal(size=(6, 16))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    ones_a, ones_b = np.ones(6), np.ones(6)
    found = mutual_matches(a, b, ones_a, ones_b)
    expected = np.column_stack([order, np.arange(6)])
    np.testing.assert_array_equal(found[np.argsort(found[:, 1])], expected)
    uncertain = ones_b.copy()
    uncertain[2] = 5.0  # above the gate (4 px): the match to b[2] goes
    gated = mutual_matches(a, b, ones_a, uncertain, max_sigma=4.0)
    assert len(gated) == 5 and 2 not in gated[:, 1]
    twin = np.vstack([b, b[0]])  # a[3] now has two equally close candidates: fails the ratio test
    ambiguous = mutual_matches(a, twin, ones_a, np.ones(7))
    assert 3 not in ambiguous[:, 0] and len(ambiguous) == 5
    assert mutual_matches(a[:1], b, ones_a[:1], ones_b).shape == (0, 2)


def test_heads_checkpoints_load_strictly_with_clear_errors(vit, room, tmp_path):
    sequence, frames = room
    torch.manual_seed(3)
    state = DinoHeads(384, PATCH).state_dict()
    good = tmp_path / "heads.pth"
    torch.save(state, good)
    frontend = DinoFrontend(sequence.intrinsics, 64, backbone_model=vit, heads=str(good))
    loaded = frontend.heads.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    features = frontend.detect(frames[0])
    assert (features.sigma_px > 0).all() and not np.all(features.sigma_px == 1.0)
    wrong = dict(state)
    wrong["descriptor.projection.weight"] = wrong.pop("descriptor.proj.weight")
    bad = tmp_path / "bad.pth"
    torch.save(wrong, bad)
    with pytest.raises(InputError) as error:
        DinoFrontend(sequence.intrinsics, 64, backbone_model=vit, heads=str(bad))
    message = str(error.value)
    assert "1 missing: descriptor.proj.weight" in message
    assert "1 unexpected: descriptor.projection.weight" in message and "bad.pth" in message


def test_vo_command_passes_set_options_to_the_frontend(room, tmp_path, capsys):
    from app.cli import main
    from core.vo.synthetic import write_kitti_layout

    sequence, _ = room
    folder = write_kitti_layout(tmp_path / "room", sequence)
    out = str(tmp_path / "out")
    assert main(["vo", str(folder), "--frontend", "dino", "--set", "nope=1", "--out", out]) == 2
    assert "dino: unknown option(s) nope" in capsys.readouterr().err
    assert main(["vo", str(folder), "--frontend", "orb", "--set", "ratio=1", "--out", out]) == 2
    assert "takes only max_features" in capsys.readouterr().err


def test_dinov3_backbone_uses_patch_16_cells(room):
    sequence, frames = room
    vit = build_backbone("dinov3_vits16")  # torch's default initialisation: fast, random
    frontend = DinoFrontend(sequence.intrinsics, 512, backbone_model=vit, descriptor="refined")
    image, grey, scale = frontend.network_input(frames[0])
    assert image.shape == (1, 3, 224, 320) and grey.shape == (224, 320)
    np.testing.assert_array_equal(scale, 1.0)
    features = frontend.detect(frames[0])
    cells = np.floor((features.keypoints + 0.5) / 16).astype(int)
    assert len(np.unique(cells[:, 1] * 20 + cells[:, 0])) == len(features) > 0
    assert features.descriptors.shape == (len(features), 192)
