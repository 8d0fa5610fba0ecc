"""The anchor inspector: what RoMa's decoder and refiners made of one probed pixel.

Reads the intermediates that RoMa keeps with ``intermediates=True`` (see ``_intermediates`` in
:mod:`core.matchers.roma`), for direction ``d`` in ``ab`` (a pixel of A, answers in B) or ``ba``
(symmetric runs):

- ``anchor_logits_d`` (h16, w16, R * R): the decoder's logits over an R x R grid of anchors over
  the other image; anchor ``k`` at column ``k % R``, row ``k // R``, its centre at normalised
  ``-1 + (2 i + 1) / R``;
- ``coarse_warp_d`` (h16, w16, 2): the warp from the anchors (:func:`coarse_estimate` is the
  same number, from the logits);
- ``{coarse,upsample}_s{S}_warp_d`` (h, w, 2) normalised and ``..._certainty_d`` (h, w) in
  [0, 1]: after each refiner.

RoMa v2 (:mod:`core.matchers.romav2`) keeps ``matching_logits_d`` (h16, w16, h16 * w16)
instead: the logits of each coarse cell over the other image's h16 x w16 cells (its images are
resized to the same size), whose softmax is the distribution its DPT head reads; its coarse
estimate is the head's ``coarse_warp_d`` (h4, w4, 2), and its refiners are
``pass{1,2}_s{4,2,1}_warp_d`` / ``..._certainty_d``. For v2, ``coarse_anchors`` holds the top
cell only.

Everything returned is in pixels of the image the distribution lies over (OpenCV centres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.coords import normalized_to_pixel
from core.result import MatchResult

MODE_RADIUS = 1
"""A mode's window is (2 r + 1)^2 anchors around its peak; its probability is the mass there."""
MAX_MODES = 5
REFINER_STEPS = (
    *(("coarse", scale) for scale in (16, 8, 4, 2, 1)),
    *(("upsample", scale) for scale in (8, 4, 2, 1)),
)
"""(stage, scale) of every refiner in the order RoMa runs them."""
V2_REFINER_STEPS = tuple((f"pass{p}", stride) for p in (1, 2) for stride in (4, 2, 1))
"""(stage, stride) of every refiner in the order RoMa v2 runs them."""
NEIGHBOURS = ("argmax", "left", "right", "up", "down")
"""The anchors of the coarse estimate: the argmax, then flattened index -1, +1, -R, +R."""


@dataclass(frozen=True)
class Anchor:
    """One anchor of the R x R grid: its (row, col), its centre in pixels and its probability
    (for a mode: the mass in its window)."""

    row: int
    col: int
    x: float
    y: float
    probability: float


@dataclass(frozen=True)
class PathStep:
    """Where the estimate for the probed pixel stood after one step, in pixels of the other
    image; ``certainty`` in [0, 1], NaN where the step has none (the anchors)."""

    stage: str  # "anchors", "coarse", "upsample" or "final"
    scale: int | None
    x: float
    y: float
    certainty: float

    @property
    def name(self) -> str:
        return self.stage if self.scale is None else f"{self.stage} s{self.scale}"


@dataclass(frozen=True)
class AnchorInspection:
    """The inspector's reading of one pixel (``direction`` "ab": a pixel of A, answers in B).

    probs: (R, R) float32 distribution of the pixel's coarse cell over the other image (row =
    y), summing to 1; cell: (row, col) of that cell in the h16 x w16 grid; modes: up to
    ``MAX_MODES``, most probable first; coarse_anchors: the 5 anchors of RoMa's coarse estimate
    (:data:`NEIGHBOURS`, clamped as RoMa clamps, so an edge argmax repeats); coarse: that
    estimate (x, y); path: the anchors step, every refiner kept, then the final match (the
    dense warp at the pixel rounded, as the probe reads it; left out where it is NaN).
    """

    direction: str
    x: float
    y: float
    probs: np.ndarray
    cell: tuple[int, int]
    modes: tuple[Anchor, ...]
    coarse_anchors: tuple[Anchor, ...]
    coarse: tuple[float, float]
    path: tuple[PathStep, ...]


