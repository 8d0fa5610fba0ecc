"""Two runs on the same pair compared: what the Compare dock shows (no Qt).

* :func:`warp_difference`: the end-point difference of two dense warps, per pixel of A, in pixels
  of B;
* :func:`certainty_difference`: run 1's certainty minus run 2's, per pixel of A;
* :func:`distance_to_warp`: for a sparse run against a dense one, how far each sparse match's B
  end lies from the dense warp at its A end (pixels of B), summarised by :func:`summarise`;
* :func:`shared_levels` and :func:`symmetric_levels`: one colour scale for both runs' errors, and
  one centred on 0 for differences;
* :func:`compare_probe`: both runs' answers at the probe's pixel of A;
* :func:`compare_runs`: all of it for two runs of the run store, as the Compare dock draws it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from core.bench.truth import GroundTruth
from core.probe import SNAP_RADIUS_PX, ProbeReading, read_probe
from core.result import MatchResult
from core.run_store import Run

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

    def text(self, items: str = "matches") -> str:
        """One line, e.g. "120 of 124 matches: median 1.31 px; within 1/3/5 px: 40/88/97%"."""
        if not self.count:
            return f"none of {self.total} {items} has an answer in both runs"
        limits = "/".join(f"{v:g}" for v in self.within)
        shares = "/".join(f"{100 * share:.0f}" for share in self.within.values())
        return (
            f"{self.count} of {self.total} {items}: median {self.median:.2f} px; "
            f"within {limits} px: {shares}%"
        )


def summarise(distances: np.ndarray) -> DistanceSummary:
    """The :class:`DistanceSummary` of (N,) distances in pixels (NaN = unknown)."""
    distances = np.asarray(distances, np.float32).ravel()  # float32: a 6 MP median in 0.1 s
    known = distances[np.isfinite(distances)]
    if not known.size:
        return DistanceSummary(0, distances.size, float("nan"), {v: 0.0 for v in WITHIN_PX})
    within = {v: np.count_nonzero(known <= v) / known.size for v in WITHIN_PX}
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
    """Both runs' answers at one pixel of A: ``readings`` (run 1's, run 2's), each answer's error
    against the ground truth (NaN without truth or answer), and ``distance``, how far apart in
    pixels of B the runs take one point of A, ``distance_at`` (x, y): the probed pixel, or the
    match a sparse run's answer snapped to (the dense run's warp read there); NaN and None
    when the runs answer for different points of A with no warp to read at the other's, or one
    has no answer."""

    readings: tuple[ProbeReading, ProbeReading]
    errors: tuple[float, float]
    distance: float = float("nan")
    distance_at: tuple[float, float] | None = None


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
    results = result_1, result_2
    readings = tuple(read_probe(result, xa, ya, snap_radius) for result in results)
    errors = tuple(
        truth.at_pixel(r.xa, r.ya, r.xb, r.yb).error
        if truth is not None and r.has_match
        else float("nan")
        for r in readings
    )
    comparison = ProbeComparison(readings, errors)
    first, second = readings
    if not (first.has_match and second.has_match):
        return comparison
    if np.hypot(first.xa - second.xa, first.ya - second.ya) < 0.5:
        distance = float(np.hypot(first.xb - second.xb, first.yb - second.yb))
        return dataclasses.replace(comparison, distance=distance, distance_at=(first.xa, first.ya))
    for match, other in ((first, result_2), (second, result_1)):
        if match.source == "match" and not other.is_sparse:
            target = sample_warp(other.warp_ab, [(match.xa, match.ya)])[0]
            distance = float(np.hypot(match.xb - target[0], match.yb - target[1]))
            if np.isfinite(distance):
                at = (match.xa, match.ya)
                return dataclasses.replace(comparison, distance=distance, distance_at=at)
    return comparison


@dataclass(frozen=True, eq=False)
class Comparison:
    """What differs between two runs on one pair (each field None where it does not apply).

    warp_difference: (H, W) px of B, :func:`warp_difference` of two dense runs.
    certainty_difference: (H, W) run 1 - run 2, of two dense runs.
    sparse_run: 1 or 2 for a sparse run against a dense one (the other), else 0.
    sparse_distances: (N,) px of B, :func:`distance_to_warp` of the sparse run's N matches.
    summary: the :class:`DistanceSummary` of ``sparse_distances``, or of ``warp_difference``
        over the pixels of A.
    error_levels: the colour scale of both runs' errors (:func:`shared_levels`) when both have
        errors against the ground truth.
    levels: the colour scale of each difference present, by field name (``shared_levels`` for
        distances, ``symmetric_levels`` for the certainty difference).
    """

    warp_difference: np.ndarray | None = None
    certainty_difference: np.ndarray | None = None
    sparse_run: int = 0
    sparse_distances: np.ndarray | None = None
    summary: DistanceSummary | None = None
    error_levels: tuple[float, float] | None = None
    levels: dict[str, tuple[float, float]] = field(default_factory=dict)


def compare_runs(run_1: Run, run_2: Run) -> Comparison:
    """The :class:`Comparison` of two runs on the same pair (two sparse runs: only errors)."""
    one, two = run_1.result, run_2.result
    fields, levels = {}, {}
    if not one.is_sparse and not two.is_sparse:
        epe = warp_difference(one.warp_ab, two.warp_ab)
        certainty = certainty_difference(one.certainty_ab, two.certainty_ab)
        fields.update(warp_difference=epe, certainty_difference=certainty, summary=summarise(epe))
        levels.update(warp_difference=shared_levels(epe))
        levels.update(certainty_difference=symmetric_levels(certainty))
    elif one.is_sparse != two.is_sparse:
        sparse, dense = (one, two) if one.is_sparse else (two, one)
        distances = distance_to_warp(sparse.matches, dense.warp_ab)
        fields.update(
            sparse_run=1 if one.is_sparse else 2,
            sparse_distances=distances,
            summary=summarise(distances),
        )
        levels.update(sparse_distances=shared_levels(distances))
    errors = [run.truth_errors for run in (run_1, run_2)]
    if all(e is not None for e in errors):
        maps = [e.matches if e.dense is None else e.dense for e in errors]
        fields["error_levels"] = shared_levels(*maps)
    return Comparison(**fields, levels=levels)
