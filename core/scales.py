"""Every scale of a dense result: the warp and certainty after each of RoMa's refiners, the coarse
warp from the anchors alone, the forward-backward consistency, and A's grid deformed into B.

A **scale** is named by its intermediates' prefix: ``"coarse_s16"`` .. ``"coarse_s1"`` (the
coarse pass's refiners at scales 16, 8, 4, 2, 1), ``"upsample_s8"`` .. ``"upsample_s1"`` (the
upsample pass's), ``"pass1_s4"`` .. ``"pass2_s1"`` (RoMa v2's refiners at strides 4, 2, 1 of
its two passes), or :data:`FINAL` (the result's own ``warp_ab`` / ``certainty_ab``). RoMa
(:mod:`core.matchers.roma`) keeps, with intermediates on,

- ``{scale}_warp_{dir}``: (h, w, 2) warp on its internal grid, normalised coordinates;
- ``{scale}_certainty_{dir}``: (h, w) sigmoid of the accumulated certainty logit;
- ``coarse_warp_{dir}``: (h16, w16, 2) warp from the anchors, normalised coordinates;

with ``dir`` ``"ab"``, and ``"ba"`` for a symmetric run. Everything here is brought to the
source image's original size and the other image's pixels with
:func:`core.matchers.base.grid_to_original`, as the final warp is. No Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from core.coords import pixel_grid
from core.matchers.base import grid_to_original
from core.result import MatchResult

FINAL = "final"
STAGES = ("coarse", "upsample", "pass1", "pass2")  # the passes, in the order they run
GRID_STEP_PX = 32
"""A's grid lines (drawn deformed over B) are this many pixels of A apart."""
GRID_SAMPLE_PX = 4
"""Each grid line is sampled every this many pixels of A."""
_SCALE_KEY = re.compile(r"^(coarse|upsample|pass1|pass2)_s(\d+)_warp_ab$")


def result_scales(result: MatchResult | None) -> list[str]:
    """The scales ``result`` can show, in the order the refiners run, then :data:`FINAL`; []
    for a sparse result (or None)."""
    if result is None or result.is_sparse:
        return []
    found = [_SCALE_KEY.match(key) for key in result.intermediates]
    found = [m for m in found if m and f"{m[1]}_s{m[2]}_certainty_ab" in result.intermediates]
    found.sort(key=lambda m: (STAGES.index(m[1]), -int(m[2])))
    return [f"{m[1]}_s{m[2]}" for m in found] + [FINAL]


def scale_label(scale: str) -> str:
    """``"coarse_s16"`` -> ``"coarse pass, scale 16"``; ``"final"`` -> ``"final"``."""
    if scale == FINAL:
        return FINAL
    stage, size = scale.split("_s")
    if stage.startswith("pass"):  # RoMa v2
        return f"pass {stage[4:]}, stride {size}"
    return f"{stage} pass, scale {size}"


def is_symmetric(result: MatchResult, scale: str = FINAL) -> bool:
    """Whether ``result`` has the B->A warp at ``scale`` too."""
    if scale == FINAL:
        return result.warp_ba is not None
    return f"{scale}_warp_ba" in result.intermediates


