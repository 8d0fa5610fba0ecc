"""A synthetic symmetric RoMa-like result with every scale's intermediates, without a model (no
Qt): at each scale A's pixel (x, y) maps to B's (x + dx, y + dy) with that scale's shift, and
B's back by the opposite shift (plus ``back_error``), with a constant certainty per scale."""

from __future__ import annotations

import numpy as np

from core.coords import pixel_grid, pixel_to_normalized
from core.result import MatchResult, Provenance

H, W = 48, 64  # A and B
COARSE_SHIFT = (1.0, -1.0)  # the warp from the anchors alone
SHIFTS = {  # pixels of B, per scale (the final warp: FINAL_SHIFT)
    "coarse_s16": (2.0, 0.0),
    "coarse_s8": (3.0, 1.0),
    "coarse_s4": (4.0, 2.0),
    "coarse_s2": (5.0, 3.0),
    "coarse_s1": (5.0, 4.0),
    "upsample_s8": (6.0, 2.0),
    "upsample_s4": (6.0, 3.0),
    "upsample_s2": (6.0, 4.0),
    "upsample_s1": (6.0, 4.0),
}
FINAL_SHIFT = (6.0, 4.0)
CERTAINTY = {scale: 0.1 + 0.08 * index for index, scale in enumerate(SHIFTS)}
FINAL_CERTAINTY = 0.95


def shifted(height: int, width: int, shift: tuple[float, float]) -> np.ndarray:
    """(height, width, 2) normalised warp on a grid of that size: pixel (x, y) of an H x W image
    -> (x, y) + ``shift`` pixels of an equal-sized image."""
    scale = np.float32([W / width, H / height])  # grid cell -> pixels of the image
    pixels = (pixel_grid(height, width) + 0.5) * scale - 0.5 + np.float32(shift)
    return pixel_to_normalized(pixels, W, H).astype(np.float32)


def scale_result(symmetric: bool = True, back_error: tuple[float, float] = (0.0, 0.0)):
    """The result (A and B are H x W); the coarse pass's grids are half size, the upsample
    pass's full size, the anchors' a quarter."""
    grid = pixel_grid(H, W)
    directions = {"ab": 1.0, "ba": -1.0} if symmetric else {"ab": 1.0}
    intermediates = {}
    for direction, sign in directions.items():
        extra = np.float32(back_error) if direction == "ba" else np.float32([0, 0])
        coarse = np.float32(COARSE_SHIFT) * sign + extra
        intermediates[f"coarse_warp_{direction}"] = shifted(H // 4, W // 4, coarse)
        for scale, shift in SHIFTS.items():
            size = (H // 2, W // 2) if scale.startswith("coarse") else (H, W)
            warp = shifted(*size, np.float32(shift) * sign + extra)
            intermediates[f"{scale}_warp_{direction}"] = warp
            intermediates[f"{scale}_certainty_{direction}"] = np.full(
                size, CERTAINTY[scale], np.float32
            )
    ys, xs = np.mgrid[4:H:8, 4:W:8]
    xs, ys = xs.ravel().astype(np.float32), ys.ravel().astype(np.float32)
    dx, dy = FINAL_SHIFT
    certainty = np.full((H, W), FINAL_CERTAINTY, np.float32)
    back = (grid - np.float32(FINAL_SHIFT) + np.float32(back_error)) if symmetric else None
    return MatchResult(
        warp_ab=grid + np.float32(FINAL_SHIFT),
        certainty_ab=certainty,
        matches=np.column_stack([xs, ys, xs + dx, ys + dy]),
        match_certainty=np.full(xs.shape, FINAL_CERTAINTY, np.float32),
        warp_ba=back,
        certainty_ba=certainty.copy() if symmetric else None,
        intermediates=intermediates,
        provenance=Provenance(matcher="roma-outdoor", size_a=(H, W), size_b=(H, W)),
    )
