"""The `romav2` matcher end to end: the checkpoint on disk, the CLI, result.npz with its
covariances, intermediates read back by the probe and the anchor inspector, errors.

The checkpoint is the released layout (907 tensors, the DINOv3 part in bf16) with seeded random
weights; the runs use tiny resolutions (64, and 96 for a second pass). Parity with the
reference is in tests/core/models/test_romav2.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.cli import main
from assets import DEMO_A, DEMO_B
from core.anchor_probe import inspect_anchors
from core.errors import MatchscopeError
from core.imageio import load_image
from core.matchers import create_matcher
from core.matchers.romav2 import clear_model_cache, covariance_from_precision
from core.probe import covariance_ellipse, read_probe, uncertainty_maps
from core.result import load_result
from core.run import run_match
from tests.conftest import WritesAMarker

SMALL = {"setting": "turbo", "resolution": "64", "num_samples": 300}


@pytest.fixture(scope="module")
def checkpoint(romav2_checkpoint):
    yield romav2_checkpoint
    clear_model_cache()


@pytest.fixture(scope="module")
def pair():
    return load_image(DEMO_A), load_image(DEMO_B)


def romav2(checkpoint, **settings):
    return create_matcher("romav2", {**SMALL, "weights": str(checkpoint), **settings})


def test_a_match_has_warps_certainty_and_covariances_in_original_pixels(checkpoint, pair):
    image_a, image_b = pair
    result = run_match(romav2(checkpoint), image_a, image_b, matcher_name="romav2")
    ha, wa = image_a.size_hw
    assert result.warp_ab.shape == (ha, wa, 2) and result.warp_ba is None  # turbo: one way
    assert result.grid_warp_ab.shape == (64, 64, 2)
    assert result.covariance_ab.shape == (ha, wa, 2, 2)
    assert result.matches.shape == (300, 4)
    assert result.match_covariance.shape == (300, 2, 2, 2)
    assert np.isnan(result.match_covariance[:, 0]).all()  # one way: known in B only
    cov = result.covariance_ab[np.isfinite(result.covariance_ab[..., 0, 0])]
    assert len(cov) and np.allclose(cov[:, 0, 1], cov[:, 1, 0])
    assert (np.linalg.eigvalsh(cov.astype(np.float64)) > 0).all()  # positive definite
    assert result.intermediates == {}
    assert set(result.provenance.weights) == {"romav2.0.1.pt"}


def test_covariance_is_the_inverse_precision_scaled_to_b_pixels(checkpoint, pair, monkeypatch):
    """One cell by hand: the model's precision P at the grid, C = S P^-1 S with
    S = diag(W_B / 64, H_B / 64), read back at A's pixel over that cell."""
    from core.models import romav2 as model_module

    image_a, image_b = pair
    captured = {}
    original = model_module.map_confidence

    def spy(confidence, threshold):
        overlap, precision = original(confidence, threshold)
        captured["precision"] = precision
        return overlap, precision

    monkeypatch.setattr(model_module, "map_confidence", spy)
    result = run_match(romav2(checkpoint), image_a, image_b)
    precision = captured["precision"][0, 10, 20].double()
    (ha, wa), (hb, wb) = image_a.size_hw, image_b.size_hw
    scale = torch.tensor([wb / 64, hb / 64], dtype=torch.float64)
    expected = torch.linalg.inv(precision) * scale[:, None] * scale[None, :]
    # A's pixel at the centre of grid cell (10, 20): cv2's linear resize reads that cell alone
    # when A is an integer multiple of 64; otherwise compare to the bilinear neighbourhood
    x, y = (20 + 0.5) * wa / 64 - 0.5, (10 + 0.5) * ha / 64 - 0.5
    got = result.covariance_ab[round(y), round(x)]
    assert np.allclose(got, expected.numpy(), rtol=0.15)
    inverse = covariance_from_precision(precision)
    assert torch.allclose(inverse @ precision, torch.eye(2, dtype=torch.float64), atol=1e-9)


def test_the_probe_reads_the_covariance_and_its_ellipse(checkpoint, pair):
    image_a, image_b = pair
    result = run_match(romav2(checkpoint), image_a, image_b)
    probe = read_probe(result, 100, 80)
    assert probe.has_match and probe.covariance is not None
    xx, xy, yy = probe.covariance
    outline = covariance_ellipse(probe.covariance, sigma=2.0)
    assert outline.shape == (65, 2) and np.allclose(outline[0], outline[-1])
    # on the 2-sigma contour: d^T C^-1 d = 4
    inverse = np.linalg.inv(np.array([[xx, xy], [xy, yy]]))
    assert np.allclose(np.einsum("ni,ij,nj->n", outline, inverse, outline), 4.0, rtol=1e-6)
    sigma, anisotropy = uncertainty_maps(result.covariance_ab)
    assert sigma.shape == image_a.size_hw
    finite = np.isfinite(sigma)
    assert ((anisotropy[finite] >= 0) & (anisotropy[finite] <= 1)).all()
    assert np.isclose(sigma[80, 100], np.sqrt((xx + yy) / 2), rtol=1e-5)


