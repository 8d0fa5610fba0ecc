"""`roma-outdoor` / `roma` and `roma-indoor`: RoMa (:mod:`core.models.roma`) as a matcher.

Images are resized with PIL's bicubic filter to the coarse resolution (and to the upsample
resolution for the second pass) and ImageNet-normalised, as romatch does, so with the same
weights ``grid_warp_ab`` / ``grid_certainty_ab`` equal romatch's A->B warp and certainty. The
dense warp is then resized to A's original pixels and expressed in B's pixels.

Weights are looked up (:mod:`core.weights`): ``roma_weights`` / ``dino_weights`` when given,
else ``$MATCHSCOPE_WEIGHTS``, the app's settings folder, torch hub's checkpoint cache; they are
downloaded only with ``download=True`` (``--download``). Loaded models are kept for the next
run with the same files and device, and the backbone's tokens of the last few coarse image pairs
(:data:`BACKBONE_CACHE`), so a run at other settings on the same images (upsample resolution,
samples, threshold, symmetric) skips the backbone. Before loading anything the memory the run
needs is estimated (:mod:`core.models.roma_memory`) and a run that will not fit is refused
(:mod:`core.memory`), with the same message as one that runs out anyway.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import numpy as np

from core import memory
from core import weights as weight_files
from core.errors import MatchscopeError
from core.feature_cache import FeatureCache, content_key
from core.matchers.base import (
    ConfiguredMatcher,
    Limit,
    check_device,
    grid_to_original,
    torch_device,
)
from core.result import MatchResult, Provenance
from core.run import RunControl

log = logging.getLogger("matchscope")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FULL_COARSE_RES = "560"  # romatch's default
PREVIEW_COARSE_RES = "392"  # 28 x 28 coarse cells: the preview's default
_CACHE_LOCK = threading.Lock()
_MODEL_CACHE: dict[tuple, object] = {}  # at most one loaded model: key -> Roma
BACKBONE_CACHE = FeatureCache(max_entries=4, max_bytes=256 * 2**20)
"""Backbone tokens (and CLS attention) of coarse image pairs, by (backbone, its weights' SHA-256,
coarse resolution, device, precision, the pair's preprocessed content): ViT-L at 560 is 13 MB."""


def parse_resolution(text: str, what: str) -> tuple[int, int] | None:
    """``"560"`` -> (560, 560); ``"560x784"`` -> (560, 784) (H x W); ``"0"``, ``"none"`` -> None."""
    text = str(text).strip().lower()
    if text in ("", "0", "none", "off"):
        return None
    parts = text.replace(",", "x").split("x")
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        raise MatchscopeError(f"{what}: {text!r} is not N or HxW") from None
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) <= 0:
        raise MatchscopeError(f"{what}: {text!r} is not N or HxW")
    return sizes[0], sizes[1]


def preprocess(rgb: np.ndarray, size_hw: tuple[int, int]):
    """(H, W, 3) uint8 RGB -> (1, 3, h, w) float32 tensor: PIL bicubic resize, ImageNet norm."""
    import torch
    from PIL import Image

    height, width = size_hw
    image = Image.fromarray(np.ascontiguousarray(rgb)).resize((width, height), Image.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy())[None]


def clear_model_cache() -> None:
    """Forget the loaded model and the cached backbone tokens (frees their memory; the next run
    loads the weights again)."""
    with _CACHE_LOCK:
        _MODEL_CACHE.clear()
    BACKBONE_CACHE.clear()


def sampling_candidates(warp, certainty, symmetric: bool) -> tuple:
    """The matches RoMa samples from: every grid cell of A (and of B when ``symmetric``).

    Args:
        warp: (N', h, w, 2) tensor, the grid warp A->B (and B->A), normalised coordinates.
        certainty: (N', h, w) tensor, its (attenuated) certainty.

    Returns:
        (n h w, 4) matches ``[xA, yA, xB, yB]`` (normalised) and (n h w,) the certainty of
        each, with ``n = 2`` when symmetric, else 1: the cells of A (``certainty[0]``), then
        those of B (``certainty[1]``).
    """
    import torch

    from core.models.roma import cell_centres

    centres = cell_centres(*warp.shape[1:3])
    pairs = [torch.cat((centres, warp[0]), dim=-1)]
    if symmetric:
        pairs.append(torch.cat((warp[1], centres), dim=-1))
    return torch.stack(pairs).reshape(-1, 4), certainty[: len(pairs)].reshape(-1)