def anchor_centres(side: int, size_hw: tuple[int, int], cols: int | None = None) -> np.ndarray:
    """(side * cols, 2) pixel (x, y) of every anchor's centre on a side x cols grid (square
    by default), anchor k at row k // cols."""
    cols = side if cols is None else cols
    ys = (2.0 * np.arange(side) + 1.0) / side - 1.0
    xs = (2.0 * np.arange(cols) + 1.0) / cols - 1.0
    uv = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1).reshape(-1, 2)
    return normalized_to_pixel(uv, size_hw[1], size_hw[0])


def _window(padded: np.ndarray, radius: int, reduce: np.ufunc) -> np.ndarray:
    """``reduce`` over every (2 r + 1)^2 window of an array padded by r on each side."""
    rows = padded.shape[0] - 2 * radius
    cols = padded.shape[1] - 2 * radius
    out = padded[:rows, :cols].copy()
    for dr in range(2 * radius + 1):
        for dc in range(2 * radius + 1):
            if dr or dc:
                reduce(out, padded[dr : dr + rows, dc : dc + cols], out=out)
    return out


def find_modes(probs: np.ndarray, radius: int = MODE_RADIUS, count: int = MAX_MODES) -> list:
    """Up to ``count`` modes of an (R, R) distribution as (row, col, mass), most mass first.

    A mode is a non-zero local maximum over its (2 r + 1)^2 window; taken strongest peak first, it
    suppresses weaker ones whose windows overlap its own (within 2 r), so the modes' masses
    (the sum over each window, clipped to the grid) never count an anchor twice.
    """
    peaks = _window(np.pad(probs, radius, constant_values=-np.inf), radius, np.maximum)
    masses = _window(np.pad(probs, radius), radius, np.add)
    rows, cols = np.nonzero((probs >= peaks) & (probs > 0))
    order = np.argsort(-probs[rows, cols], kind="stable")
    suppressed = np.zeros(probs.shape, bool)  # within 2 r of a mode kept so far
    kept: list[tuple[int, int]] = []
    for row, col in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if not suppressed[row, col]:
            kept.append((row, col))
            reach = 2 * radius
            suppressed[
                max(row - reach, 0) : row + reach + 1, max(col - reach, 0) : col + reach + 1
            ] = True
    modes = sorted(((r, c, float(masses[r, c])) for r, c in kept), key=lambda m: -m[2])
    return modes[:count]


def coarse_estimate(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RoMa's anchors -> warp step (``anchors_to_warp`` in :mod:`core.models.roma`) for one
    cell: logits (R * R,) -> (indices (5,), probabilities (5,), normalised (x, y) (2,)).

    Softmax in float32; the argmax and its flattened-index neighbours -1, +1, -R, +R clamped to
    [0, R * R - 1]; the estimate is their probability-weighted mean position.
    """
    count = logits.shape[-1]
    side = round(math.sqrt(count))
    values = logits.astype(np.float32)
    probs = np.exp(values - values.max())
    probs /= probs.sum()
    mode = int(probs.argmax())
    index = np.clip([mode, mode - 1, mode + 1, mode - side, mode + side], 0, count - 1)
    centres = (2.0 * np.stack((index % side, index // side), axis=-1) + 1.0) / side - 1.0
    weights = probs[index].astype(np.float64)
    return index, weights, (weights[:, None] * centres).sum(axis=0) / weights.sum()


def sample_at(grid: np.ndarray, x: float, y: float, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear value of an (h, w, ...) grid over an image of ``size_hw`` at its pixel (x, y),
    as ``cv2.resize`` (INTER_LINEAR) would give there: half-pixel centres, edges clamped."""
    h, w = grid.shape[:2]
    gx = min(max((x + 0.5) * w / size_hw[1] - 0.5, 0.0), w - 1.0)
    gy = min(max((y + 0.5) * h / size_hw[0] - 0.5, 0.0), h - 1.0)
    x0, y0 = int(gx), int(gy)
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = gx - x0, gy - y0
    g00, g01, g10, g11 = (
        np.float64(grid[r, c]) for r, c in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))
    )
    top = g00 * (1 - fx) + g01 * fx
    bottom = g10 * (1 - fx) + g11 * fx
    return top * (1 - fy) + bottom * fy


