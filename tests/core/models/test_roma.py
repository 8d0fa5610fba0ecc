"""RoMa against romatch (the reference implementation), stage by stage, with random weights.

Both models hold the same seeded random weights (:mod:`core.models.testing`: BatchNorm
statistics, LayerNorm and LayerScale drawn far from identity). romatch runs on CPU with
``use_custom_corr=False``. Errors are relative, ``max|ours - ref| / max|ref|``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import InputError
from core.models.roma import (
    CAPTURABLE,
    Roma,
    anchor_probabilities,
    anchors_to_warp,
    load_roma_weights,
    local_correlation,
)
from core.models.testing import random_roma, random_state, without_random_init
from core.models.vit import build_backbone
from tests.conftest import WritesAMarker

TOLERANCE = 1e-4
ROMATCH_MISSING = "romatch is not importable: pip install --no-deps romatch einops loguru kornia"


def romatch_module(name: str):
    return pytest.importorskip(name, reason=ROMATCH_MISSING, exc_type=ImportError)


def rel_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.float() - ref.float()).abs().max() / ref.float().abs().max())


def images(size: int, seed: int, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def reference_roma(model: Roma, coarse: int, upsample: int | None, symmetric: bool = True):
    """romatch's RoMa holding ``model``'s weights (and its backbone's)."""
    zoo = romatch_module("romatch.models.model_zoo.roma_models")
    with without_random_init():  # both state dicts load strictly
        reference = zoo.roma_model(
            resolution=(coarse, coarse),
            upsample_preds=upsample is not None,
            upsample_res=(upsample, upsample) if upsample else None,
            device="cpu",
            weights=model.state_dict(),
            dinov2_weights=model.backbone.state_dict(),
            use_custom_corr=False,
            symmetric=symmetric,
        )
    return reference.eval()


@contextmanager
def at_resolution(reference, coarse: int, upsample: int | None):
    """``reference`` (romatch's ``RegressionMatcher``) matching at ``coarse`` px, upsampled to
    ``upsample`` px (None: not upsampled), as ``roma_model`` would have built it (no layer
    depends on these), then as it was."""
    names = ("h_resized", "w_resized", "upsample_preds", "upsample_res")
    before = {name: getattr(reference, name) for name in names}
    reference.h_resized = reference.w_resized = coarse
    reference.upsample_preds = upsample is not None
    reference.upsample_res = (upsample, upsample) if upsample else before["upsample_res"]
    try:
        yield reference
    finally:
        for name, value in before.items():
            setattr(reference, name, value)


@pytest.fixture(scope="module")
def pair():
    """Our RoMa (ViT-L/14 backbone, the released architecture) and romatch's, same weights."""
    romatch_module("romatch")
    model = random_roma("dinov2_vitl14", seed=3)
    return model, reference_roma(model, coarse=126, upsample=None)


# ---------------------------------------------------------------------------------------------
# Layout


def test_state_dict_is_the_official_layout(pair):
    model, reference = pair
    ours = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    theirs = {key: tuple(t.shape) for key, t in reference.state_dict().items()}
    assert len(ours) == 603  # the released roma_outdoor.pth / roma_indoor.pth
    assert ours == theirs
    assert not any(key.startswith(("_backbone", "backbone")) for key in ours)
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert {id(p) for p in model.parameters()}.isdisjoint(
        id(p) for p in model.backbone.parameters()
    )


def test_the_backbone_moves_with_the_model():
    model = fresh_model()  # on meta: no memory
    model.to(torch.float64)
    assert model.backbone.patch_embed.proj.weight.dtype == torch.float64
    model.train()
    assert model.training and not model.backbone.training


# ---------------------------------------------------------------------------------------------
# Parity, stage by stage


def test_encoders_match_romatch(pair):
    model, reference = pair
    x = images(126, seed=5, batch=2)
    with torch.inference_mode():
        ours = model.encode(x)
        theirs = reference.encoder(x)
    assert set(ours) == set(theirs) == {1, 2, 4, 8, 16}
    for scale in ours:
        assert ours[scale].shape == theirs[scale].shape
        assert rel_error(ours[scale], theirs[scale]) <= TOLERANCE, scale


@contextmanager
def reference_gp_and_anchors(reference):
    """Keep romatch's GP output (``"gp"``) and anchor logits (``"anchor_logits"``) of the
    coarse scale while the block runs; yields the dict they land in."""
    kept = {}
    hooks = [
        reference.decoder.gps["16"].register_forward_hook(
            lambda module, args, out: kept.__setitem__("gp", out)
        ),
        reference.decoder.embedding_decoder.register_forward_hook(
            lambda module, args, out: kept.__setitem__("anchor_logits", out[0])
        ),
    ]
    try:
        yield kept
    finally:
        for hook in hooks:
            hook.remove()


@pytest.mark.parametrize("symmetric", [True, False])
def test_coarse_pass_matches_romatch_stage_by_stage(pair, symmetric):
    model, reference = pair
    a, b = images(126, seed=7), images(126, seed=8)
    batch = {"im_A": a, "im_B": b}
    scale_factor = math.sqrt(126 * 126 / 560**2)
    with reference_gp_and_anchors(reference) as kept, torch.inference_mode():
        if symmetric:
            theirs = reference.forward_symmetric(batch, scale_factor=scale_factor)
        else:
            theirs = reference.forward(batch, scale_factor=scale_factor)
        ours = model(a, b, symmetric=symmetric, capture=CAPTURABLE - {"attention"})
    captured = ours.captured
    assert rel_error(captured["gp"], kept["gp"]) <= TOLERANCE
    assert rel_error(captured["anchor_logits"], kept["anchor_logits"]) <= TOLERANCE
    for scale in (16, 8, 4, 2, 1):
        flow, certainty = theirs[scale]["flow"], theirs[scale]["certainty"]
        assert rel_error(captured[f"coarse.s{scale}.flow"], flow) <= TOLERANCE, scale
        assert rel_error(captured[f"coarse.s{scale}.certainty"], certainty) <= TOLERANCE, scale


def test_gp_and_anchors_match_romatch_on_real_images(pair):
    """On smooth real images the GP solve is ill-conditioned (condition number ~1e4): only the
    reference's exact operation order keeps its output within 1e-4 and no anchor argmax flips."""
    from assets import DEMO_A, DEMO_B
    from core.imageio import load_image
    from core.matchers.roma import preprocess

    model, reference = pair
    a, b = (preprocess(load_image(path).rgb, (224, 224)) for path in (DEMO_A, DEMO_B))
    with reference_gp_and_anchors(reference) as kept, torch.inference_mode():
        reference.forward_symmetric({"im_A": a, "im_B": b}, scale_factor=0.4)
        ours = model(a, b, capture={"gp", "anchors"})
    assert rel_error(ours.captured["gp"], kept["gp"]) <= TOLERANCE
    logits = ours.captured["anchor_logits"]
    assert rel_error(logits, kept["anchor_logits"]) <= TOLERANCE
    assert torch.equal(logits.argmax(dim=1), kept["anchor_logits"].argmax(dim=1))


def test_full_match_with_upsampling_agrees_with_romatch(pair):
    model, reference = pair
    a, b, a_up, b_up = (images(size, seed) for size, seed in ((70, 1), (70, 2), (112, 3), (112, 4)))
    with torch.inference_mode(), at_resolution(reference, coarse=70, upsample=112):
        warp, certainty = reference.match(a, b, im_A_high_res=a_up, im_B_high_res=b_up)
        ours = model(a, b, upsample_a=a_up, upsample_b=b_up)
    width = 112
    theirs_ab, theirs_ba = warp[0, :, :width, 2:], warp[0, :, width:, :2]
    for index, theirs in enumerate((theirs_ab, theirs_ba)):
        within = (ours.warp[index] - theirs).abs().amax(dim=-1) <= 1e-3
        assert within.float().mean() >= 0.999
        assert rel_error(ours.warp[index], theirs) <= TOLERANCE
    assert rel_error(ours.certainty[0], certainty[0, :, :width]) <= TOLERANCE
    assert rel_error(ours.certainty[1], certainty[0, :, width:]) <= TOLERANCE


def test_local_correlation_equals_romatchs_bilinear_windows():
    lc = romatch_module("romatch.utils.local_correlation")
    generator = torch.Generator().manual_seed(0)
    feat_a = torch.randn(2, 24, 11, 13, generator=generator)
    feat_b = torch.randn(2, 24, 11, 13, generator=generator)
    warp = 1.4 * torch.rand(2, 2, 11, 13, generator=generator) * 2 - 1.4  # some land outside B
    warp[0, :, 0, 0] = torch.tensor([5.0, -7.0])  # far outside: all zeros
    for radius in (1, 2, 3):
        ours = local_correlation(feat_a, feat_b, warp, radius)
        theirs = lc.local_correlation(feat_a, feat_b, radius, warp, use_custom_corr=False)
        assert ours.shape == theirs.shape == (2, (2 * radius + 1) ** 2, 11, 13)
        assert rel_error(ours, theirs) <= 1e-5
        assert float(ours[0, :, 0, 0].abs().max()) == 0.0


def test_anchor_step_equals_romatchs_and_gives_a_distribution():
    utils = romatch_module("romatch.utils.utils")
    logits = 4 * torch.randn(2, 64 * 64, 5, 6, generator=torch.Generator().manual_seed(1))
    logits[0, 0, 0, 0] = 50.0  # a corner anchor: its neighbours are clamped or wrap
    ours = anchors_to_warp(logits)
    theirs = utils.cls_to_flow_refine(logits).permute(0, 3, 1, 2)
    assert rel_error(ours, theirs) <= 1e-6
    probs = anchor_probabilities(logits.permute(0, 2, 3, 1))
    assert probs.shape == (2, 5, 6, 64, 64)
    assert torch.allclose(probs.sum(dim=(-1, -2)), torch.ones(2, 5, 6))
    assert probs[0, 0, 0, 0, 0] > 0.99  # anchor 0 is the top-left cell of the 64 x 64 grid


def test_capturing_is_off_unless_asked_and_names_are_checked():
    model = random_roma("dinov2_vits14", seed=1)
    a, b = images(56, 1), images(56, 2)
    with torch.inference_mode():
        plain = model(a, b)
        full = model(a, b, capture=CAPTURABLE)
        checked = model(a, b, capture={"attention"}, checkpoint=lambda step, fraction: None)
    assert plain.captured == {}
    assert torch.equal(plain.warp, full.warp)
    assert full.captured["attention"].shape == (2, 12, 6, 4, 4)  # A, B; 12 blocks, 6 heads
    assert torch.equal(checked.captured["attention"], full.captured["attention"])  # both paths
    assert torch.equal(checked.warp, plain.warp)
    assert full.captured["anchor_logits"].shape == (2, 4096, 4, 4)
    with pytest.raises(ValueError, match="cannot capture"):
        model(a, b, capture={"everything"})


def test_match_encoded_equals_the_one_shot_forward():
    """Encoding once and decoding later (the ``roma`` VO front-end's split) gives forward's
    numbers: exactly from the same batched pyramids, within rounding from per-image ones."""
    model = random_roma("dinov2_vits14", seed=1)
    a, b, a_up, b_up = images(56, 1), images(56, 2), images(64, 3), images(64, 4)
    with torch.inference_mode():
        once = model(a, b, upsample_a=a_up, upsample_b=b_up, capture={"anchors", "refiners"})
        coarse = model.encode(torch.cat((a, b)))
        fine = model.encode(torch.cat((a_up, b_up)), coarse=False)
        split = model.match_encoded(
            {s: t[:1] for s, t in coarse.items()},
            {s: t[1:] for s, t in coarse.items()},
            fine_a={s: t[:1] for s, t in fine.items()},
            fine_b={s: t[1:] for s, t in fine.items()},
            capture={"anchors", "refiners"},
        )
        alone = model.match_encoded(model.encode(a), model.encode(b), symmetric=False)
    assert torch.equal(split.warp, once.warp) and torch.equal(split.certainty, once.certainty)
    assert split.captured.keys() == once.captured.keys()
    assert all(torch.equal(split.captured[k], once.captured[k]) for k in once.captured)
    with torch.inference_mode():
        coarse_only = model(a, b, symmetric=False)
    assert alone.warp.shape == coarse_only.warp.shape == (1, 56, 56, 2)
    assert (alone.warp - coarse_only.warp).abs().max() <= 1e-5
    assert (alone.certainty - coarse_only.certainty).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="from encoded images"):
        model.match_encoded(coarse, coarse, capture={"backbone"})


