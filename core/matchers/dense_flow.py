"""`dense-flow`: dense correspondences from OpenCV's DIS optical flow, computed both ways.

Both images are resized to one working grid (A's aspect ratio, longer side ``max_size``; each
side at least :data:`MIN_GRID`, so tiny images are stretched); DIS gives flow A->B and B->A on
it. A pixel's certainty is ``exp(-e^2 / (2 sigma^2))`` where ``e`` is
its forward-backward error (working pixels: A -> B -> back to A); pixels that leave B get 0.
Matches are drawn at random in proportion to certainty (seeded, so runs repeat).
"""

from __future__ import annotations

import cv2
import numpy as np

from core.coords import fit_longer_side, pixel_grid, pixel_to_normalized
from core.errors import MatchscopeError
from core.matchers.base import ConfiguredMatcher, Limit, grid_to_original
from core.result import MatchResult, Provenance
from core.run import RunControl

MIN_GRID = 16
"""Shortest side (px) of the working grid: smaller images are stretched to it (DIS refuses
images under 12 px)."""

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DenseFlowMatcher(ConfiguredMatcher):
    name = "dense-flow"
    display_threshold = 0.6  # forward-backward error within about fb_sigma (1.01 sigma)
    default_conf = {
        "max_size": 1024,
        "preset": "medium",
        "fb_sigma": 1.0,
        "num_samples": 5000,
        "min_certainty": 0.05,
        "seed": 0,
    }
    conf_help = {
        "max_size": "longer side (px) of the working grid the flow is computed on",
        "preset": "DIS preset: ultrafast, fast or medium",
        "fb_sigma": "forward-backward error (working px) at which certainty falls to exp(-1/2)",
        "num_samples": "number of matches drawn by certainty",
        "min_certainty": "pixels below this certainty are never sampled",
        "seed": "random seed of the match sampling",
    }
    conf_limits = {
        "max_size": Limit(MIN_GRID),
        "fb_sigma": Limit(0.0, above=True),
        "num_samples": Limit(0),
        "min_certainty": Limit(0.0, 1.0),
        "seed": Limit(0),
    }

    def __init__(self, **overrides):
        super().__init__(**overrides)
        if self.conf["preset"] not in _PRESETS:
            raise MatchscopeError(f"dense-flow: preset must be one of {', '.join(_PRESETS)}")

    def _flow(self, gray_from: np.ndarray, gray_to: np.ndarray) -> np.ndarray:
        dis = cv2.DISOpticalFlow_create(_PRESETS[self.conf["preset"]])
        return dis.calc(gray_from, gray_to, None)

    def match(
        self, rgb_a: np.ndarray, rgb_b: np.ndarray, control: RunControl | None = None
    ) -> MatchResult:
        control = control or RunControl()
        size_a, size_b = rgb_a.shape[:2], rgb_b.shape[:2]
        h, w = fit_longer_side(*size_a, self.conf["max_size"])
        h, w = max(h, MIN_GRID), max(w, MIN_GRID)  # DIS needs room for its patches
        with control.stage("resize", 0.0):
            gray_a = cv2.resize(
                cv2.cvtColor(rgb_a, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA
            )
            gray_b = cv2.resize(
                cv2.cvtColor(rgb_b, cv2.COLOR_RGB2GRAY), (w, h), interpolation=cv2.INTER_AREA
            )
        with control.stage("flow_ab", 0.05):
            flow_ab = self._flow(gray_a, gray_b)
        with control.stage("flow_ba", 0.4):
            flow_ba = self._flow(gray_b, gray_a)
        with control.stage("consistency", 0.75):
            grid = pixel_grid(h, w)
            fb_error_ab = _forward_backward_error(grid, flow_ab, flow_ba)
            fb_error_ba = _forward_backward_error(grid, flow_ba, flow_ab)
            grid_warp_ab, grid_cert_ab = self._grid_warp(grid + flow_ab, fb_error_ab, w, h)
            grid_warp_ba, grid_cert_ba = self._grid_warp(grid + flow_ba, fb_error_ba, w, h)
        with control.stage("upsample", 0.85):
            warp_ab, cert_ab = grid_to_original(grid_warp_ab, grid_cert_ab, size_a, size_b)
            warp_ba, cert_ba = grid_to_original(grid_warp_ba, grid_cert_ba, size_b, size_a)
        with control.stage("sample", 0.95):
            matches, match_cert = self._sample(warp_ab, cert_ab)
        return MatchResult(
            warp_ab=warp_ab,
            certainty_ab=cert_ab,
            warp_ba=warp_ba,
            certainty_ba=cert_ba,
            matches=matches,
            match_certainty=match_cert,
            grid_warp_ab=grid_warp_ab,
            grid_certainty_ab=grid_cert_ab,
            intermediates={
                "flow_ab": flow_ab,
                "flow_ba": flow_ba,
                "fb_error_ab": fb_error_ab.astype(np.float32),
            },
            intermediate_docs={
                "flow_ab": "(h, w, 2) DIS flow A->B on the working grid, working pixels",
                "flow_ba": "(h, w, 2) DIS flow B->A on the working grid, working pixels",
                "fb_error_ab": "(h, w) forward-backward error of A's pixels, working pixels",
            },
            provenance=Provenance(matcher=self.name, settings=dict(self.conf)),
        )

    def _grid_warp(self, target_px, fb_error, w, h):
        """Working-grid targets -> normalised warp (h, w, 2) and certainty (h, w)."""
        certainty = np.exp(-0.5 * (fb_error / self.conf["fb_sigma"]) ** 2)
        inside = (
            (target_px[..., 0] >= -0.5)
            & (target_px[..., 0] <= w - 0.5)
            & (target_px[..., 1] >= -0.5)
            & (target_px[..., 1] <= h - 0.5)
        )
        certainty = np.where(inside & np.isfinite(fb_error), certainty, 0.0).astype(np.float32)
        return pixel_to_normalized(target_px, w, h).astype(np.float32), certainty

    def _sample(self, warp, certainty):
        """Draw up to ``num_samples`` pixels of A with probability proportional to certainty."""
        weights = np.where(certainty >= self.conf["min_certainty"], certainty, 0.0).ravel()
        candidates = np.flatnonzero(weights)
        count = min(self.conf["num_samples"], candidates.size)
        if count == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        rng = np.random.default_rng(self.conf["seed"])
        p = weights[candidates] / weights[candidates].sum()
        chosen = rng.choice(candidates, size=count, replace=False, p=p)
        rows, cols = np.divmod(chosen, certainty.shape[1])
        matches = np.column_stack([cols, rows, warp[rows, cols]]).astype(np.float32)
        return matches, certainty[rows, cols].astype(np.float32)


def _forward_backward_error(grid, flow_fwd, flow_bwd):
    """(h, w) distance between each pixel and where the backward flow brings it back."""
    target = grid + flow_fwd
    back = cv2.remap(
        flow_bwd, target[..., 0], target[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.linalg.norm(target + back - grid, axis=-1)
