"""`romav2`: RoMa v2 (:mod:`core.models.romav2`) as a matcher.

Both images are resized to the setting's square (or ``resolution``) with torch's antialiased
bicubic filter on [0, 1] values, as the reference's ``match`` does, so with the same weights
``grid_warp_ab`` / ``grid_certainty_ab`` equal the reference's ``warp_AB`` / ``overlap_AB``.
The dense warp is then resized to A's original pixels and expressed in B's pixels; the
precision matrices of the last refiner become covariances in the other image's pixels^2
(``covariance_ab`` / ``covariance_ba``, and one per match in ``match_covariance``).

The checkpoint (``romav2.0.1.pt``, with its DINOv3 ViT-L/16 inside) is looked up like RoMa's
(:mod:`core.weights`): ``weights`` when given, else ``$MATCHSCOPE_WEIGHTS``, the app's settings
folder, torch hub's checkpoint cache (where the reference's users have it); it is downloaded
only with ``download=True``, and loaded with ``weights_only`` and strictly.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from core import memory
from core import weights as weight_files
from core.errors import MatchscopeError
from core.matchers.base import (
    ConfiguredMatcher,
    Limit,
    check_device,
    grid_to_original,
    torch_device,
)
from core.matchers.roma import parse_resolution
from core.result import MatchResult, Provenance
from core.run import RunControl

log = logging.getLogger("matchscope")

WEIGHTS_NAME = "romav2"
_CACHE_LOCK = threading.Lock()
_MODEL_CACHE: dict[tuple, object] = {}  # at most one loaded model: key -> RomaV2
_DEPTH = 24  # DINOv3 ViT-L/16: blocks and heads for the attention options
_HEADS = 16
_WEIGHT_BYTES = 1_700_000_000  # RoMa v2 in fp32: 1.6 GB of weights, plus the process
_BYTES_PER_PIXEL = 2_000
"""A lower bound on the activations per pixel of the largest working resolution and direction
(fp32): the stride-1 pass holds both images' 64-channel VGG features and the 32-channel
refiner's blocks. Only runs that cannot fit are refused before they start; one that runs out
anyway is reported with the same message (:func:`core.memory.out_of_memory_as_error`)."""


def clear_model_cache() -> None:
    """Forget the loaded model (frees its memory; the next run loads the weights again)."""
    with _CACHE_LOCK:
        _MODEL_CACHE.clear()


def resize_image(rgb: np.ndarray, size_hw: tuple[int, int]):
    """(H, W, 3) uint8 RGB -> (1, 3, h, w) float32 in [0, 1]: antialiased bicubic, no clamp."""
    import torch
    import torch.nn.functional as F

    image = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255
    return F.interpolate(image, size=size_hw, mode="bicubic", align_corners=False, antialias=True)


def covariance_from_precision(precision):
    """(..., 2, 2) symmetric positive-definite precision tensor -> its inverse, the covariance."""
    import torch

    p00, p01, p11 = precision[..., 0, 0], precision[..., 0, 1], precision[..., 1, 1]
    det = p00 * p11 - p01 * p01
    rows = (torch.stack((p11, -p01), -1), torch.stack((-p01, p00), -1))
    return torch.stack(rows, -2) / det[..., None, None]


def covariance_to_original(covariance: np.ndarray, work_hw, size_from, size_to) -> np.ndarray:
    """(h, w, 2, 2) covariances in pixels^2 of the working resolution ``work_hw`` of the
    target image -> (H, W, 2, 2) at ``size_from`` pixels of the source image, in ``size_to``
    pixels^2 of the target (scaled by ``S C S``, ``S = diag(W_to / w, H_to / h)``)."""
    import cv2

    scale = np.array([size_to[1] / work_hw[1], size_to[0] / work_hw[0]], np.float64)
    scaled = (covariance * scale[:, None] * scale[None, :]).astype(np.float32)
    height, width = size_from
    flat = scaled.reshape(*scaled.shape[:2], 4)
    if flat.shape[:2] != (height, width):
        flat = cv2.resize(flat, (width, height), interpolation=cv2.INTER_LINEAR)
    return flat.reshape(height, width, 2, 2)


class RomaV2Matcher(ConfiguredMatcher):
    """RoMa v2 with the released 2.0.1 weights."""

    name = "romav2"
    display_threshold = 0.05
    default_conf = {
        "weights": "",
        "setting": "precise",
        "resolution": "",
        "high_resolution": "",
        "bidirectional": "",
        "threshold": -1.0,
        "device": "auto",
        "precision": "fp32",
        "compile": False,
        "num_samples": 5000,
        "seed": 0,
        "intermediates": False,
        "attention_block": -1,
        "attention_head": -1,
        "download": False,
        "settings_dir": "",
    }
    conf_help = {
        "weights": "RoMa v2 checkpoint (romav2.0.1.pt, DINOv3 inside); empty: search",
        "setting": "the reference's preset: turbo (320), fast (512), base (640), precise "
        "(800 + 1280, both directions) or benchmark (800 + 1024, both, threshold 0.05)",
        "resolution": "first pass resolution, N or HxW, multiples of 16; empty: the setting's",
        "high_resolution": "second refinement pass resolution, N or HxW (multiples of 16); "
        "0 for none; empty: the setting's",
        "bidirectional": "true / false: match B->A too; empty: the setting's",
        "threshold": "overlap above it counts as 1 (certainty and sampling); 0 for none, "
        "-1 for the setting's",
        "device": "auto, cpu or cuda",
        "precision": "fp32, or bf16 (the reference's own autocast numerics, on CPU too)",
        "compile": "torch.compile the model (for CUDA; the first match compiles, minutes)",
        "num_samples": "matches drawn by balanced sampling",
        "seed": "random seed of the sampling",
        "intermediates": "keep the matching distribution, coarse and per-refiner warps, "
        "overlaps and precisions of both passes, DINOv3 features and attention",
        "attention_block": "the Attention view's starting block (-1: the last)",
        "attention_head": "the Attention view's starting head (-1: the mean of the heads)",
        "download": "download the missing checkpoint into torch hub's cache (shows licences)",
        "settings_dir": "an extra folder to search for weights (the app's settings)",
    }
    conf_limits = {
        "num_samples": Limit(0),
        "seed": Limit(0),
        "threshold": Limit(-1.0, 1.0),
        "attention_block": Limit(-1, _DEPTH - 1),
        "attention_head": Limit(-1, _HEADS - 1),
    }

    def __init__(self, **overrides):
        super().__init__(**overrides)
        from core.models.romav2 import SETTINGS

        conf = self.conf
        preset = SETTINGS.get(conf["setting"])
        if preset is None:
            raise MatchscopeError(f"setting {conf['setting']!r}: use one of {', '.join(SETTINGS)}")
        self.resolution = preset.resolution
        if conf["resolution"]:
            self.resolution = parse_resolution(conf["resolution"], "resolution")
            if self.resolution is None:
                raise MatchscopeError("resolution: a first-pass resolution is required")
        self.high_resolution = preset.high_resolution
        if conf["high_resolution"]:
            self.high_resolution = parse_resolution(conf["high_resolution"], "high_resolution")
        for key, size in (
            ("resolution", self.resolution),
            ("high_resolution", self.high_resolution),
        ):
            if size is not None and any(side % 16 for side in size):
                raise MatchscopeError(f"{key} {size}: sides must be multiples of 16")
        self.bidirectional = preset.bidirectional
        if str(conf["bidirectional"]).strip():
            text = str(conf["bidirectional"]).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise MatchscopeError(f"bidirectional {text!r}: use true or false")
            self.bidirectional = text in ("true", "1", "yes")
        threshold = conf["threshold"]
        self.threshold = preset.threshold if threshold < 0 else (threshold or None)
        if conf["precision"] not in ("fp32", "bf16"):
            raise MatchscopeError(f"precision {conf['precision']!r}: use fp32 or bf16")
        check_device(conf["device"], self.name)
        self.weights: dict[str, str] = {}

    # -- weights ------------------------------------------------------------------------------

    @classmethod
    def weight_files(cls, conf: dict) -> dict[str, str]:
        return {WEIGHTS_NAME: conf["weights"]}

    def _locate(self, download: bool = True) -> Path:
        settings_dir = self.conf["settings_dir"] or None
        explicit = self.conf["weights"] or None
        try:
            return weight_files.find_weights(WEIGHTS_NAME, explicit, settings_dir=settings_dir)
        except weight_files.WeightsNotFound:
            if not (download and self.conf["download"]):
                raise
        log.info("downloading %s", weight_files.licence_notice(WEIGHTS_NAME))
        return weight_files.download_weights(WEIGHTS_NAME)

    def load_model(self):
        """The loaded model (cached for the next run with the same file, device, precision)."""
        import torch

        from core.models.romav2 import build_romav2, load_romav2_weights

        path = self._locate()
        device = torch_device(self.conf["device"])
        precision, compiled = self.conf["precision"], self.conf["compile"]
        key = (str(path.resolve()), device, precision, compiled)
        self.weights = {path.name: weight_files.cached_sha256(path)}
        with _CACHE_LOCK:
            model = _MODEL_CACHE.get(key)
            if model is None:
                _MODEL_CACHE.clear()  # one model at a time: RoMa v2 is 1.6 GB in fp32
                log.info("loading %s (%s)", path, weight_files.licence_notice(WEIGHTS_NAME))
                model = build_romav2()
                load_romav2_weights(model, path)
                model = model.to(device).eval()
                if precision == "bf16":  # the reference holds its DINOv3 in bf16
                    model.f.to(torch.bfloat16)
                if compiled:
                    model.forward = torch.compile(model.forward, dynamic=False)
                _MODEL_CACHE[key] = model
        return model

    def memory_need(self, size_a, size_b) -> memory.MemoryNeed:
        """A rough need: the weights (unless loaded) and activations per working pixel."""
        sizes = [self.resolution] + ([self.high_resolution] if self.high_resolution else [])
        pixels = max(h * w for h, w in sizes) * (2 if self.bidirectional else 1)
        loaded = bool(_MODEL_CACHE)
        needed = (0 if loaded else _WEIGHT_BYTES) + pixels * _BYTES_PER_PIXEL
        return memory.MemoryNeed(
            what=self.name,
            device=str(torch_device(self.conf["device"])),
            needed=needed,
            settings=f"{self.conf['setting']}, {'x'.join(map(str, sizes[-1]))}",
            suggestion="use setting=turbo / fast / base, or bidirectional=false",
        )

    # -- matching -----------------------------------------------------------------------------

    def match(
        self, rgb_a: np.ndarray, rgb_b: np.ndarray, control: RunControl | None = None
    ) -> MatchResult:
        import torch

        control = control or RunControl()
        with control.stage("load weights", 0.0):
            need = memory.check_memory(self.memory_need(rgb_a.shape[:2], rgb_b.shape[:2]))
            with memory.out_of_memory_as_error(need):
                model = self.load_model()
        device = next(model.refiners.parameters()).device
        with control.stage("preprocess", 0.05):
            image_a = resize_image(rgb_a, self.resolution).to(device)
            image_b = resize_image(rgb_b, self.resolution).to(device)
            high_a = high_b = None
            if self.high_resolution is not None:
                high_a = resize_image(rgb_a, self.high_resolution).to(device)
                high_b = resize_image(rgb_b, self.high_resolution).to(device)
        capture = {"backbone", "attention", "matching", "refiners"}
        capture = capture if self.conf["intermediates"] else set()
        checkpoint = None if self.conf["compile"] else control.checkpoint(0.1, 0.9)
        with memory.out_of_memory_as_error(need):
            with control.stage("match", 0.1), torch.inference_mode():
                out = model(
                    image_a,
                    image_b,
                    high_a=high_a,
                    high_b=high_b,
                    bidirectional=self.bidirectional,
                    precision=self.conf["precision"],
                    capture=capture,
                    checkpoint=checkpoint,
                )
            with control.stage("sample", 0.9):
                return self._result(out, rgb_a.shape[:2], rgb_b.shape[:2])

    def _result(self, out, size_a, size_b) -> MatchResult:
        import torch

        from core.coords import normalized_to_pixel
        from core.models.roma import cell_centres
        from core.models.romav2 import map_confidence
        from core.models.sampling import balanced_sample

        warp = out.warp[:, 0].float().cpu()  # (D, H, W, 2): batch of one pair
        overlap, precision = map_confidence(out.confidence[:, 0].float().cpu(), self.threshold)
        covariance = covariance_from_precision(precision.double()).float()
        work_hw = tuple(warp.shape[1:3])
        sizes = [(size_a, size_b), (size_b, size_a)]
        dense = []
        for index in range(warp.shape[0]):
            src, dst = sizes[index]
            pixel_warp, certainty = grid_to_original(
                warp[index].numpy(), overlap[index].numpy(), src, dst
            )
            cov = covariance_to_original(covariance[index].numpy(), work_hw, src, dst)
            cov[certainty <= 0.0] = np.nan
            dense.append((pixel_warp, certainty, cov))
        # the candidates: every cell of A with its warp, then every cell of B (bidirectional)
        grid = cell_centres(*work_hw)
        candidates = [torch.cat((grid, warp[0]), -1)]
        if warp.shape[0] == 2:
            candidates.append(torch.cat((warp[1], grid), -1))
        candidates = torch.stack(candidates).reshape(-1, 4)
        weight = overlap.reshape(-1)
        inside = candidates.abs().amax(dim=-1) <= 1 - 1 / work_hw[0]
        generator = torch.Generator().manual_seed(self.conf["seed"])
        index = balanced_sample(
            candidates,
            weight * inside,
            self.conf["num_samples"],
            thresh=1.0,  # the threshold is applied to the overlap already
            generator=generator,
        )
        picked = candidates[index].double().numpy()
        matches = np.concatenate(
            (
                normalized_to_pixel(picked[:, :2], size_a[1], size_a[0]),
                normalized_to_pixel(picked[:, 2:], size_b[1], size_b[0]),
            ),
            axis=1,
        ).astype(np.float32)
        match_covariance = self._match_covariance(index, covariance, work_hw, size_a, size_b)
        arrays, docs = self._intermediates(out.captured, work_hw)
        ab, ba = dense[0], dense[1] if len(dense) == 2 else (None, None, None)
        return MatchResult(
            warp_ab=ab[0],
            certainty_ab=ab[1],
            matches=matches,
            match_certainty=weight[index].numpy().clip(0, 1),
            warp_ba=ba[0],
            certainty_ba=ba[1],
            grid_warp_ab=warp[0].numpy(),
            grid_certainty_ab=overlap[0].numpy(),
            covariance_ab=ab[2],
            covariance_ba=ba[2],
            match_covariance=match_covariance,
            intermediates=arrays,
            intermediate_docs=docs,
            provenance=Provenance(
                matcher=self.name, settings=dict(self.conf), weights=dict(self.weights)
            ),
        )

    @staticmethod
    def _match_covariance(index, covariance, work_hw, size_a, size_b) -> np.ndarray:
        """(n, 2, 2, 2): each drawn match's covariance in A's pixels^2 and in B's.

        A match drawn from A's cell k (index < h w) has the A->B covariance of that cell in B
        and NaN in A; one drawn from B's cell has the B->A covariance in A and NaN in B."""
        cells = work_hw[0] * work_hw[1]
        flat = covariance.reshape(covariance.shape[0], cells, 2, 2).numpy()
        out = np.full((len(index), 2, 2, 2), np.nan, np.float32)
        index = index.numpy()
        for direction, (side, size) in enumerate(((1, size_b), (0, size_a))):
            if direction >= flat.shape[0]:
                break
            rows = (index // cells) == direction
            scale = np.array([size[1] / work_hw[1], size[0] / work_hw[0]])
            out[rows, side] = flat[direction, index[rows] % cells] * scale[:, None] * scale
        return out

    def _intermediates(self, captured: dict, work_hw) -> tuple[dict, dict]:
        """Captured tensors -> named numpy arrays (channels last) and their docs."""
        if not captured:
            return {}, {}
        from core.models.romav2 import BACKBONE_LAYERS, map_confidence

        arrays: dict[str, np.ndarray] = {}
        docs: dict[str, str] = {}

        def keep(name, tensor, doc, dtype=np.float32):
            arrays[name] = tensor.detach().float().cpu().numpy().astype(dtype)
            docs[name] = doc

        directions = ("ab", "ba") if self.bidirectional else ("ab",)
        for index, image in enumerate("ab"):
            for layer in BACKBONE_LAYERS:
                # the deepest layer read is `backbone_{image}`: the Attention dock's tokens
                name = (
                    f"backbone_{image}"
                    if layer == BACKBONE_LAYERS[-1]
                    else f"backbone_{layer}_{image}"
                )
                keep(
                    name,
                    captured[f"backbone_{layer}"][index],
                    f"(h16, w16, 1024) float16: DINOv3 patch tokens of {image.upper()} after "
                    f"block {layer} through the final norm (first-pass resolution)",
                    np.float16,
                )
            block, head = self.conf["attention_block"], self.conf["attention_head"]
            which = "the mean of the heads" if head < 0 else f"head {head}"
            keep(
                f"attention_{image}",
                captured["attention"][index],
                f"(blocks, heads, h16, w16) float32: CLS -> patch attention of {image.upper()} "
                f"for every DINOv3 block and head (softmax over CLS, registers and patches); "
                f"the view starts at block {block}, {which}",
            )
        for index, direction in enumerate(directions):
            src, dst = direction[0].upper(), direction[1].upper()
            logits = captured["matching_logits"][index, 0]
            keep(
                f"matching_logits_{direction}",
                logits.flatten(2),
                f"(h16, w16, h16 * w16) float16: matching logits (cosine similarity / 0.1) of "
                f"each coarse cell of {src} over {dst}'s cells, row-major; the softmax over the "
                f"last axis is the matching distribution (core.probe.matching_distribution)",
                np.float16,
            )
            keep(
                f"coarse_warp_{direction}",
                captured["coarse_warp"][index, 0],
                f"(h4, w4, 2): {src}->{dst} warp of the matcher's DPT head, normalised coords",
            )
            keep(
                f"coarse_overlap_{direction}",
                captured["coarse_overlap"][index, 0].sigmoid(),
                "(h4, w4): sigmoid of the matcher's overlap logit",
            )
            for key in sorted(k for k in captured if k.endswith(".warp")):
                stage, stride = key.split(".")[:2]
                confidence = captured[f"{stage}.{stride}.confidence"][index, 0]
                overlap, precision = map_confidence(confidence.float(), None)
                name = f"{stage}_s{stride}"
                keep(
                    f"{name}_warp_{direction}",
                    captured[key][index, 0],
                    f"(h, w, 2): {src}->{dst} warp after the {stage} refiner at stride "
                    f"{stride}, normalised coords",
                )
                keep(
                    f"{name}_certainty_{direction}",
                    overlap,
                    "(h, w): sigmoid of the accumulated overlap logit after that refiner",
                )
                keep(
                    f"{name}_precision_{direction}",
                    precision,
                    f"(h, w, 2, 2): accumulated precision of the warp after that refiner, "
                    f"pixels^-2 of {dst} at that pass's resolution",
                )
        return arrays, docs