def test_roma_on_a_dinov3_backbone_builds_and_matches():
    model = random_roma("dinov3_vits16", seed=2)
    assert model.coarse_stride == 16
    assert model.decoder.proj["16"][0].in_channels == 384
    a, b = images(64, 1), images(64, 2)
    with torch.inference_mode():
        out = model(a, b, upsample_a=images(96, 3), upsample_b=images(96, 4), capture={"anchors"})
    assert out.warp.shape == (2, 96, 96, 2) and out.certainty.shape == (2, 96, 96)
    assert out.captured["anchor_logits"].shape == (2, 4096, 4, 4)
    assert torch.isfinite(out.warp).all() and (out.certainty >= 0).all()


# ---------------------------------------------------------------------------------------------
# Progress and cancellation inside the forward pass


STEPS = [
    "coarse: VGG",
    "coarse: backbone",
    "coarse: decoder",
    *(f"coarse: refiner s{scale}" for scale in (16, 8, 4, 2, 1)),
    "upsample: VGG",
    *(f"upsample: refiner s{scale}" for scale in (8, 4, 2, 1)),
]


class StopAt(Exception):
    pass


def run_with_checkpoint(model, stop_at: str | None = None):
    """A pass at 56 / 64 px with a checkpoint that records its calls and raises at ``stop_at``."""
    calls = []

    def checkpoint(step, fraction):
        calls.append((step, fraction))
        if step == stop_at:
            raise StopAt(step)

    a, b = images(56, 1), images(56, 2)
    with torch.inference_mode():
        out = model(a, b, upsample_a=images(64, 3), upsample_b=images(64, 4), checkpoint=checkpoint)
    return out, calls