def logits_key(result: MatchResult | None, direction: str = "ab") -> str | None:
    """``anchor_logits_d`` (RoMa), ``matching_logits_d`` (RoMa v2), or None: neither kept."""
    if result is None:
        return None
    for key in (f"anchor_logits_{direction}", f"matching_logits_{direction}"):
        if key in result.intermediates:
            return key
    return None


def has_anchors(result: MatchResult | None, direction: str = "ab") -> bool:
    return logits_key(result, direction) is not None


def inspect_anchors(
    result: MatchResult,
    x: float,
    y: float,
    size_a: tuple[int, int],
    size_b: tuple[int, int],
    direction: str = "ab",
) -> AnchorInspection:
    """The inspector's reading at pixel (x, y) of A (of B for ``direction="ba"``); ``size_a``,
    ``size_b``: (H, W) of the images. Raises KeyError without ``anchor_logits_{direction}``."""
    key = logits_key(result, direction)
    if key is None:
        raise KeyError(f"no anchor_logits_{direction} in this result: run with intermediates on")
    v2 = key.startswith("matching")
    src_hw, dst_hw = (size_a, size_b) if direction == "ab" else (size_b, size_a)
    logits = result.intermediates[key]
    grid_h, grid_w, count = logits.shape
    rows, cols = (grid_h, grid_w) if v2 else (round(math.sqrt(count)),) * 2
    row = int(np.clip((y + 0.5) / src_hw[0] * grid_h, 0, grid_h - 1))
    col = int(np.clip((x + 0.5) / src_hw[1] * grid_w, 0, grid_w - 1))
    cell = logits[row, col].astype(np.float64)
    flat = np.exp(cell - cell.max())
    flat /= flat.sum()
    probs = flat.reshape(rows, cols)
    centres = anchor_centres(rows, dst_hw, cols)

    def anchor(k: int, probability: float) -> Anchor:
        return Anchor(k // cols, k % cols, *(float(v) for v in centres[k]), float(probability))

    modes = tuple(anchor(r * cols + c, mass) for r, c, mass in find_modes(probs))
    inter = result.intermediates
    if v2:  # the DPT head's estimate; the top cell stands for the anchors
        top = int(flat.argmax())
        index, weights = np.array([top]), flat[[top]]
        estimate = sample_at(inter[f"coarse_warp_{direction}"], x, y, src_hw)
        overlap = inter.get(f"coarse_overlap_{direction}")
        certainty = math.nan if overlap is None else float(sample_at(overlap, x, y, src_hw))
        steps, first_step = V2_REFINER_STEPS, ("matcher", 4)
    else:
        index, weights, estimate = coarse_estimate(logits[row, col])
        certainty, steps, first_step = math.nan, REFINER_STEPS, ("anchors", 16)
    coarse = tuple(float(v) for v in normalized_to_pixel(estimate, dst_hw[1], dst_hw[0]))
    first = PathStep(*first_step, *coarse, certainty)
    path = [first]
    for stage, scale in steps:
        warp = inter.get(f"{stage}_s{scale}_warp_{direction}")
        if warp is None:
            continue
        xy = normalized_to_pixel(sample_at(warp, x, y, src_hw), dst_hw[1], dst_hw[0])
        certainty = inter.get(f"{stage}_s{scale}_certainty_{direction}")
        c = math.nan if certainty is None else float(sample_at(certainty, x, y, src_hw))
        path.append(PathStep(stage, scale, float(xy[0]), float(xy[1]), c))
    final = result.warp_ab if direction == "ab" else result.warp_ba
    final_certainty = result.certainty_ab if direction == "ab" else result.certainty_ba
    if final is not None:
        r = int(np.clip(round(y), 0, final.shape[0] - 1))
        c = int(np.clip(round(x), 0, final.shape[1] - 1))
        fx, fy = (float(v) for v in final[r, c])
        if math.isfinite(fx) and math.isfinite(fy):  # NaN: no match there
            path.append(PathStep("final", None, fx, fy, float(final_certainty[r, c])))
    return AnchorInspection(
        direction=direction,
        x=float(x),
        y=float(y),
        probs=probs.astype(np.float32),
        cell=(row, col),
        modes=modes,
        coarse_anchors=tuple(anchor(int(k), p) for k, p in zip(index, weights, strict=True)),
        coarse=coarse,
        path=tuple(path),
    )
