"""The probe: what a clicked pixel of A corresponds to in B (or a pixel of B in A), and the
probes the user pinned."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.result import MatchResult


@dataclass(frozen=True)
class ProbeReading:
    """A clicked pixel and its correspondence (pixels, OpenCV convention).

    origin: the image clicked, "a" (xa, ya is the clicked pixel and xb, yb its answer in B) or
    "b" (xb, yb clicked, xa, ya the answer in A). source: "warp" when read from the dense warp
    at the pixel, "match" when the click snapped to the nearest sampled match (sparse
    matchers), "none" when there is no correspondence (the other image's pixel is NaN).
    """

    xa: float
    ya: float
    xb: float = float("nan")
    yb: float = float("nan")
    certainty: float = 0.0
    source: str = "none"
    origin: str = "a"
    covariance: tuple[float, float, float] | None = None  # (xx, xy, yy), answer's pixels^2

    @property
    def has_match(self) -> bool:
        return self.source != "none"

    @property
    def clicked(self) -> tuple[float, float]:
        """The clicked pixel (x, y), in the image named by ``origin``."""
        return (self.xa, self.ya) if self.origin == "a" else (self.xb, self.yb)


SNAP_RADIUS_PX = 12.0
"""How far (pixels of the clicked image) a probe snaps to a match when no zoom says otherwise."""
MAX_PINS = 8
PIN_COLOURS = (
    (255, 127, 14),  # orange
    (23, 190, 207),  # cyan
    (227, 119, 194),  # pink
    (240, 228, 66),  # yellow
    (31, 119, 180),  # blue
    (148, 103, 189),  # purple
    (188, 189, 34),  # olive
    (140, 86, 75),  # brown
)
"""RGB of the pinned probes: one qualitative palette, none of them the probe's red."""


@dataclass(frozen=True)
class PinnedProbe:
    """A probe the user pinned, with its colour (an index into ``PIN_COLOURS``) for life."""

    reading: ProbeReading
    colour: int

    @property
    def rgb(self) -> tuple[int, int, int]:
        return PIN_COLOURS[self.colour]


def read_probe(
    result: MatchResult, x: float, y: float, snap_radius: float = SNAP_RADIUS_PX
) -> ProbeReading:
    """The correspondence of A's pixel nearest to (x, y).

    Where the dense warp has a value there, that is the answer; otherwise (and always for a
    sparse result) the nearest match within ``snap_radius`` pixels of A is taken and the probe
    snaps to it. A view passes the radius that a fixed distance on screen covers at its zoom.
    """
    height, width = result.size_a
    col = int(np.clip(round(x), 0, max(width - 1, 0)))
    row = int(np.clip(round(y), 0, max(height - 1, 0)))
    target = None if result.warp_ab is None else result.warp_ab[row, col]
    if target is not None and np.all(np.isfinite(target)):
        return ProbeReading(
            float(col),
            float(row),
            float(target[0]),
            float(target[1]),
            float(result.certainty_ab[row, col]),
            "warp",
            covariance=_covariance_at(result.covariance_ab, row, col),
        )
    if result.num_matches:
        distance = np.hypot(result.matches[:, 0] - x, result.matches[:, 1] - y)
        nearest = int(np.argmin(distance))
        if distance[nearest] <= snap_radius:
            xa, ya, xb, yb = (float(v) for v in result.matches[nearest])
            return ProbeReading(xa, ya, xb, yb, float(result.match_certainty[nearest]), "match")
    return ProbeReading(float(col), float(row))


def read_probe_b(
    result: MatchResult, x: float, y: float, snap_radius: float = SNAP_RADIUS_PX
) -> ProbeReading:
    """The correspondence in A of B's pixel nearest to (x, y) (origin "b"), as `read_probe`
    from B: from ``warp_ba`` / ``certainty_ba`` where a symmetric result has them, else the
    match whose B end is nearest within ``snap_radius`` pixels of B (the probe snaps to it);
    with neither, source "none" and xa, ya NaN."""
    height, width = result.size_b
    col = int(np.clip(round(x), 0, max(width - 1, 0)))
    row = int(np.clip(round(y), 0, max(height - 1, 0)))
    target = None if result.warp_ba is None else result.warp_ba[row, col]
    if target is not None and np.all(np.isfinite(target)):
        certainty = float(result.certainty_ba[row, col])
        xa, ya = float(target[0]), float(target[1])
        covariance = _covariance_at(result.covariance_ba, row, col)
        return ProbeReading(xa, ya, float(col), float(row), certainty, "warp", "b", covariance)
    if result.num_matches:
        distance = np.hypot(result.matches[:, 2] - x, result.matches[:, 3] - y)
        nearest = int(np.argmin(distance))
        if distance[nearest] <= snap_radius:
            xa, ya, xb, yb = (float(v) for v in result.matches[nearest])
            certainty = float(result.match_certainty[nearest])
            return ProbeReading(xa, ya, xb, yb, certainty, "match", "b")
    nan = float("nan")
    return ProbeReading(nan, nan, float(col), float(row), origin="b")


def _covariance_at(covariance, row: int, col: int) -> tuple[float, float, float] | None:
    if covariance is None or not np.all(np.isfinite(covariance[row, col])):
        return None
    c = covariance[row, col]
    return float(c[0, 0]), float(c[0, 1]), float(c[1, 1])


def covariance_ellipse(covariance, sigma: float = 1.0, points: int = 65) -> np.ndarray:
    """(points, 2) offsets (x, y) in pixels of the ``sigma`` contour of a 2-D Gaussian with
    covariance ``(xx, xy, yy)`` (the first point repeated last, a closed polyline)."""
    xx, xy, yy = covariance
    values, vectors = np.linalg.eigh(np.array([[xx, xy], [xy, yy]], np.float64))
    angles = np.linspace(0.0, 2 * np.pi, points)
    circle = np.stack((np.cos(angles), np.sin(angles)), axis=-1)
    return sigma * (circle * np.sqrt(np.maximum(values, 0.0))) @ vectors.T


def uncertainty_maps(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 2, 2) covariances -> the standard deviation ``sqrt(trace / 2)`` in pixels and
    the anisotropy ``1 - l_min / l_max`` in [0, 1] of the eigenvalues, (H, W) each."""
    xx, xy, yy = covariance[..., 0, 0], covariance[..., 0, 1], covariance[..., 1, 1]
    half_trace = (xx + yy) / 2
    root = np.sqrt(np.maximum(((xx - yy) / 2) ** 2 + xy**2, 0.0))
    high, low = half_trace + root, np.maximum(half_trace - root, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        anisotropy = np.where(high > 0, 1.0 - low / high, 0.0)
    return np.sqrt(np.maximum(half_trace, 0.0)), anisotropy


def read_at(
    result: MatchResult, origin: str, x: float, y: float, snap_radius: float = SNAP_RADIUS_PX
) -> ProbeReading:
    """`read_probe` (``origin`` "a") or `read_probe_b` ("b") at pixel (x, y) of that image."""
    reader = read_probe if origin == "a" else read_probe_b
    return reader(result, x, y, snap_radius)


def anchor_distribution(
    result: MatchResult, x: float, y: float, direction: str = "ab"
) -> tuple[np.ndarray, tuple[int, int]]:
    """The decoder's anchor distribution for the coarse cell holding pixel (x, y).

    Reads ``intermediate anchor_logits_ab`` (``_ba`` with ``direction="ba"``, (x, y) then in
    B's pixels), kept by RoMa with ``intermediates=True``. Returns the probabilities as an
    (R, R) image over the other image (row = y; anchor cell centres at normalised
    ``-1 + (2 i + 1) / R``) summing to 1, and the (row, col) of the coarse cell.
    """
    key = f"anchor_logits_{direction}"
    if key not in result.intermediates:
        raise KeyError(f"no {key} in this result: run RoMa with intermediates on")
    logits = result.intermediates[key]
    grid_h, grid_w, count = logits.shape
    height, width = result.size_a if direction == "ab" else result.size_b
    col = int(np.clip((x + 0.5) / width * grid_w, 0, grid_w - 1))
    row = int(np.clip((y + 0.5) / height * grid_h, 0, grid_h - 1))
    cell = logits[row, col].astype(np.float64)
    probs = np.exp(cell - cell.max())
    side = round(np.sqrt(count))
    return (probs / probs.sum()).reshape(side, side).astype(np.float32), (row, col)