def test_progress_covers_every_step_in_order_without_changing_the_numbers():
    model = random_roma("dinov2_vits14", seed=1)
    out, calls = run_with_checkpoint(model)
    with torch.inference_mode():
        plain = model(
            images(56, 1), images(56, 2), upsample_a=images(64, 3), upsample_b=images(64, 4)
        )
    assert torch.equal(out.warp, plain.warp) and torch.equal(out.certainty, plain.certainty)
    names = [step for step, _ in calls]
    assert [name for name in names if name in STEPS] == STEPS  # each step starts once, in order
    assert sum(name.startswith("coarse: backbone block") for name in names) == 2 * 12
    assert "coarse: backbone block 12/12 FFN" in names and "coarse: VGG conv 12/12" in names
    assert (
        "coarse: decoder block 5/5 MLP" in names
        and "coarse: refiner s16 correlation 16/16" in names
    )
    assert "upsample: refiner s2 block 9/9" in names
    fractions = [fraction for _, fraction in calls]
    assert fractions[0] == 0.0 and fractions == sorted(fractions) and fractions[-1] < 1.0


@pytest.mark.parametrize(
    ("stop_at", "module", "ran"),
    [
        ("coarse: backbone block 5/12 FFN", "backbone", 5),  # 5 attention halves, 4 FFNs
        ("upsample: refiner s4 block 3/9", "refiner4", 9 + 2),  # coarse pass, then two
    ],
)
def test_a_raising_checkpoint_stops_the_pass_inside_a_stage(stop_at, module, ran):
    model = random_roma("dinov2_vits14", seed=1)
    blocks = {
        "backbone": [block.attn for block in model.backbone.blocks],
        "refiner4": [
            model.decoder.conv_refiner["4"].block1,
            *model.decoder.conv_refiner["4"].hidden_blocks,
        ],
    }[module]
    count = [0]
    hooks = [
        block.register_forward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
        for block in blocks
    ]
    try:
        with pytest.raises(StopAt):
            run_with_checkpoint(model, stop_at)
    finally:
        for hook in hooks:
            hook.remove()
    assert count[0] == ran


