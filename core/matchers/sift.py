"""`sift`: OpenCV SIFT with the ratio test, mutual nearest neighbours and MAGSAC++ verification.

Certainty of a match: ``s = 1 - ratio / ratio_threshold`` in [0, 1] measures how distinct the
nearest neighbour is; geometric inliers get ``0.5 + 0.5 s`` (in [0.5, 1]) and outliers
``0.25 s`` (in [0, 0.25]), so a threshold of 0.5 keeps exactly the verified matches. Results
are sparse: matches only, no warp or certainty map.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.coords import fit_longer_side, rescale_pixels
from core.errors import MatchscopeError
from core.matchers.base import Limit
from core.matchers.keypoints import Features, KeypointMatcher
from core.result import MatchResult, Provenance
from core.run import RunControl


class SiftMatcher(KeypointMatcher):
    name = "sift"
    work_bytes_per_pixel = 64  # OpenCV's scale space of a grey image
    bytes_per_keypoint_pair = 0  # OpenCV's matcher keeps no score matrix
    display_threshold = 0.5  # the verified matches: inliers 0.5 + 0.5 s, outliers <= 0.25
    default_conf = {
        "max_keypoints": 8000,
        "max_size": 1600,
        "ratio": 0.8,
        "mutual": True,
        "geometry": "fundamental",
        "ransac_threshold": 1.0,
        "confidence": 0.999,
        "max_iters": 10000,
    }
    conf_help = {
        "max_keypoints": "most SIFT keypoints kept per image; 0 = all",
        "max_size": "longer image side (px) SIFT runs at; 0 = original size",
        "ratio": "Lowe's ratio test threshold (nearest / second nearest distance)",
        "mutual": "keep only mutual nearest neighbours",
        "geometry": "verification model: fundamental, homography or none",
        "ransac_threshold": "MAGSAC++ inlier threshold in original pixels",
        "confidence": "RANSAC confidence",
        "max_iters": "most RANSAC iterations",
    }
    conf_limits = {
        "max_keypoints": Limit(0),
        "max_size": Limit(0),
        "ratio": Limit(0.0, 1.0, above=True),
        "ransac_threshold": Limit(0.0, above=True),
        "confidence": Limit(0.0, 1.0, above=True),
        "max_iters": Limit(1),
    }

    def __init__(self, **overrides):
        super().__init__(**overrides)
        if self.conf["geometry"] is None:  # `--set geometry=none` parses to None
            self.conf["geometry"] = "none"
        if self.conf["geometry"] not in ("fundamental", "homography", "none"):
            raise MatchscopeError("sift: geometry must be fundamental, homography or none")

    def extract(self, rgb: np.ndarray) -> Features:
        """SIFT keypoints in original pixels, their responses as scores, (K, 128) float32
        descriptors."""
        height, width = rgb.shape[:2]
        work_hw = fit_longer_side(height, width, self.conf["max_size"])
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if work_hw != (height, width):
            gray = cv2.resize(gray, work_hw[::-1], interpolation=cv2.INTER_AREA)
        sift = cv2.SIFT_create(nfeatures=self.conf["max_keypoints"])
        keypoints, descriptors = sift.detectAndCompute(gray, None)
        if descriptors is None:
            keypoints, descriptors = (), np.zeros((0, 128), np.float32)
        xy = np.array([kp.pt for kp in keypoints], dtype=np.float64).reshape(-1, 2)
        return Features(
            keypoints=rescale_pixels(xy, work_hw, (height, width)).astype(np.float32),
            scores=np.array([kp.response for kp in keypoints], np.float32),
            descriptors=descriptors,
            size_hw=(height, width),
        )

    def _match_descriptors(self, desc_a, desc_b) -> tuple[np.ndarray, np.ndarray]:
        """Indices (M, 2) into A and B, and each match's distance ratio (M,)."""
        if len(desc_a) < 2 or len(desc_b) < 2:
            return np.zeros((0, 2), int), np.zeros(0)
        matcher = cv2.BFMatcher(cv2.NORM_L2)
        knn = matcher.knnMatch(desc_a, desc_b, k=2)
        nearest = np.array([[m[0].trainIdx, m[0].distance, m[1].distance] for m in knn])
        ratio = nearest[:, 1] / np.maximum(nearest[:, 2], 1e-12)
        keep = ratio < self.conf["ratio"]
        index_a = np.flatnonzero(keep)
        index_b = nearest[keep, 0].astype(int)
        if self.conf["mutual"]:
            backward = np.array([m.trainIdx for m in matcher.match(desc_b, desc_a)])
            mutual = backward[index_b] == index_a
            index_a, index_b = index_a[mutual], index_b[mutual]
        return np.stack([index_a, index_b], axis=1), ratio[index_a]

    def _verify(self, pts_a: np.ndarray, pts_b: np.ndarray) -> np.ndarray:
        """(M,) bool inlier mask of MAGSAC++ on the chosen model."""
        geometry = self.conf["geometry"]
        minimum = {"fundamental": 8, "homography": 4, "none": 0}[geometry]
        if geometry == "none":
            return np.ones(len(pts_a), bool)
        if len(pts_a) < minimum:
            return np.zeros(len(pts_a), bool)
        kwargs = dict(
            method=cv2.USAC_MAGSAC,
            ransacReprojThreshold=self.conf["ransac_threshold"],
            confidence=self.conf["confidence"],
            maxIters=self.conf["max_iters"],
        )
        a = np.ascontiguousarray(pts_a, np.float64)
        b = np.ascontiguousarray(pts_b, np.float64)
        if geometry == "fundamental":
            model, mask = cv2.findFundamentalMat(a, b, **kwargs)
        else:
            model, mask = cv2.findHomography(a, b, **kwargs)
        if model is None or mask is None:
            return np.zeros(len(pts_a), bool)
        return mask.ravel().astype(bool)

    def match_features(
        self, features_a: Features, features_b: Features, control: RunControl | None = None
    ) -> MatchResult:
        control = control or RunControl()
        kp_a, kp_b = (
            features_a.keypoints.astype(np.float64),
            features_b.keypoints.astype(np.float64),
        )
        with control.stage("match", 0.75):
            pairs, ratio = self._match_descriptors(features_a.descriptors, features_b.descriptors)
            pts_a, pts_b = kp_a[pairs[:, 0]], kp_b[pairs[:, 1]]
        with control.stage("verify", 0.9):
            inlier = self._verify(pts_a, pts_b)
        distinct = np.clip(1.0 - ratio / self.conf["ratio"], 0.0, 1.0)
        certainty = np.where(inlier, 0.5 + 0.5 * distinct, 0.25 * distinct).astype(np.float32)
        matches = np.concatenate([pts_a, pts_b], axis=1).astype(np.float32)
        return MatchResult(  # sparse: no warp, no certainty map
            matches=matches,
            match_certainty=certainty,
            keypoints_a=kp_a.astype(np.float32),
            keypoints_b=kp_b.astype(np.float32),
            match_indices=pairs.astype(np.int32),
            intermediates={
                "ratio": ratio.astype(np.float32),
                "inlier": inlier.astype(np.uint8),
            },
            intermediate_docs={
                "ratio": "(N,) nearest / second-nearest descriptor distance of each match",
                "inlier": "(N,) 1 where MAGSAC++ kept the match",
            },
            provenance=Provenance(matcher=self.name, settings=dict(self.conf)),
        )