def _sizes(result: MatchResult, direction: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(H, W) of the source and of the target image of ``direction`` ("ab" or "ba")."""
    if direction not in ("ab", "ba"):
        raise ValueError(f"direction is 'ab' or 'ba', not {direction!r}")
    sizes = (result.size_a, result.size_b)
    return sizes if direction == "ab" else sizes[::-1]


def scale_warp(
    result: MatchResult, scale: str, direction: str = "ab"
) -> tuple[np.ndarray, np.ndarray] | None:
    """The warp and certainty at ``scale`` in ``direction``: (H, W, 2) float32 positions in the
    other image's original pixels (NaN where certainty is 0) and (H, W) float32 certainty in
    [0, 1], at the source image's original (H, W); None when the result lacks them."""
    if scale == FINAL:
        warp, certainty = (
            (result.warp_ab, result.certainty_ab)
            if direction == "ab"
            else (result.warp_ba, result.certainty_ba)
        )
        return None if warp is None else (warp, certainty)
    warp = result.intermediates.get(f"{scale}_warp_{direction}")
    certainty = result.intermediates.get(f"{scale}_certainty_{direction}")
    if warp is None or certainty is None:
        return None
    source, target = _sizes(result, direction)
    return grid_to_original(
        np.asarray(warp, np.float32), np.asarray(certainty, np.float32), source, target
    )


def coarse_warp(result: MatchResult, direction: str = "ab") -> np.ndarray | None:
    """The warp from the anchors alone (before any refiner): (H, W, 2) float32 positions in the
    other image's original pixels at the source image's original (H, W); None without it."""
    grid = result.intermediates.get(f"coarse_warp_{direction}")
    if grid is None:
        return None
    source, target = _sizes(result, direction)
    grid = np.asarray(grid, np.float32)
    return grid_to_original(grid, np.ones(grid.shape[:2], np.float32), source, target)[0]


def consistency(warp_ab: np.ndarray, warp_ba: np.ndarray) -> np.ndarray:
    """Forward-backward consistency ``|warp_ba(warp_ab(x)) - x|`` for every pixel x of A.

    Args:
        warp_ab: (H_A, W_A, 2) positions in B's pixels (NaN: none).
        warp_ba: (H_B, W_B, 2) positions in A's pixels (NaN: none).

    Returns:
        (H_A, W_A) float32 distance in pixels of A; NaN where ``warp_ab`` has no match, leaves B
        (outside ``[-0.5, W_B - 0.5] x [-0.5, H_B - 0.5]``) or where the bilinear lookup of
        ``warp_ba`` (at 1/32 pixel steps) gives weight to a pixel of B without a warp.
    """
    height_b, width_b = warp_ba.shape[:2]
    map_x = np.ascontiguousarray(warp_ab[..., 0], np.float32)
    map_y = np.ascontiguousarray(warp_ab[..., 1], np.float32)
    inside = (
        (map_x >= -0.5) & (map_x <= width_b - 0.5) & (map_y >= -0.5) & (map_y <= height_b - 0.5)
    )
    known = np.all(np.isfinite(warp_ba), axis=-1)
    # warp_ba (0 where unknown) and how much of the lookup's weight fell on known pixels
    layers = np.dstack([np.where(known[..., None], warp_ba, 0.0), known]).astype(np.float32)
    looked_up = cv2.remap(
        layers,
        np.where(inside, map_x, 0.0).astype(np.float32),
        np.where(inside, map_y, 0.0).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    distance = np.linalg.norm(looked_up[..., :2] - pixel_grid(*warp_ab.shape[:2]), axis=-1)
    valid = inside & (looked_up[..., 2] > 1.0 - 1e-3)
    return np.where(valid, distance, np.nan).astype(np.float32)


def deformed_grid(
    warp: np.ndarray,
    certainty: np.ndarray,
    threshold: float = 0.0,
    step: int = GRID_STEP_PX,
    sample: int = GRID_SAMPLE_PX,
) -> np.ndarray:
    """A's grid lines (rows and columns every ``step`` pixels of A, sampled every ``sample``
    pixels along each line) mapped through ``warp``.

    Args:
        warp: (H, W, 2) positions in the other image's pixels (NaN: none).
        certainty: (H, W) certainty in [0, 1].
        threshold: points with certainty below it are left out.

    Returns:
        (N, 2) float32 points in the other image's pixels: the rows, then the columns, each line
        followed by a NaN row; left-out points are NaN too, so a curve drawn with
        ``connect="finite"`` breaks there.
    """
    height, width = certainty.shape
    lines = []
    for along, across, row_major in ((width, height, True), (height, width, False)):
        positions = np.unique(np.r_[np.arange(0, along, sample), along - 1])
        for line in range(0, across, step):
            rows, cols = (np.full_like(positions, line), positions)
            if not row_major:
                rows, cols = cols, rows
            points = np.array(warp[rows, cols], np.float32)
            points[certainty[rows, cols] < threshold] = np.nan
            lines += [points, np.full((1, 2), np.nan, np.float32)]
    return np.concatenate(lines) if lines else np.zeros((0, 2), np.float32)


@dataclass(frozen=True, eq=False)
class ScaleMaps:
    """What the Certainty and Warp docks show of one scale (A->B, at A's original size).

    warp: (H_A, W_A, 2) float32 positions in B's pixels, NaN where there is none.
    certainty: (H_A, W_A) float32 in [0, 1].
    coarse_warp: (H_A, W_A, 2) float32 warp from the anchors alone, or None without it.
    warp_ba: (H_B, W_B, 2) float32 B->A warp at this scale in A's pixels, or None when the
        result is not symmetric.
    """

    scale: str
    warp: np.ndarray
    certainty: np.ndarray
    coarse_warp: np.ndarray | None
    warp_ba: np.ndarray | None

    @cached_property
    def consistency(self) -> np.ndarray | None:
        """(H_A, W_A) float32 forward-backward distance in pixels of A (:func:`consistency`),
        made when first asked for (about a second for tens of megapixels); None when the
        result has no B->A warp at this scale."""
        return None if self.warp_ba is None else consistency(self.warp, self.warp_ba)


def scale_maps(result: MatchResult, scale: str) -> ScaleMaps | None:
    """The maps of ``scale`` (one of :func:`result_scales`); None when ``result`` lacks it."""
    forward = scale_warp(result, scale, "ab")
    if forward is None:
        return None
    backward = scale_warp(result, scale, "ba")
    return ScaleMaps(
        scale, *forward, coarse_warp(result, "ab"), None if backward is None else backward[0]
    )