def test_intermediates_of_both_passes_and_directions_read_back(checkpoint, pair, tmp_path):
    image_a, image_b = pair
    matcher = romav2(
        checkpoint, setting="precise", resolution="64", high_resolution="96", intermediates=True
    )
    result = run_match(matcher, image_a, image_b)
    inter, docs = result.intermediates, result.intermediate_docs
    assert inter["matching_logits_ab"].shape == (4, 4, 16)
    assert inter["matching_logits_ba"].shape == (4, 4, 16)
    assert inter["coarse_warp_ab"].shape == (16, 16, 2)
    for stage, side in (("pass1", 64), ("pass2", 96)):
        for stride in (4, 2, 1):
            name = f"{stage}_s{stride}"
            assert inter[f"{name}_warp_ba"].shape == (side // stride, side // stride, 2)
            assert inter[f"{name}_precision_ab"].shape == (side // stride, side // stride, 2, 2)
    assert inter["attention_a"].shape == (24, 16, 4, 4)  # every DINOv3 block and head
    assert inter["backbone_11_b"].shape == inter["backbone_b"].shape == (4, 4, 1024)  # 11, 17
    assert set(inter) == set(docs)
    assert result.covariance_ba.shape == (*image_b.size_hw, 2, 2)
    both = np.isfinite(result.match_covariance[:, :, 0, 0])
    assert both.any(axis=0).all()  # matches from A's cells (known in B) and from B's (in A)
    assert (both.sum(axis=1) == 1).all()
    # the anchor inspector reads v2's distribution over B's cells
    (ha, wa) = image_a.size_hw
    inspection = inspect_anchors(result, wa / 2, ha / 2, image_a.size_hw, image_b.size_hw)
    assert inspection.probs.shape == (4, 4) and np.isclose(inspection.probs.sum(), 1.0)
    assert [s.name for s in inspection.path][:4] == [
        "matcher s4",
        "pass1 s4",
        "pass1 s2",
        "pass1 s1",
    ]
    assert inspection.path[4].name == "pass2 s4" and inspection.path[-1].stage == "final"
    assert len(inspection.coarse_anchors) == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"setting": "slow"}, "setting 'slow'"),
        ({"resolution": "100"}, "multiples of 16"),
        ({"precision": "fp16"}, "use fp32 or bf16"),
        ({"bidirectional": "maybe"}, "use true or false"),
        ({"attention_head": 16}, "attention_head must be"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(MatchscopeError, match=message):
        create_matcher("romav2", {**SMALL, **settings})


def test_cli_writes_covariances_and_prints_both_licences(checkpoint, tmp_path, capsys):
    clear_model_cache()
    out = tmp_path / "out"
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "romav2", "--out", str(out)]
    args += ["--set", f"weights={checkpoint}", "--set", "setting=turbo", "--set", "resolution=64"]
    args += ["--set", "bidirectional=true", "--num-samples", "200"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "MIT licence" in err and "DINOv3 License" in err
    result = load_result(out / "result.npz")
    assert result.covariance_ab is not None and result.covariance_ba is not None
    assert result.match_covariance.shape == (200, 2, 2, 2)
    assert json.loads(str(np.load(out / "result.npz")["meta"]))["matcher"] == "romav2"


def test_cli_names_bad_keys_and_refuses_code(tmp_path, capsys):
    from core.models.romav2 import build_romav2

    # every key at its shape and dtype, each a one-element storage seen at the full shape
    state = {
        key: torch.zeros((), dtype=tensor.dtype).expand(tensor.shape)
        for key, tensor in build_romav2("meta").state_dict().items()
    }
    state["matcher.tmp"] = state.pop("matcher.temp")
    torch.save(state, tmp_path / "renamed.pt")
    marker = tmp_path / "marker"
    torch.save({"x": WritesAMarker(marker)}, tmp_path / "evil.pt")
    base = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "romav2", "--out", str(tmp_path)]
    assert main([*base, "--set", f"weights={tmp_path / 'renamed.pt'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 missing: matcher.temp" in err and "1 unexpected: matcher.tmp" in err
    assert main([*base, "--set", f"weights={tmp_path / 'evil.pt'}"]) == 2
    assert not marker.exists()
    assert "Traceback" not in capsys.readouterr().err


def test_cli_without_the_checkpoint_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MATCHSCOPE_WEIGHTS", raising=False)
    code = main(["match", str(DEMO_A), str(DEMO_B), "--matcher", "romav2", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "romav2.0.1.pt" in err and "--download" in err


def test_progress_moves_through_the_model_and_cancel_stops_inside_it(checkpoint, pair):
    import threading

    from core.errors import Cancelled
    from core.run import RunControl

    cancel = threading.Event()
    seen = []

    def progress(stage, fraction):
        seen.append((stage, fraction))
        if stage == "pass 1 refiner s2":
            cancel.set()

    control = RunControl(progress=progress, cancel=cancel)
    image_a, image_b = pair
    with pytest.raises(Cancelled, match="pass 1 refiner s1"):
        romav2(checkpoint).match(image_a.rgb, image_b.rgb, control=control)
    stages = [stage for stage, _ in seen]
    fractions = [fraction for _, fraction in seen]
    assert stages[:3] == ["load weights", "preprocess", "match"]
    assert "backbone block 18/18 FFN" in stages and "matcher" in stages  # 18 of 24 blocks run
    assert fractions == sorted(fractions) and fractions[-1] < 0.9
    assert stages[-1] == "pass 1 refiner s2"


def test_the_scales_of_both_passes_are_offered_to_the_views(checkpoint, pair):
    from core.scales import FINAL, result_scales, scale_label, scale_warp

    image_a, image_b = pair
    matcher = romav2(checkpoint, resolution="64", high_resolution="96", intermediates=True)
    result = run_match(matcher, image_a, image_b)
    scales = result_scales(result)
    assert scales == [f"pass{p}_s{s}" for p in (1, 2) for s in (4, 2, 1)] + [FINAL]
    assert scale_label("pass2_s4") == "pass 2, stride 4"
    warp, certainty = scale_warp(result, "pass1_s2")
    assert warp.shape == (*image_a.size_hw, 2) and certainty.max() <= 1.0
