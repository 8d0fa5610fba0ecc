"""A synthetic symmetric RoMa result with anchors and every refiner, without a model (no Qt).

A is 32 x 40, B 24 x 48; both have 2 x 2 coarse cells with 8 x 8 anchors over the other image.
Refiner step ``i`` (coarse s16 .. s1, then upsample s8 .. s1) warps a pixel to its own normalised
position plus ``OFFSETS[i]`` (``-OFFSETS[i]`` for B -> A) with certainty ``CERTAINTIES[i]``; the
final warp is the pixel plus ``SHIFT`` (minus it for B -> A).
"""

from __future__ import annotations

import numpy as np

from core.anchor_probe import REFINER_STEPS
from core.coords import normalized_grid, pixel_grid
from core.result import MatchResult

H_A, W_A = 32, 40
H_B, W_B = 24, 48
SIDE = 8  # anchors per side
SHIFT = np.float32([3.0, 2.0])
OFFSETS = [(0.02 * (i + 1), -0.01 * (i + 1)) for i in range(len(REFINER_STEPS))]
CERTAINTIES = [0.1 + 0.1 * i for i in range(len(REFINER_STEPS))]
PEAK_AB = (2, 5)  # A's cell (0, 0): one peak at this anchor (row, col), its 4 neighbours next
BIMODAL_AB = ((1, 1), (6, 6))  # A's cell (0, 1): two equal peaks
PEAK_BA = (4, 2)  # B's cell (0, 0)


def _logits(peak: tuple[int, int]) -> np.ndarray:
    """(2, 2, 64) float16 logits: cell (0, 0) peaks at ``peak`` (8, its neighbours 6), (0, 1)
    at the two ``BIMODAL_AB`` anchors (7 each), (1, 0) at anchor 0 (9), (1, 1) is flat (0)."""
    logits = np.zeros((2, 2, SIDE, SIDE), np.float32)
    row, col = peak
    logits[0, 0, row, col] = 8.0
    for dr, dc in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        logits[0, 0, row + dr, col + dc] = 6.0
    for row, col in BIMODAL_AB:
        logits[0, 1, row, col] = 7.0
    logits[1, 0, 0, 0] = 9.0
    return logits.reshape(2, 2, SIDE * SIDE).astype(np.float16)


def _refiners(direction: str, size_hw: tuple[int, int], upsample_hw: tuple[int, int]) -> dict:
    sign = 1.0 if direction == "ab" else -1.0
    arrays = {}
    for i, (stage, scale) in enumerate(REFINER_STEPS):
        base = size_hw if stage == "coarse" else upsample_hw
        h, w = (2, 2) if scale == 16 else (base[0] // scale, base[1] // scale)
        warp = normalized_grid(h, w) + sign * np.float32(OFFSETS[i])
        arrays[f"{stage}_s{scale}_warp_{direction}"] = warp
        arrays[f"{stage}_s{scale}_certainty_{direction}"] = np.full((h, w), CERTAINTIES[i])
    return arrays


def anchor_result(symmetric: bool = True, refiners: bool = True) -> MatchResult:
    """The result described above; ``symmetric=False`` drops B -> A, ``refiners=False`` keeps
    only the anchors."""
    intermediates = {"anchor_logits_ab": _logits(PEAK_AB)}
    if refiners:
        intermediates |= _refiners("ab", (H_A, W_A), (2 * H_A, 2 * W_A))
    result = MatchResult(
        warp_ab=pixel_grid(H_A, W_A) + SHIFT,
        certainty_ab=np.full((H_A, W_A), 0.95, np.float32),
        matches=np.float32([[10, 10, 13, 12]]),
        match_certainty=np.float32([0.95]),
        intermediates=intermediates,
    )
    if symmetric:
        intermediates["anchor_logits_ba"] = _logits(PEAK_BA)
        if refiners:
            intermediates |= _refiners("ba", (H_B, W_B), (2 * H_B, 2 * W_B))
        result.warp_ba = pixel_grid(H_B, W_B) - SHIFT
        result.certainty_ba = np.full((H_B, W_B), 0.85, np.float32)
    return result
