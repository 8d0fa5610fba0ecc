"""RoMa v2 end to end against the reference ``romav2`` 2.0.1 on the same random weights.

The full-size model (DINOv3 ViT-L/16, 12 matcher blocks, three refiners) runs at tiny
resolutions (64 and 96 pixels: 4 x 4 and 6 x 6 coarse cells), in fp32 with the reference's
autocasts off (:mod:`core.models.romav2_reference`). Stage by stage: the backbone's two layers,
the matching logits, the coarse warp and overlap, each refiner's warp and confidence in both
passes and both directions, and the final warp. The matcher and refiners are compared at
their own sizes in ``test_romav2_matcher.py`` and ``test_romav2_refiner.py``.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("romav2", reason="the reference romav2 is missing", exc_type=ImportError)
pytest.importorskip("transformers", reason="transformers is missing", exc_type=ImportError)

from core.models.romav2 import BACKBONE_LAYERS, map_confidence
from core.models.romav2_reference import reference_numerics, reference_romav2
from core.models.testing import random_romav2

TOLERANCE = 1e-4


def rel_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """||ours - ref|| / ||ref||."""
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


@pytest.fixture(scope="module")
def models():
    ours = random_romav2(seed=3)
    reference = reference_romav2(ours.state_dict(), setting="precise", precision="fp32")
    return ours, reference


def images(side: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    low = torch.rand(2, 3, side // 8, side // 8, generator=generator)  # smooth: warps make sense
    full = torch.nn.functional.interpolate(low, size=(side, side), mode="bilinear")
    return full[:1].clamp(0, 1), full[1:].clamp(0, 1)


def run_reference(reference, a, b, high_a=None, high_b=None, bidirectional=True):
    reference.bidirectional = bidirectional
    with reference_numerics(reference), torch.inference_mode():
        return reference(a, b, img_A_hr=high_a, img_B_hr=high_b)


def test_the_state_dict_is_the_official_layout(models):
    ours, _ = models
    state = ours.state_dict()
    groups = {}
    for key in state:
        groups[key.split(".")[0]] = groups.get(key.split(".")[0], 0) + 1
    # the released checkpoint: 907 tensors, f. 368, matcher. 216, refiners. 267, features 56
    assert groups == {"f": 368, "matcher": 216, "refiners": 267, "refiner_features": 56}
    assert state["matcher.mv_vit.rope_embed.periods"].dtype == torch.bfloat16


def test_one_pass_one_direction_matches_the_reference_stage_by_stage(models):
    ours, reference = models
    a, b = images(64, seed=0)
    expected = run_reference(reference, a, b, bidirectional=False)
    with torch.inference_mode():
        got = ours(a, b, bidirectional=False, capture={"backbone", "matching", "refiners"})
        with reference_numerics(reference):
            ref_layers = reference.f(a)
    captured = got.captured
    for layer, ref in zip(BACKBONE_LAYERS, ref_layers, strict=True):
        assert rel_error(captured[f"backbone_{layer}"][:1], ref) <= TOLERANCE, layer
    matcher = expected["matcher"]
    assert rel_error(captured["matching_logits"][0], matcher["attn_AB_logits"]) <= TOLERANCE
    assert rel_error(captured["coarse_warp"][0], matcher["warp_AB"]) <= TOLERANCE
    assert rel_error(captured["coarse_overlap"][0], matcher["confidence_AB"][..., 0]) <= TOLERANCE
    for stride in (4, 2, 1):
        ref = expected[f"refiner_{stride}_AB"]
        assert rel_error(captured[f"pass1.{stride}.warp"][0], ref["warp"]) <= TOLERANCE
        assert rel_error(captured[f"pass1.{stride}.confidence"][0], ref["confidence"]) <= TOLERANCE
    assert got.warp.shape == (1, 1, 64, 64, 2)
    assert rel_error(got.warp[0], expected["warp_AB"]) <= TOLERANCE


def test_two_passes_both_directions_match_the_reference(models):
    """The precise setting's structure at 64 + 96: the second pass restarts the precision."""
    ours, reference = models
    a, b = images(64, seed=1)
    high_a, high_b = images(96, seed=1)
    first = run_reference(reference, a, b)
    both = run_reference(reference, a, b, high_a, high_b)
    with torch.inference_mode():
        got = ours(a, b, high_a=high_a, high_b=high_b, bidirectional=True, capture={"refiners"})
    captured = got.captured
    for index, direction in enumerate(("AB", "BA")):
        for stride in (4, 2, 1):
            for stage, expected in (("pass1", first), ("pass2", both)):
                ref = expected[f"refiner_{stride}_{direction}"]
                warp = captured[f"{stage}.{stride}.warp"][index]
                confidence = captured[f"{stage}.{stride}.confidence"][index]
                assert rel_error(warp, ref["warp"]) <= TOLERANCE, (stage, stride, direction)
                assert rel_error(confidence, ref["confidence"]) <= TOLERANCE
        final = both[f"warp_{direction}"]
        assert got.warp.shape[2:4] == (96, 96)
        close = (got.warp[index] - final).abs().amax(dim=-1) <= 1e-3
        assert close.float().mean() >= 0.999
        overlap, precision = map_confidence(got.confidence[index], None)
        ref_overlap = both[f"confidence_{direction}"][..., 0].sigmoid()
        assert rel_error(overlap, ref_overlap) <= TOLERANCE
        assert precision.shape == (1, 96, 96, 2, 2)
