"""RoMa v2's coarse matcher against the reference ``romav2.matcher.Matcher`` (2.0.1).

The state-dict layout is checked at the released size (12 blocks). The numerics run at 4 blocks
(the reference built at 12, its block list cut), both holding the same seeded random weights
(:func:`core.models.testing.random_state`, loaded strictly into both), on small token grids
(2 x 4 x 6 cells, non-square so that a swapped x / y (RoPE, position embedding,
DPT sizes) shows). The reference runs on CPU whatever accelerator is present (its module-level
``device`` is patched while it is built and run).

- fp32: the reference with ``enable_amp=False`` and the DPT head's hard bf16 autocast patched
  out; the matcher's RoPE stays in bf16 on both sides. Logits, warp and overlap in both
  directions within ``||ours - ref|| / ||ref|| <= 1e-4``.
- bf16: our ``precision="bf16"`` against the reference as released (``enable_amp=True``, the
  DPT autocast in); the same ops in the same order give the same bits (batch 2).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from unittest import mock

import pytest
import torch

pytest.importorskip("romav2", reason="the reference romav2 is missing", exc_type=ImportError)
pytest.importorskip(
    "einops", reason="einops (romav2's dependency) is missing", exc_type=ImportError
)

import romav2.dpt
import romav2.geometry
import romav2.matcher
from romav2.matcher import Matcher

from core.models.romav2_matcher import MATCHER_CONFIG, CoarseMatch, RomaV2Matcher
from core.models.romav2_reference import reference_numerics
from core.models.testing import random_state

TOLERANCE = 1e-4
DEPTH = 4  # of the 12 blocks: both kinds twice, in the released order
# measured 0 (bit-exact) at batch 2; at batch 1 ~1e-6, in fp32 too: the reference's reshape
# then gives its DPT an NCHW layout (ours stays channels-last), and the convolutions round apart
BF16_TOLERANCE = 1e-6
CPU = torch.device("cpu")


def rel_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """||ours - ref|| / ||ref||."""
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


@contextlib.contextmanager
def reference_on_cpu():
    """The reference's module-level ``device`` (CUDA / MPS when present) as the CPU."""
    with contextlib.ExitStack() as stack:
        for module in (romav2.matcher, romav2.dpt, romav2.geometry):
            stack.enter_context(mock.patch.object(module, "device", CPU))
        yield


@pytest.fixture(autouse=True)
def highest_matmul_precision():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(before)


@pytest.fixture(scope="module")
def models() -> tuple[RomaV2Matcher, Matcher, dict[str, torch.Tensor]]:
    """Ours and the reference at ``DEPTH`` blocks on one random state, and the full-size
    reference's state (its layout and its official RoPE periods)."""
    torch.manual_seed(0)  # the reference draws omega at construction; the state replaces it
    with reference_on_cpu():
        reference = Matcher(Matcher.Cfg(enable_amp=False)).eval()
    full_state = reference.state_dict()
    reference.mv_vit.blocks = reference.mv_vit.blocks[:DEPTH]
    ours = RomaV2Matcher(replace(MATCHER_CONFIG, depth=DEPTH)).eval()
    state = random_state(ours, seed=5)  # drawn on ours: the reference has no official periods
    ours.load_state_dict(state, strict=True)
    reference.load_state_dict(state, strict=True)
    return ours, reference, full_state


