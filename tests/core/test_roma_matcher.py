"""The `roma` matchers end to end: weights on disk, the CLI, result.npz, intermediates, errors.

A RoMa on a DINOv2 ViT-S/14 with seeded random weights keeps these tests quick; the parity of
the released ViT-L/14 architecture with romatch through the CLI is in
tests/core/models/test_roma.py.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from app.cli import main
from assets import DEMO_A, DEMO_B
from core.errors import Cancelled, MatchscopeError
from core.imageio import load_image
from core.matchers import create_matcher
from core.matchers.roma import BACKBONE_CACHE, clear_model_cache
from core.models.testing import random_roma
from core.probe import anchor_distribution
from core.result import load_result
from core.run import RunControl, run_match
from tests.conftest import WritesAMarker


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A folder with `roma_outdoor.pth` and `dinov2_vits14_pretrain.pth` (random, ViT-S)."""
    folder = tmp_path_factory.mktemp("weights")
    model = random_roma("dinov2_vits14", seed=11)
    torch.save(model.state_dict(), folder / "roma_outdoor.pth")
    torch.save(model.backbone.state_dict(), folder / "dinov2_vits14_pretrain.pth")
    return folder


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    """An empty home, hub cache and settings: nothing can be found unless given."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MATCHSCOPE_WEIGHTS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


SMALL = {"backbone": "dinov2_vits14", "coarse_res": "112", "upsample_res": "128"}


def roma(weights, **settings):
    return create_matcher(
        "roma",
        {
            **SMALL,
            "roma_weights": str(weights / "roma_outdoor.pth"),
            "dino_weights": str(weights / "dinov2_vits14_pretrain.pth"),
            **settings,
        },
    )


def test_a_match_fills_the_result_contract(weights):
    image_a, image_b = load_image(DEMO_A), load_image(DEMO_B)
    result = run_match(roma(weights, num_samples=2000), image_a, image_b, matcher_name="roma")
    height, width = image_a.size_hw
    assert result.warp_ab.shape == (height, width, 2)
    assert result.warp_ba.shape == (*image_b.size_hw, 2)
    assert result.grid_warp_ab.shape == (128, 128, 2)
    assert result.matches.shape == (2000, 4)
    inside = (result.matches[:, 0] >= -0.5) & (result.matches[:, 0] <= width - 0.5)
    assert inside.all()
    assert set(result.timings) >= {"load weights", "preprocess", "match", "sample", "total"}
    assert len(result.provenance.weights) == 2
    assert all(len(digest) == 64 for digest in result.provenance.weights.values())
    assert result.intermediates == {}  # nothing kept unless asked


def test_the_dense_warp_is_the_grid_warp_in_original_pixels(weights):
    import cv2

    image_a, image_b = load_image(DEMO_A), load_image(DEMO_B)
    result = run_match(roma(weights, preview=True), image_a, image_b)
    assert result.grid_warp_ab.shape == (112, 112, 2)  # the coarse grid
    height, width = image_a.size_hw
    hb, wb = image_b.size_hw
    # resampled to A's pixel centres (half-pixel aligned), then in B's pixels (OpenCV centres)
    dense = cv2.resize(result.grid_warp_ab, (width, height), interpolation=cv2.INTER_LINEAR)
    pixels = ((dense + 1) * np.array([wb, hb]) - 1) / 2
    finite = np.isfinite(result.warp_ab).all(axis=-1)
    assert finite.mean() > 0.5
    assert np.allclose(result.warp_ab[finite], pixels[finite], atol=1e-3)
    assert (result.certainty_ab[~finite] == 0).all()


def test_intermediates_are_documented_and_anchor_distributions_read_back(weights, tmp_path):
    image_a, image_b = load_image(DEMO_A), load_image(DEMO_B)
    matcher = roma(weights, intermediates=True, attention_block=3, attention_head=2)
    result = run_match(matcher, image_a, image_b)
    inter = result.intermediates
    assert inter["backbone_a"].shape == (8, 8, 384) and inter["backbone_a"].dtype == np.float16
    attention = inter["attention_a"]  # every block and head: 12 blocks, 6 heads of ViT-S
    assert attention.shape == (12, 6, 8, 8) and attention.dtype == np.float32
    sums = attention.sum(axis=(2, 3))
    assert (sums <= 1 + 1e-5).all() and (sums > 0.9).all()  # most mass on patches
    assert inter["attention_b"].shape == (12, 6, 8, 8)
    assert inter["anchor_logits_ab"].shape == (8, 8, 4096)
    assert inter["anchor_logits_ba"].shape == (8, 8, 4096)
    for stage, scales, size in (("coarse", (16, 8, 4, 2, 1), 112), ("upsample", (8, 4, 2, 1), 128)):
        for scale in scales:
            side = 8 if scale == 16 else size // scale
            assert inter[f"{stage}_s{scale}_warp_ab"].shape == (side, side, 2)
            certainty = inter[f"{stage}_s{scale}_certainty_ba"]
            assert certainty.shape == (side, side)
            assert certainty.min() >= 0 and certainty.max() <= 1
    assert set(result.intermediate_docs) == set(inter)
    assert "starts at block 3, head 2" in result.intermediate_docs["attention_a"]
    # the final upsample-pass warp is the grid warp (before clamping to the image)
    final = inter["upsample_s1_warp_ab"]
    assert np.allclose(np.clip(final, -1, 1), result.grid_warp_ab, atol=1e-6)
    probs, cell = anchor_distribution(result, 10.0, 20.0)
    assert probs.shape == (64, 64) and np.isclose(probs.sum(), 1.0, atol=1e-5)
    height, width = image_a.size_hw
    assert cell == (int((20.5) / height * 8), int(10.5 / width * 8))
    coarse = inter["coarse_warp_ab"][cell]
    mode = np.unravel_index(probs.argmax(), probs.shape)
    anchor_xy = (np.array([mode[1], mode[0]]) * 2 + 1) / 64 - 1
    assert np.abs(coarse - anchor_xy).max() <= 2 / 64 + 1e-6  # the warp sits near the mode
    from core.result import save_result

    save_result(result, tmp_path / "result.npz")
    loaded = load_result(tmp_path / "result.npz")
    assert np.array_equal(loaded.intermediates["anchor_logits_ab"], inter["anchor_logits_ab"])


def test_match_certainty_is_the_grid_certainty_of_the_drawn_cell(weights, monkeypatch):
    """Each match reports the attenuated certainty of the grid cell it was drawn from:
    ``certainty[0]`` for A->B matches, ``certainty[1]`` for B->A; not the sampling weight."""
    from core.matchers.roma import RomaMatcher
    from core.models import sampling

    seen = {}
    result_of, draw = RomaMatcher._result, sampling.balanced_sample

    def keep_output(self, out, size_a, size_b):
        seen["certainty"] = out.certainty.float().numpy()
        return result_of(self, out, size_a, size_b)

    def keep_index(*args, **kwargs):
        seen["index"] = draw(*args, **kwargs).numpy()
        return torch.from_numpy(seen["index"])

    monkeypatch.setattr(RomaMatcher, "_result", keep_output)
    monkeypatch.setattr(sampling, "balanced_sample", keep_index)
    image_a, image_b = load_image(DEMO_A), load_image(DEMO_B)
    result = run_match(roma(weights, num_samples=2000), image_a, image_b, matcher_name="roma")
    certainty, index = seen["certainty"], seen["index"]  # (2, h, w), (N,)
    _, grid_h, grid_w = certainty.shape
    direction, cell = np.divmod(index, grid_h * grid_w)  # 0: A->B, 1: B->A
    row, column = np.divmod(cell, grid_w)
    assert 0 < direction.sum() < len(index)  # matches drawn both ways
    np.testing.assert_array_equal(result.match_certainty, certainty[direction, row, column])
    np.testing.assert_array_equal(certainty[0], result.grid_certainty_ab)
    # the drawn cell is where the match starts: its centre in A (A->B) or in B (B->A)
    for side, (height, width) in enumerate((image_a.size_hw, image_b.size_hw)):
        start = result.matches[direction == side][:, 2 * side : 2 * side + 2]
        at_cell = (start + 0.5) / [width, height] * [grid_w, grid_h] - 0.5
        cells = np.stack([column, row], axis=1)[direction == side]
        np.testing.assert_allclose(at_cell, cells, atol=1e-3)
    # real spread, not the sampling weight (1 above sample_thresh)
    assert (result.match_certainty < 1).mean() > 0.5
    assert len(np.unique(result.match_certainty)) > 100


def test_asymmetric_matching_has_no_backward_warp(weights):
    result = run_match(roma(weights, symmetric=False), load_image(DEMO_A), load_image(DEMO_B))
    assert result.warp_ba is None and result.certainty_ba is None


def test_weights_are_found_in_matchscope_weights(weights, monkeypatch, no_weights_anywhere):
    monkeypatch.setenv("MATCHSCOPE_WEIGHTS", str(weights))
    matcher = create_matcher("roma", {**SMALL, "preview": True})
    result = run_match(matcher, load_image(DEMO_A), load_image(DEMO_B))
    assert set(result.provenance.weights) == {"roma_outdoor.pth", "dinov2_vits14_pretrain.pth"}


def test_progress_moves_through_the_model_and_cancel_stops_inside_it(weights):
    BACKBONE_CACHE.clear()  # the backbone runs (earlier tests cached this pair's tokens)
    cancel = threading.Event()
    seen = []

    def progress(stage, fraction):
        seen.append((stage, fraction))
        if stage == "upsample: VGG conv 3/12":
            cancel.set()

    control = RunControl(progress=progress, cancel=cancel)
    with pytest.raises(Cancelled, match="upsample: VGG conv 4/12"):
        roma(weights).match(load_image(DEMO_A).rgb, load_image(DEMO_B).rgb, control=control)
    stages = [stage for stage, _ in seen]
    fractions = [fraction for _, fraction in seen]
    assert stages[:3] == ["load weights", "preprocess", "match"]
    assert "coarse: backbone block 12/12" in stages and "coarse: refiner s4 block 9/9" in stages
    assert fractions == sorted(fractions) and 0.1 <= fractions[3] and fractions[-1] < 0.9
    assert stages[-1] == "upsample: VGG conv 3/12"  # nothing ran after the next check


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"coarse_res": "100"}, "multiples of the patch size 14"),
        ({"upsample_res": "130"}, "divide by 8"),
        ({"precision": "fp8"}, "use fp32, bf16 or fp16"),
        ({"device": "tpu"}, "use auto, cpu or cuda"),
        ({"backbone": "resnet"}, "backbone 'resnet'"),
        ({"coarse_res": "big"}, "is not N or HxW"),
        ({"attention_block": 12}, "attention_block 12: dinov2_vits14 has 12"),
        ({"attention_head": 6}, "attention_head 6: dinov2_vits14 has 6"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(MatchscopeError, match=message):
        create_matcher("roma", {**SMALL, **settings})


# ---------------------------------------------------------------------------------------------
# The CLI


def test_cli_writes_a_result_and_prints_the_licences(weights, tmp_path, capsys):
    clear_model_cache()  # as in a fresh process: the weights are loaded, licences shown
    out = tmp_path / "out"
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(out)]
    args += ["--roma-weights", str(weights / "roma_outdoor.pth")]
    args += ["--dino-weights", str(weights / "dinov2_vits14_pretrain.pth")]
    args += ["--backbone", "dinov2_vits14", "--coarse-res", "112", "--upsample-res", "0"]
    args += ["--num-samples", "500", "--no-symmetric", "--intermediates"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "MIT licence" in err and "Apache-2.0" in err
    result = load_result(out / "result.npz")
    assert result.grid_warp_ab.shape == (112, 112, 2)
    assert result.matches.shape == (500, 4)
    assert result.warp_ba is None
    settings = result.provenance.settings
    assert settings["symmetric"] is False and settings["num_samples"] == 500
    assert "anchor_logits_ab" in result.intermediates
    meta = json.loads(str(np.load(out / "result.npz")["meta"]))
    assert "anchor_logits_ab" in meta["intermediates"]


def test_cli_without_weights_says_where_it_looked(tmp_path, capsys, no_weights_anywhere):
    code = main(["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "torch hub cache" in err and str(tmp_path / "torch") in err
    assert "roma_outdoor.pth" in err and "--download" in err
    assert not (tmp_path / "result.npz").exists()


def test_cli_download_only_when_asked(tmp_path, capsys, monkeypatch, no_weights_anywhere):
    fetched = []

    def fake_download(url, dst, progress=True):
        fetched.append(url)
        raise OSError("no network here")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(tmp_path)]
    assert main(args) == 2 and fetched == []
    capsys.readouterr()
    assert main([*args, "--download"]) == 2
    err = capsys.readouterr().err
    assert fetched == [
        "https://github.com/Parskatt/storage/releases/download/roma/roma_outdoor.pth"
    ]
    assert "MIT licence" in err  # the licence is shown before downloading


def test_cli_names_the_bad_keys_of_a_checkpoint(weights, tmp_path, capsys):
    # the file's keys and shapes, each tensor a view of one element (a small file)
    state = torch.load(weights / "roma_outdoor.pth", weights_only=True, mmap=True)
    state = {key: torch.zeros((), dtype=t.dtype).expand(t.shape) for key, t in state.items()}
    state["decoder.gps.16.pos_konv.weight"] = state.pop("decoder.gps.16.pos_conv.weight")
    torch.save(state, tmp_path / "renamed.pth")
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(tmp_path / "o")]
    args += ["--roma-weights", str(tmp_path / "renamed.pth"), "--backbone", "dinov2_vits14"]
    args += ["--dino-weights", str(weights / "dinov2_vits14_pretrain.pth")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 missing: decoder.gps.16.pos_conv.weight" in err
    assert "1 unexpected: decoder.gps.16.pos_konv.weight" in err
    assert "Traceback" not in err


def test_cli_refuses_a_checkpoint_that_runs_code(weights, tmp_path, capsys):
    marker = tmp_path / "marker"
    torch.save({"x": WritesAMarker(marker)}, tmp_path / "evil.pth")
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(tmp_path / "o")]
    args += ["--roma-weights", str(tmp_path / "evil.pth"), "--backbone", "dinov2_vits14"]
    args += ["--dino-weights", str(weights / "dinov2_vits14_pretrain.pth")]
    assert main(args) == 2
    assert "refused: not a plain tensor checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_preview_runs_the_coarse_pass_at_a_lower_resolution_unless_given():
    preview = create_matcher("roma", {"preview": True})
    assert preview.coarse_res == (392, 392) and preview.upsample_res is None
    explicit = create_matcher("roma", {"preview": True, "coarse_res": "448x560"})
    assert explicit.coarse_res == (448, 560)
    full = create_matcher("roma", {})
    assert full.coarse_res == (560, 560) and full.upsample_res == (864, 864)


def test_compile_wraps_the_forward_and_keeps_the_weights(weights, monkeypatch):
    compiled = []

    def fake_compile(fn, **options):
        compiled.append(options)
        return fn  # inductor itself is not exercised here (minutes of compile on a CPU)

    monkeypatch.setattr(torch, "compile", fake_compile)
    clear_model_cache()
    matcher = roma(weights, compile=True, preview=True)
    result = run_match(matcher, load_image(DEMO_A), load_image(DEMO_B))
    assert compiled == [{"mode": "max-autotune-no-cudagraphs", "dynamic": False}]
    assert result.grid_warp_ab.shape == (112, 112, 2)
    assert "forward" in vars(matcher.load_model())  # compiled per instance; state dict as before
    clear_model_cache()


def test_bench_pairs_runs_roma_on_the_megadepth_protocol(weights, tmp_path, capsys, scene_views):
    """RoMa through ``bench pairs`` on a LoFTR-style MegaDepth-1500 scene file (random weights:
    the numbers mean nothing; the run, the protocol and the JSON are what is checked)."""
    from tests.core.bench import layouts

    layouts.megadepth_scene(tmp_path, scene_views, layouts.scene_info_pickle)
    out = tmp_path / "out.json"
    args = ["bench", "pairs", "--dataset", str(tmp_path), "--matcher", "roma", "--json", str(out)]
    for key, value in {
        **SMALL,
        "roma_weights": weights / "roma_outdoor.pth",
        "dino_weights": weights / "dinov2_vits14_pretrain.pth",
        "num_samples": 300,
    }.items():
        args += ["--set", f"roma.{key}={value}"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "5 run(s) per pair, at most 5000 matches" in printed
    entry = json.loads(out.read_text())["matchers"]["roma"]
    assert entry["kind"] == "pose" and entry["pairs"] == 1
    assert all(0.0 <= value <= 1.0 for value in entry["auc"].values())
    assert entry["seconds_per_pair"] > 0 and entry["peak_mb"] > 0
    assert list(entry["sequences"]) == ["0015_0.1_0.3"]