class RomaMatcher(ConfiguredMatcher):
    """RoMa with the released outdoor weights (``roma-indoor`` picks the indoor ones)."""

    name = "roma-outdoor"
    variant = "outdoor"
    # romatch's sample_thresh: above it a match counts as sure (all equally likely drawn)
    display_threshold = 0.05
    default_conf = {
        "roma_weights": "",
        "dino_weights": "",
        "backbone": "dinov2_vitl14",
        "coarse_res": "",
        "upsample_res": "864",
        "preview": False,
        "symmetric": True,
        "attenuate": True,
        "device": "auto",
        "precision": "fp32",
        "compile": False,
        "num_samples": 5000,
        "sample_thresh": 0.05,
        "seed": 0,
        "intermediates": False,
        "attention_block": -1,
        "attention_head": -1,
        "download": False,
        "settings_dir": "",
    }
    conf_help = {
        "roma_weights": "RoMa checkpoint (roma_outdoor.pth / roma_indoor.pth); empty: search",
        "dino_weights": "backbone checkpoint (.pth or transformers folder); empty: search",
        "backbone": "frozen coarse encoder: dinov2_vit{s,b,l}14 or dinov3_vit{s,b,l}16",
        "coarse_res": "coarse pass resolution, N or HxW, multiples of the patch size (14); "
        f"empty: {FULL_COARSE_RES} ({PREVIEW_COARSE_RES} with preview)",
        "upsample_res": "second (fine) pass resolution, N or HxW; 0 for none",
        "preview": "coarse pass only, at a lower coarse resolution unless coarse_res is given: "
        "a usable warp in under a quarter of the full run's time",
        "symmetric": "match A->B and B->A in one batch (warp_ba, matches from both)",
        "attenuate": "lower the certainty where the coarse scale was unsure (as romatch)",
        "device": "auto, cpu or cuda",
        "precision": "fp32, bf16 or fp16 (autocast; fp32 gives romatch's numbers on CPU)",
        "compile": "torch.compile the model (for CUDA; the first match compiles, minutes)",
        "num_samples": "matches drawn by balanced sampling",
        "sample_thresh": "certainty above which all matches are equally likely to be drawn",
        "seed": "random seed of the sampling",
        "intermediates": "keep backbone features, attention, anchors and per-scale warps",
        "attention_block": "the Attention view's starting block (-1: the last); every block's "
        "CLS attention is kept",
        "attention_head": "the Attention view's starting head (-1: the mean of the heads)",
        "download": "download missing weights into torch hub's cache (shows their licence)",
        "settings_dir": "an extra folder to search for weights (the app's settings)",
    }
    conf_limits = {
        "num_samples": Limit(0),
        "sample_thresh": Limit(0.0, 1.0),
        "seed": Limit(0),
        "attention_block": Limit(-1),
        "attention_head": Limit(-1),
    }

    def __init__(self, **overrides):
        super().__init__(**overrides)
        conf = self.conf
        default_res = PREVIEW_COARSE_RES if conf["preview"] else FULL_COARSE_RES
        self.coarse_res = parse_resolution(conf["coarse_res"] or default_res, "coarse_res")
        if self.coarse_res is None:
            raise MatchscopeError("coarse_res: a coarse resolution is required")
        self.upsample_res = None
        if not conf["preview"]:
            self.upsample_res = parse_resolution(conf["upsample_res"], "upsample_res")
        if self.upsample_res is not None and any(side % 8 for side in self.upsample_res):
            raise MatchscopeError(f"upsample_res {conf['upsample_res']}: sides must divide by 8")
        if conf["precision"] not in ("fp32", "bf16", "fp16"):
            raise MatchscopeError(f"precision {conf['precision']!r}: use fp32, bf16 or fp16")
        check_device(conf["device"], self.name)
        from core.models.vit import BACKBONES

        backbone = BACKBONES.get(conf["backbone"])
        if backbone is None or conf["backbone"] not in weight_files.WEIGHT_FILES:
            known = [name for name in BACKBONES if name in weight_files.WEIGHT_FILES]
            raise MatchscopeError(f"backbone {conf['backbone']!r}: use one of {', '.join(known)}")
        for key, count in (
            ("attention_block", backbone.depth),
            ("attention_head", backbone.num_heads),
        ):
            if conf[key] >= count:
                raise MatchscopeError(
                    f"{key} {conf[key]}: {conf['backbone']} has {count} (0..{count - 1}, -1)"
                )
        stride = backbone.patch_size
        if any(side % stride for side in self.coarse_res):
            raise MatchscopeError(
                f"coarse_res {self.coarse_res}: sides must be multiples of the patch size "
                f"{stride} of {conf['backbone']}"
            )
        self.weights: dict[str, str] = {}
        self._backbone_weights = ""  # the loaded backbone's SHA-256: part of the tokens' key

    # -- weights ------------------------------------------------------------------------------

    @classmethod
    def weight_files(cls, conf: dict) -> dict[str, str]:
        return {f"roma_{cls.variant}": conf["roma_weights"], conf["backbone"]: conf["dino_weights"]}

    def _locate(self, name: str, explicit: str, download: bool = True) -> Path:
        settings_dir = self.conf["settings_dir"] or None
        try:
            return weight_files.find_weights(name, explicit or None, settings_dir=settings_dir)
        except weight_files.WeightsNotFound:
            if not (download and self.conf["download"]):
                raise
        log.info("downloading %s", weight_files.licence_notice(name))
        return weight_files.download_weights(name)

    def _model_key(self, download: bool = True) -> tuple[tuple, Path, Path]:
        """The model cache's key for these settings and the two weight files (located, not
        read; missing ones downloaded only with ``download`` and the ``download`` option)."""
        roma_path = self._locate(f"roma_{self.variant}", self.conf["roma_weights"], download)
        dino_path = self._locate(self.conf["backbone"], self.conf["dino_weights"], download)
        device = torch_device(self.conf["device"])
        key = (
            str(roma_path.resolve()),
            str(dino_path.resolve()),
            self.conf["backbone"],
            device,
            self.conf["compile"],
        )
        return key, roma_path, dino_path

    def load_model(self):
        """The loaded model (cached for the next run with the same files and device)."""
        import torch

        from core.models.roma import Roma, compile_model, load_roma_weights
        from core.models.vit import build_backbone
        from core.models.vit_checkpoints import load_backbone_weights

        key, roma_path, dino_path = self._model_key()
        device, backbone = key[3], self.conf["backbone"]
        self.weights = {
            roma_path.name: weight_files.cached_sha256(roma_path),
            dino_path.name: weight_files.cached_sha256(dino_path),
        }
        self._backbone_weights = self.weights[dino_path.name]
        with _CACHE_LOCK:
            model = _MODEL_CACHE.get(key)
            if model is None:
                _MODEL_CACHE.clear()  # one model at a time: ViT-L RoMa is 1.6 GB
                for name, path in ((f"roma_{self.variant}", roma_path), (backbone, dino_path)):
                    log.info("loading %s (%s)", path, weight_files.licence_notice(name))
                vit = build_backbone(backbone, device="meta")
                load_backbone_weights(vit, dino_path)
                with torch.device("meta"):
                    model = Roma(vit)
                load_roma_weights(model, roma_path)
                model = model.to(device).eval()
                if self.conf["compile"]:
                    compile_model(model)
                _MODEL_CACHE[key] = model
        return model

    # -- memory -------------------------------------------------------------------------------

    def memory_settings(self, size_a: tuple[int, int], size_b: tuple[int, int]):
        """What the memory estimate depends on, for a pair of these (H, W) sizes."""
        from core.models.roma_memory import RomaSettings

        conf = self.conf
        return RomaSettings(
            coarse_hw=self.coarse_res,
            upsample_hw=self.upsample_res,
            size_a=tuple(size_a),
            size_b=tuple(size_b),
            symmetric=conf["symmetric"],
            intermediates=conf["intermediates"],
            precision=conf["precision"],
            num_samples=conf["num_samples"],
        )

    def memory_need(self, size_a: tuple[int, int], size_b: tuple[int, int]) -> memory.MemoryNeed:
        """The estimated need of a match of a pair of these sizes; the weights count unless
        they are loaded already."""
        from core.models.roma_memory import roma_need_bytes

        try:
            loaded = self._model_key(download=False)[0] in _MODEL_CACHE
        except MatchscopeError:  # not on disk (yet): not loaded
            loaded = False
        settings = self.memory_settings(size_a, size_b)
        upsample = "none" if self.upsample_res is None else "x".join(map(str, self.upsample_res))
        where = (
            f"coarse {'x'.join(map(str, self.coarse_res))}, upsample {upsample}, "
            f"{'symmetric' if settings.symmetric else 'one-way'}, {settings.precision}"
            + (", intermediates" if settings.intermediates else "")
        )
        suggestion = "lower coarse_res / upsample_res, use --preview"
        if settings.symmetric:
            suggestion += ", symmetric=false"
        if settings.intermediates:
            suggestion += ", no intermediates"
        if settings.num_samples > 100_000:
            suggestion += " or fewer num_samples"
        return memory.MemoryNeed(
            what=self.name,
            device=str(torch_device(self.conf["device"])),
            needed=roma_need_bytes(self.conf["backbone"], settings, loaded),
            settings=where,
            suggestion=suggestion,
        )

    def _backbone_key(self, coarse_a, coarse_b, device) -> tuple | None:
        """The backbone tokens' key in :data:`BACKBONE_CACHE` for these preprocessed (CPU)
        images; None when they are not cached (unknown weights, or a compiled model)."""
        if not self._backbone_weights or self.conf["compile"]:
            return None
        return (
            self.conf["backbone"],
            self._backbone_weights,
            self.coarse_res,
            str(device),
            self.conf["precision"],
            content_key(coarse_a, coarse_b),
        )

    # -- matching -----------------------------------------------------------------------------

    def match(
        self, rgb_a: np.ndarray, rgb_b: np.ndarray, control: RunControl | None = None
    ) -> MatchResult:
        import torch

        from core.models.roma import autocast_context

        control = control or RunControl()
        with control.stage("load weights", 0.0):
            need = memory.check_memory(self.memory_need(rgb_a.shape[:2], rgb_b.shape[:2]))
            with memory.out_of_memory_as_error(need):
                model = self.load_model()
        device = next(model.parameters()).device
        with control.stage("preprocess", 0.05):
            coarse_a = preprocess(rgb_a, self.coarse_res)
            coarse_b = preprocess(rgb_b, self.coarse_res)
            key = self._backbone_key(coarse_a, coarse_b, device)
            coarse_a, coarse_b = coarse_a.to(device), coarse_b.to(device)
            up_a = up_b = None
            if self.upsample_res is not None:
                up_a = preprocess(rgb_a, self.upsample_res).to(device)
                up_b = preprocess(rgb_b, self.upsample_res).to(device)
        capture = set()
        if self.conf["intermediates"]:
            capture = {"backbone", "attention", "anchors", "refiners"}
        tokens = None if key is None else BACKBONE_CACHE.get(key)
        if tokens is not None and "attention" in capture and "cls_attention" not in tokens:
            tokens = None  # computed without attention: run the backbone again, with it
        # cancel checks and progress inside the pass; not in a compiled one (CUDA, fast),
        # where each call would break the graph
        checkpoint = None if self.conf["compile"] else control.checkpoint(0.1, 0.9)
        with memory.out_of_memory_as_error(need):
            with control.stage("match", 0.1), torch.inference_mode():
                with autocast_context(device, self.conf["precision"]):
                    out = model(
                        coarse_a,
                        coarse_b,
                        upsample_a=up_a,
                        upsample_b=up_b,
                        symmetric=self.conf["symmetric"],
                        attenuate=self.conf["attenuate"],
                        capture=capture,
                        checkpoint=checkpoint,
                        backbone_tokens=tokens,
                    )
            if key is not None and tokens is None:
                BACKBONE_CACHE.put(key, out.backbone_tokens)
            with control.stage("sample", 0.9):
                result = self._result(out, rgb_a.shape[:2], rgb_b.shape[:2])
        return result

    def _result(self, out, size_a, size_b) -> MatchResult:
        import torch

        from core.coords import normalized_to_pixel
        from core.models.sampling import balanced_sample

        warp = out.warp.float().cpu()
        certainty = out.certainty.float().cpu()
        grid_ab, cert_ab = warp[0].numpy(), certainty[0].numpy()
        warp_ab, certainty_ab = grid_to_original(grid_ab, cert_ab, size_a, size_b)
        warp_ba = certainty_ba = None
        if self.conf["symmetric"]:
            warp_ba, certainty_ba = grid_to_original(
                warp[1].numpy(), certainty[1].numpy(), size_b, size_a
            )
        candidates, candidate_certainty = sampling_candidates(
            warp, certainty, self.conf["symmetric"]
        )
        generator = torch.Generator().manual_seed(self.conf["seed"])
        index = balanced_sample(
            candidates,
            candidate_certainty,
            self.conf["num_samples"],
            thresh=self.conf["sample_thresh"],
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
        intermediates, docs = self._intermediates(out.captured)
        return MatchResult(
            warp_ab=warp_ab,
            certainty_ab=certainty_ab,
            matches=matches,
            # each match's own grid certainty, not its thresholded sampling weight
            match_certainty=candidate_certainty[index].numpy().clip(0, 1),
            warp_ba=warp_ba,
            certainty_ba=certainty_ba,
            grid_warp_ab=grid_ab,
            grid_certainty_ab=cert_ab,
            intermediates=intermediates,
            intermediate_docs=docs,
            provenance=Provenance(
                matcher=self.name, settings=dict(self.conf), weights=dict(self.weights)
            ),
        )

    def _intermediates(self, captured: dict) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Captured tensors -> named numpy arrays (channels last) and their docs."""
        if not captured:
            return {}, {}
        directions = ("ab", "ba") if self.conf["symmetric"] else ("ab",)
        arrays: dict[str, np.ndarray] = {}
        docs: dict[str, str] = {}

        def keep(name, tensor, doc, dtype=np.float32):
            arrays[name] = tensor.detach().float().cpu().numpy().astype(dtype)
            docs[name] = doc

        stride = self.coarse_res[0] // captured["backbone"].shape[-2]
        for index, image in enumerate("ab"):
            keep(
                f"backbone_{image}",
                captured["backbone"][index].permute(1, 2, 0),
                f"(h16, w16, C) float16: backbone patch tokens of {image.upper()} "
                f"(coarse grid, one cell per {stride}x{stride} coarse-resolution pixels)",
                np.float16,
            )
            if "attention" in captured:
                block, head = self.conf["attention_block"], self.conf["attention_head"]
                which = "the mean of the heads" if head < 0 else f"head {head}"
                keep(
                    f"attention_{image}",
                    captured["attention"][index],
                    f"(blocks, heads, h16, w16) float32: CLS -> patch attention of "
                    f"{image.upper()} for every backbone block and head (softmax over CLS, "
                    f"registers and patches); the view starts at block {block}, {which}",
                )
        anchors = round(math.sqrt(captured["anchor_logits"].shape[1]))
        for index, direction in enumerate(directions):
            src, dst = direction[0].upper(), direction[1].upper()
            keep(
                f"anchor_logits_{direction}",
                captured["anchor_logits"][index].permute(1, 2, 0),
                f"(h16, w16, {anchors * anchors}) float16: anchor logits of each coarse cell of "
                f"{src}; anchor k sits at column k % {anchors}, row k // {anchors} of a "
                f"{anchors}x{anchors} grid over {dst} (core.probe.anchor_distribution)",
                np.float16,
            )
            keep(
                f"coarse_warp_{direction}",
                captured["coarse_warp"][index].permute(1, 2, 0),
                f"(h16, w16, 2): {src}->{dst} warp from the anchors alone, normalised coords",
            )
            for key in sorted(k for k in captured if k.endswith(".flow")):
                stage, scale = key.split(".")[:2]
                certainty = captured[f"{stage}.{scale}.certainty"][index, 0]
                keep(
                    f"{stage}_{scale}_warp_{direction}",
                    captured[key][index].permute(1, 2, 0),
                    f"(h, w, 2): {src}->{dst} warp after the {stage} pass's refiner at scale "
                    f"{scale[1:]}, normalised coords",
                )
                keep(
                    f"{stage}_{scale}_certainty_{direction}",
                    certainty.sigmoid(),
                    "(h, w): sigmoid of the accumulated certainty logit after that refiner",
                )
        return arrays, docs


class RomaIndoorMatcher(RomaMatcher):
    """RoMa with the released indoor weights (trained on ScanNet)."""

    name = "roma-indoor"
    variant = "indoor"