def token_maps(batch: int = 2, h: int = 4, w: int = 6, seed: int = 0) -> list[torch.Tensor]:
    """Four (B, h, w, 1024) maps: layers 11 and 17 of A, then of B."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, h, w, 1024, generator=generator) for _ in range(4)]


def run_reference(reference: Matcher, layers: list[torch.Tensor], precision: str) -> dict:
    reference.cfg = replace(reference.cfg, enable_amp=precision == "bf16")
    reference.precision = precision  # what reference_numerics reads
    a11, a17, b11, b17 = layers
    images = torch.zeros(a11.shape[0], 3, 16 * a11.shape[1], 16 * a11.shape[2])
    # the reference writes its head input into the lists it is given: pass fresh ones
    with reference_on_cpu(), reference_numerics(reference), torch.inference_mode():
        return reference([a11, a17], [b11, b17], images, images, bidirectional=True)


def run_ours(
    ours: RomaV2Matcher, layers: list[torch.Tensor], precision: str, bidirectional: bool = True
) -> CoarseMatch:
    a11, a17, b11, b17 = layers
    with torch.inference_mode():
        return ours([a11, a17], [b11, b17], bidirectional=bidirectional, precision=precision)


def compare(got: CoarseMatch, expected: dict, tolerance: float) -> dict[str, float]:
    errors = {}
    for ours_name, ref_name in (("logits", "attn"), ("warp", "warp"), ("overlap", "confidence")):
        for ours_dir, ref_dir in (("ab", "AB"), ("ba", "BA")):
            ref_key = (
                f"{ref_name}_{ref_dir}_logits" if ref_name == "attn" else f"{ref_name}_{ref_dir}"
            )
            ours_value, ref_value = getattr(got, f"{ours_name}_{ours_dir}"), expected[ref_key]
            assert ours_value.shape == ref_value.shape, (ours_name, ours_dir)
            assert ours_value.dtype == torch.float32, (ours_name, ours_dir)
            errors[f"{ours_name}_{ours_dir}"] = rel_error(ours_value, ref_value)
    assert all(error <= tolerance for error in errors.values()), errors
    return errors


def test_the_state_dict_is_the_reference_layout(models):
    ours, _, ref_state = models
    with torch.device("meta"):
        ours_state = RomaV2Matcher().state_dict()
    assert set(ours_state) == set(ref_state)
    assert len(ref_state) == 216  # the checkpoint's matcher. part
    for key, ref in ref_state.items():
        assert (ours_state[key].shape, ours_state[key].dtype) == (ref.shape, ref.dtype), key
    assert ref_state["mv_vit.rope_embed.periods"].dtype == torch.bfloat16
    assert ref_state["scale"].dtype == torch.int64
    official = ours.mv_vit.official_rope_periods()  # what random_state gives both
    assert torch.equal(official, ref_state["mv_vit.rope_embed.periods"])


def test_fp32_matches_the_reference_in_both_directions(models):
    ours, reference, _ = models
    layers = token_maps()
    kept = [layer.clone() for layer in layers]
    expected = run_reference(reference, layers, "fp32")
    got = run_ours(ours, layers, "fp32")
    compare(got, expected, TOLERANCE)
    assert got.logits_ab.shape == (2, 4, 6, 4, 6)
    assert got.warp_ab.shape == (2, 16, 24, 2) and got.overlap_ab.shape == (2, 16, 24, 1)
    assert all(torch.equal(a, b) for a, b in zip(layers, kept, strict=True))  # inputs untouched
    one = run_ours(ours, layers, "fp32", bidirectional=False)
    assert one.logits_ba is None and one.warp_ba is None and one.overlap_ba is None
    assert rel_error(one.logits_ab, expected["attn_AB_logits"]) <= TOLERANCE
    assert rel_error(one.warp_ab, expected["warp_AB"]) <= TOLERANCE
    assert rel_error(one.overlap_ab, expected["confidence_AB"]) <= TOLERANCE


def test_bf16_is_the_reference_as_released(models):
    ours, reference, _ = models
    layers = token_maps(batch=2, h=3, w=5, seed=2)
    got = run_ours(ours, layers, "bf16")
    compare(got, run_reference(reference, layers, "bf16"), BF16_TOLERANCE)
    fp32 = run_ours(ours, layers, "fp32", bidirectional=False)
    assert rel_error(got.warp_ab, fp32.warp_ab) > 1e-3  # bf16 really ran
