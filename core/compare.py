"""Two runs on the same pair compared: what the Compare dock shows (no Qt).

* :func:`warp_difference`: the end-point difference of two dense warps, per pixel of A, in pixels
  of B;
* :func:`certainty_difference`: run 1's certainty minus run 2's, per pixel of A;
* :func:`distance_to_warp`: for a sparse run against a dense one, how far each sparse match's B
  end lies from the dense warp at its A end (pixels of B), summarised by :func:`summarise`;
* :func:`shared_levels` and :func:`symmetric_levels`: one colour scale for both runs' errors, and
  one centred on 0 for differences;
* :func:`compare_probe`: both runs' answers at the probe's pixel of A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.bench.truth import GroundTruth
from core.probe import SNAP_RADIUS_PX, ProbeReading, read_probe
from core.result import MatchResult

WITHIN_PX = (1.0, 3.0, 5.0)
"""The distances (pixels of B) that :func:`summarise` counts matches within."""


def warp_difference(warp_1: np.ndarray, warp_2: np.ndarray) -> np.ndarray:
    """(H, W) float32 distance in pixels of B between two (H, W, 2) warps of A into B at every
    pixel of A; NaN where either has no match."""
    if warp_1.shape != warp_2.shape:
        raise ValueError(f"the warps differ in shape: {warp_1.shape} and {warp_2.shape}")
    delta = np.asarray(warp_1, np.float32) - np.asarray(warp_2, np.float32)
    return np.hypot(delta[..., 0], delta[..., 1])


def certainty_difference(certainty_1: np.ndarray, certainty_2: np.ndarray) -> np.ndarray:
    """(H, W) float32 ``certainty_1 - certainty_2`` in [-1, 1] (positive: run 1 is surer)."""
    if certainty_1.shape != certainty_2.shape:
        raise ValueError(
            f"the certainties differ in shape: {certainty_1.shape} and {certainty_2.shape}"
        )
    return np.asarray(certainty_1, np.float32) - np.asarray(certainty_2, np.float32)


def sample_warp(warp_ab: np.ndarray, points_a: np.ndarray) -> np.ndarray:
    """(N, 2) positions in B of (N, 2) points of A (pixel centres at integers), interpolated
    bilinearly in the (H, W, 2) warp; NaN outside A or next to a pixel without a match."""
    height, width = warp_ab.shape[:2]
    points = np.asarray(points_a, np.float64).reshape(-1, 2)
    x, y = points[:, 0], points[:, 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    x0 = np.clip(np.floor(x), 0, max(width - 2, 0)).astype(int)
    y0 = np.clip(np.floor(y), 0, max(height - 2, 0)).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    warp = np.asarray(warp_ab, np.float64)
    top = warp[y0, x0] * (1 - fx) + warp[y0, x1] * fx
    bottom = warp[y1, x0] * (1 - fx) + warp[y1, x1] * fx
    sampled = top * (1 - fy) + bottom * fy
    sampled[~inside] = np.nan
    return sampled


def distance_to_warp(matches: np.ndarray, warp_ab: np.ndarray) -> np.ndarray:
    """(N,) float32 distance in pixels of B from each match ``[xA, yA, xB, yB]`` of a sparse run
    to where the dense warp (H, W, 2) takes its A end; NaN where the warp has no answer."""
    matches = np.asarray(matches, np.float64).reshape(-1, 4)
    target = sample_warp(warp_ab, matches[:, :2])
    return np.linalg.norm(matches[:, 2:] - target, axis=1).astype(np.float32)


@dataclass(frozen=True)
class DistanceSummary:
    """Distances in pixels: how many are known (``count``, of ``total``), their median (NaN when
    none is) and the fraction of the known ones within each of ``WITHIN_PX``."""

    count: int
    total: int
    median: float
    within: dict[float, float]

    def text(self) -> str:
        """One line, e.g. "120 of 124 matches: median 1.31 px; within 1/3/5 px: 40/88/97%"."""
        if not self.count:
            return f"none of {self.total} matches has a dense answer to compare with"
        limits = "/".join(f"{v:g}" for v in self.within)
        shares = "/".join(f"{100 * share:.0f}" for share in self.within.values())
        return (
            f"{self.count} of {self.total} matches: median {self.median:.2f} px; "
            f"within {limits} px: {shares}%"
        )


def summarise(distances: np.ndarray) -> DistanceSummary:
    """The :class:`DistanceSummary` of (N,) distances in pixels (NaN = unknown)."""
    distances = np.asarray(distances, np.float64).ravel()
    known = distances[np.isfinite(distances)]
    if not known.size:
        return DistanceSummary(0, distances.size, float("nan"), {v: 0.0 for v in WITHIN_PX})
    within = {v: float(np.mean(known <= v)) for v in WITHIN_PX}
    return DistanceSummary(known.size, distances.size, float(np.median(known)), within)


def shared_levels(*values: np.ndarray | None, percentile: float = 95.0) -> tuple[float, float]:
    """One colour scale ``(0, high)`` for several maps of errors in pixels: ``high`` is the
    largest ``percentile`` of the finite values of any of them (at least 1 px), so both runs'
    errors read on the same scale and one far outlier does not wash out the rest."""
    highs = [
        float(np.percentile(finite, percentile))
        for array in values
        if array is not None and (finite := array[np.isfinite(array)]).size
    ]
    return 0.0, max([1.0, *highs])


def symmetric_levels(
    values: np.ndarray | None, percentile: float = 99.0, least: float = 0.05
) -> tuple[float, float]:
    """``(-m, m)`` for a diverging colour scale centred on 0: ``m`` is the ``percentile`` of the
    finite ``|values|``, at least ``least``."""
    if values is None:
        return -least, least
    finite = np.abs(values[np.isfinite(values)])
    high = float(np.percentile(finite, percentile)) if finite.size else 0.0
    return -max(high, least), max(high, least)


@dataclass(frozen=True)
class ProbeComparison:
    """Both runs' answers at one pixel of A: ``readings`` (run 1's, run 2's), ``distance``
    between their B pixels (NaN unless both have one) and each answer's error against the
    ground truth (NaN without truth or answer)."""

    readings: tuple[ProbeReading, ProbeReading]
    distance: float
    errors: tuple[float, float]


def compare_probe(
    result_1: MatchResult,
    result_2: MatchResult,
    xa: float,
    ya: float,
    snap_radius: float = SNAP_RADIUS_PX,
    truth: GroundTruth | None = None,
) -> ProbeComparison:
    """Read A's pixel (xa, ya) in both results as the probe does (:func:`read_probe`: a sparse
    run snaps to its nearest match within ``snap_radius``) and compare the answers."""
    readings = tuple(read_probe(result, xa, ya, snap_radius) for result in (result_1, result_2))
    first, second = readings
    distance = float(np.hypot(first.xb - second.xb, first.yb - second.yb))
    errors = tuple(
        truth.at_pixel(r.xa, r.ya, r.xb, r.yb).error
        if truth is not None and r.has_match
        else float("nan")
        for r in readings
    )
    return ProbeComparison(readings, distance, errors)