def test_progress_weights_follow_the_flop_count():
    """At 560 / 864 the estimate is close to FlopCounterMode's 6.57 TFLOP (README) and to
    DESIGN.md's split: VGG 1.5, refiners at 4 and 8 about 0.8 each."""
    with torch.device("meta"):
        model = Roma(build_backbone("dinov2_vitl14", device="meta"))
    costs = model.step_costs((560, 560), (864, 864))
    assert list(costs) == STEPS
    tflop = {step: 2 * macs / 1e12 for step, macs in costs.items()}
    assert 6.0 < sum(tflop.values()) < 7.0
    assert tflop["coarse: VGG"] + tflop["upsample: VGG"] == pytest.approx(1.5, abs=0.1)
    for scale in (4, 8):
        both = tflop[f"coarse: refiner s{scale}"] + tflop[f"upsample: refiner s{scale}"]
        assert both == pytest.approx(0.8, abs=0.1)
    assert 1.8 < tflop["coarse: backbone"] < 2.6  # linear layers 1.9, attention on top


# ---------------------------------------------------------------------------------------------
# Checkpoints


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    """A RoMa-on-ViT-S/14 checkpoint with random weights, and the model it fits."""
    model = random_roma("dinov2_vits14", seed=4)
    path = tmp_path_factory.mktemp("roma") / "roma_small.pth"
    torch.save(model.state_dict(), path)
    return model, path


def fresh_model() -> Roma:
    with torch.device("meta"):
        return Roma(build_backbone("dinov2_vits14", device="meta"))


def test_loads_strictly_and_gives_the_same_numbers(small_checkpoint):
    model, path = small_checkpoint
    loaded = fresh_model()
    load_roma_weights(loaded, path)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


