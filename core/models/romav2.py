"""RoMa v2 (Edstedt et al. 2025, arXiv 2511.15706): dense matching on a frozen DINOv3 ViT-L/16.

The model of the reference ``romav2`` 2.0.1, written for this project; ``state_dict()`` is the
layout of the released ``romav2.0.1.pt`` (``f.`` DINOv3, ``matcher.``, ``refiners.``,
``refiner_features.``). Stages:

1. **Backbone** (:class:`core.models.vit.VisionTransformer`, ``f``): patch tokens after blocks
   11 and 17 through the final norm, (B, h, w, 1024) each, h = H / 16. Only the first 18 blocks
   run (the reference runs all 24 and reads two).
2. **Coarse matcher** (:mod:`core.models.romav2_matcher`): a 12-block transformer over both
   views, a cosine-similarity softmax over B's cells, and a DPT head: warp and overlap logit at
   stride 4.
3. **Refiners** (:mod:`core.models.romav2_refiner`) at strides 4, 2, 1 on VGG19-BN features:
   each adds a warp step, an overlap-logit step and a 2x2 precision matrix (Cholesky factors,
   summed over the refiners). A second pass at a higher resolution (the "precise" setting)
   recomputes the VGG features there and restarts the precision at its stride-4 refiner.

``confidence`` (B, H, W, 4) is carried as the reference carries it: the overlap logit, then the
precision's (p00, p10, p11), in pixels^-2 of the resolution the warp was refined at.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.checkpoint import check_state_dict, read_checkpoint
from core.models.progress import Checkpoint
from core.models.romav2_matcher import CoarseMatch, RomaV2Matcher, autocast
from core.models.romav2_refiner import FineFeaturesV2, RefinersV2, precision_matrix
from core.models.vit import BACKBONES, VisionTransformer

BACKBONE_LAYERS = (11, 17)
"""The DINOv3 blocks whose normed patch tokens the matcher reads (0-based)."""
ANCHOR_SIZE = 512
"""The resolution the displacement embedding is scaled to (the reference's anchor width)."""
REFINER_STRIDES = (4, 2, 1)
CAPTURABLE = frozenset({"backbone", "attention", "matching", "refiners"})


@dataclass(frozen=True)
class RomaV2Setting:
    """One of the reference's presets: sides in pixels (H, W), both images resized to them."""

    resolution: tuple[int, int]
    high_resolution: tuple[int, int] | None  # the second refinement pass, or None
    bidirectional: bool
    threshold: float | None  # overlap above it counts as 1 (the benchmark setting)


SETTINGS = {
    "turbo": RomaV2Setting((320, 320), None, False, None),
    "fast": RomaV2Setting((512, 512), None, False, None),
    "base": RomaV2Setting((640, 640), None, False, None),
    "precise": RomaV2Setting((800, 800), (1280, 1280), True, None),
    "benchmark": RomaV2Setting((800, 800), (1024, 1024), True, 0.05),
}
"""The reference's ``apply_setting``; "benchmark" is its mega1500 / scannet1500 / wxbs one."""


@dataclass
class RomaV2Output:
    """Raw outputs of one forward: the last refiner's warp and confidence per direction.

    ``warp``: (D, B, H, W, 2) normalised coordinates in the other image, D = 2 directions
    (A->B, B->A) when bidirectional, else 1; ``confidence``: (D, B, H, W, 4), the overlap logit
    and the precision parameters (module docstring). ``captured``: intermediates by name.
    """

    warp: Tensor
    confidence: Tensor
    captured: dict[str, Tensor] = field(default_factory=dict)


def resize_bhwc(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (align_corners=False) of (B, H, W, C) to (B, *size, C); a no-op at size."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    out = F.interpolate(x.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False)
    return out.permute(0, 2, 3, 1)


def map_confidence(confidence: Tensor, threshold: float | None) -> tuple[Tensor, Tensor]:
    """(..., H, W, 4) confidence -> overlap (..., H, W) in [0, 1] and precision (..., 2, 2).

    With ``threshold``, overlaps above it become 1 (the reference's benchmark setting)."""
    overlap = confidence[..., 0].sigmoid()
    if threshold is not None:
        overlap = torch.where(overlap > threshold, torch.ones_like(overlap), overlap)
    return overlap, precision_matrix(confidence[..., 1:4])


class RomaV2(nn.Module):
    """RoMa v2; ``state_dict()`` is the official checkpoint's layout (``f.`` included)."""

    def __init__(self, backbone: VisionTransformer, matcher: RomaV2Matcher | None = None):
        super().__init__()
        if backbone.config.depth <= max(BACKBONE_LAYERS):
            raise ValueError(f"{backbone.config.name}: RoMa v2 reads blocks {BACKBONE_LAYERS}")
        self.f = backbone.freeze()
        self.matcher = matcher if matcher is not None else RomaV2Matcher()
        self.refiners = RefinersV2()
        self.refiner_features = FineFeaturesV2()

    @property
    def patch_size(self) -> int:
        return self.f.config.patch_size

    def train(self, mode: bool = True) -> RomaV2:
        super().train(mode)
        self.f.eval()  # frozen, as in the reference
        return self

    def describe(
        self, images: Tensor, attention: bool = False, checkpoint: Checkpoint | None = None
    ) -> dict[str, Tensor]:
        """images (B, 3, H, W) in [0, 1] -> ``layers``: two (B, h, w, 1024) token maps.

        With ``attention``, also ``cls_attention`` (B, blocks, heads, h, w) of every block
        (all 24 run then)."""
        mean = images.new_tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
        std = images.new_tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
        normed = ((images - mean) / std).to(next(self.f.parameters()).dtype)
        layers = BACKBONE_LAYERS + ((self.f.config.depth - 1,) if attention else ())
        out = self.f(normed, attention=attention, layers=layers, checkpoint=checkpoint)
        tokens = [x.permute(0, 2, 3, 1).float() for x in out["layers"][: len(BACKBONE_LAYERS)]]
        described = {"layers": tokens}
        if attention:
            described["cls_attention"] = out["cls_attention"]
        return described

    def forward(
        self,
        images_a: Tensor,
        images_b: Tensor,
        *,
        high_a: Tensor | None = None,
        high_b: Tensor | None = None,
        bidirectional: bool = True,
        precision: str = "fp32",
        capture: frozenset[str] | set[str] = frozenset(),
        checkpoint: Checkpoint | None = None,
    ) -> RomaV2Output:
        """Match images (B, 3, H, W) in [0, 1] (sides multiples of 16; A and B the same size).

        ``high_a``, ``high_b``: the same images at the second pass's resolution, or None.
        ``precision``: "fp32", or "bf16" for the reference's autocast numerics. ``capture``:
        intermediates to keep (:data:`CAPTURABLE`). ``checkpoint(step, fraction)`` is called
        before each half of every backbone block, the matcher, each pass's VGG and each
        refiner (fractions rising in [0, 1)); it may raise to cancel.
        """
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision {precision!r}: use fp32 or bf16")
        capture = frozenset(capture)
        if capture - CAPTURABLE:
            raise ValueError(f"cannot capture {sorted(capture - CAPTURABLE)}")
        if images_a.shape != images_b.shape:
            raise ValueError(f"images differ in shape: {images_a.shape} vs {images_b.shape}")
        if (high_a is None) != (high_b is None):
            raise ValueError("the second pass needs both high-resolution images")
        captured: dict[str, Tensor] = {}
        step = checkpoint or (lambda name, fraction: None)
        count = images_a.shape[0]

        def backbone_step(name: str, fraction: float) -> None:
            step(f"backbone {name}", 0.35 * fraction)

        with autocast(images_a.device, precision):
            images = torch.cat((images_a, images_b))
            described = self.describe(images, "attention" in capture, backbone_step)
        layers = described["layers"]
        if "backbone" in capture:
            for index, tokens in zip(BACKBONE_LAYERS, layers, strict=True):
                captured[f"backbone_{index}"] = tokens
        if "attention" in capture:
            captured["attention"] = described["cls_attention"]
        step("matcher", 0.35)
        coarse = self.matcher(
            [x[:count] for x in layers],
            [x[count:] for x in layers],
            bidirectional=bidirectional,
            precision=precision,
        )
        del described, layers
        warp, confidence = self._coarse(coarse, bidirectional, captured, capture)
        passes = [(images_a, images_b)]
        if high_a is not None:
            passes.append((high_a, high_b))
        for stage, (image_a, image_b) in enumerate(passes):
            warp, confidence = self._refine(
                image_a,
                image_b,
                warp,
                confidence,
                stage,
                bidirectional,
                precision,
                captured,
                capture,
                lambda name, fraction, stage=stage: step(
                    f"pass {stage + 1} {name}", (0.5 + 0.5 * (stage + fraction) / len(passes))
                ),
            )
        return RomaV2Output(warp=warp, confidence=confidence, captured=captured)

    def _coarse(
        self, coarse: CoarseMatch, bidirectional: bool, captured: dict, capture: frozenset
    ) -> tuple[Tensor, Tensor]:
        """The matcher's warps and overlap logits stacked by direction: (D, B, h4, w4, 2 / 1)."""
        directions = [(coarse.logits_ab, coarse.warp_ab, coarse.overlap_ab)]
        if bidirectional:
            directions.append((coarse.logits_ba, coarse.warp_ba, coarse.overlap_ba))
        warp = torch.stack([d[1] for d in directions])
        overlap = torch.stack([d[2] for d in directions])
        if "matching" in capture:
            captured["matching_logits"] = torch.stack([d[0] for d in directions])
            captured["coarse_warp"] = warp
            captured["coarse_overlap"] = overlap[..., 0]
        return warp, overlap

    def _refine(
        self,
        image_a: Tensor,
        image_b: Tensor,
        warp: Tensor,
        confidence: Tensor,
        stage: int,
        bidirectional: bool,
        precision: str,
        captured: dict,
        capture: frozenset,
        step: Checkpoint,
    ) -> tuple[Tensor, Tensor]:
        """One refinement pass at the images' resolution: strides 4, 2, 1, both directions."""
        height, width = image_a.shape[-2:]
        scale = image_a.new_tensor((width / ANCHOR_SIZE, height / ANCHOR_SIZE))
        count = image_a.shape[0]
        step("VGG", 0.0)
        features = self.refiner_features(torch.cat((image_a, image_b)))
        for index, stride in enumerate(REFINER_STRIDES):
            step(f"refiner s{stride}", (index + 1) / (len(REFINER_STRIDES) + 1))
            size = (height // stride, width // stride)
            if stage == 1 and stride == REFINER_STRIDES[0]:
                # the stride-4 precision is absolute: the second pass starts it again
                confidence = torch.cat((confidence[..., :1], confidence[..., 1:] * 0), dim=-1)
            flat_warp = resize_bhwc(warp.flatten(0, 1), size)
            flat_conf = resize_bhwc(confidence.flatten(0, 1), size)
            feat = features[stride]  # A then B; the directions run as one batch
            source = feat if bidirectional else feat[:count]
            target = torch.cat((feat[count:], feat[:count])) if bidirectional else feat[count:]
            flat_warp, flat_conf = self.refiners[str(stride)](
                source, target, flat_warp, flat_conf, scale, precision=precision
            )
            warp = flat_warp.unflatten(0, (-1, count))
            confidence = flat_conf.unflatten(0, (-1, count))
            if "refiners" in capture:
                name = f"pass{stage + 1}.{stride}"
                captured[f"{name}.warp"] = warp
                captured[f"{name}.confidence"] = confidence
        return warp, confidence


def build_romav2(device: str | torch.device | None = "meta") -> RomaV2:
    """RoMa v2 with the DINOv3 ViT-L/16 backbone, unallocated on ``"meta"`` by default (then
    :func:`load_romav2_weights` takes the checkpoint's tensors as they are)."""
    with torch.device(device) if device is not None else contextlib.nullcontext():
        backbone = VisionTransformer(BACKBONES["dinov3_vitl16"])
        return RomaV2(backbone)


def load_romav2_weights(model: RomaV2, path) -> None:
    """Load the official ``romav2.0.1.pt`` strictly (``weights_only``): its ``f.`` part is
    bf16 and becomes the model's dtype. Raises :class:`core.errors.InputError` naming missing,
    unexpected and mis-shaped keys, or refusing a file that is not a plain tensor checkpoint."""
    state, _ = read_checkpoint(path)
    check_state_dict(model, state, path)
    expected = model.state_dict()
    on_meta = any(tensor.is_meta for tensor in expected.values())
    state = {key: state[key].to(tensor.dtype) for key, tensor in expected.items()}
    model.load_state_dict(state, strict=True, assign=on_meta)