def test_a_renamed_or_misshaped_tensor_is_named(tmp_path):
    # every tensor of the layout as a view of one element: a small file, the shapes kept
    layout = fresh_model().state_dict()
    state = {key: torch.zeros((), dtype=t.dtype).expand(t.shape) for key, t in layout.items()}
    state["decoder.conv_refiner.8.out_konv.weight"] = state.pop(
        "decoder.conv_refiner.8.out_conv.weight"
    )
    state["decoder.proj.4.0.weight"] = torch.zeros(256, 255, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(InputError) as error:
        load_roma_weights(fresh_model(), tmp_path / "bad.pth")
    message = str(error.value)
    assert "1 missing: decoder.conv_refiner.8.out_conv.weight" in message
    assert "1 unexpected: decoder.conv_refiner.8.out_konv.weight" in message
    assert "decoder.proj.4.0.weight 256x255x1x1 in the file vs 256x256x1x1 in the model" in message
    assert "\n" not in message


def test_a_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"encoder.cnn.layers.0.weight": torch.zeros(1), "x": WritesAMarker(marker)},
               tmp_path / "evil.pth")  # fmt: skip
    with pytest.raises(InputError, match="refused: not a plain tensor checkpoint"):
        load_roma_weights(fresh_model(), tmp_path / "evil.pth")
    assert not marker.exists()


def test_random_state_perturbs_norms_away_from_identity():
    model = random_roma("dinov2_vits14", seed=0)
    bn = model.decoder.proj["8"][1]
    assert bn.running_var.min() >= 0.5 and bn.running_var.max() <= 1.5
    assert (bn.weight - 1).abs().max() > 0.3
    state = random_state(model.backbone, seed=9)
    assert (state["blocks.0.ls1.gamma"] < 1).all()
    assert np.isclose(float(state["blocks.0.ls1.gamma"].min()), 0.1, atol=0.2)


def test_bf16_autocast_stays_close_to_fp32():
    from core.models.roma import autocast_context

    model = random_roma("dinov2_vits14", seed=5)
    a, b = images(56, 1), images(56, 2)
    with torch.inference_mode():
        exact = model(a, b)
        with autocast_context("cpu", "bf16"):
            fast = model(a, b)
    assert fast.warp.dtype == torch.float32
    assert float((fast.warp - exact.warp).abs().mean()) < 0.05
    assert F.l1_loss(fast.certainty, exact.certainty) < 0.1


# ---------------------------------------------------------------------------------------------
# Through the command line, on real image files


@pytest.fixture(scope="module")
def released_files(pair, checkpoint_dir):
    """``pair``'s model written as the released ``roma_outdoor.pth`` and DINOv2 files."""
    model, _ = pair
    folder = checkpoint_dir
    torch.save(model.state_dict(), folder / "roma_outdoor.pth")
    torch.save(model.backbone.state_dict(), folder / "dinov2_vitl14_pretrain.pth")
    return folder / "roma_outdoor.pth", folder / "dinov2_vitl14_pretrain.pth"


@pytest.mark.parametrize("preview", [False, True])
def test_cli_grid_warp_equals_romatchs_match_on_image_files(
    pair, released_files, tmp_path, preview
):
    """`match --matcher roma` with the released architecture: grid_warp_ab is romatch's warp."""
    from PIL import Image

    from app.cli import main
    from assets import DEMO_A, DEMO_B
    from core.result import load_result

    _, reference = pair
    roma_weights, dino_weights = released_files
    args = ["match", str(DEMO_A), str(DEMO_B), "--matcher", "roma", "--out", str(tmp_path / "o")]
    args += ["--roma-weights", str(roma_weights), "--num-samples", "100"]
    args += ["--dino-weights", str(dino_weights)]
    args += ["--coarse-res", "98", "--upsample-res", "112"]
    args += ["--preview"] if preview else []
    assert main(args) == 0
    ours = load_result(tmp_path / "o" / "result.npz")
    upsample = None if preview else 112
    with torch.inference_mode(), at_resolution(reference, coarse=98, upsample=upsample):
        warp, certainty = reference.match(
            Image.open(DEMO_A).convert("RGB"), Image.open(DEMO_B).convert("RGB")
        )
    side = 98 if preview else 112
    theirs = warp[0, :, :side, 2:].numpy()
    assert ours.grid_warp_ab.shape == theirs.shape == (side, side, 2)
    within = np.abs(ours.grid_warp_ab - theirs).max(axis=-1) <= 1e-3
    assert within.mean() >= 0.999
    assert np.abs(ours.grid_certainty_ab - certainty[0, :, :side].numpy()).max() <= 1e-4
