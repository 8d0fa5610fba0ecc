"""The one place that owns coordinate conventions.

Pixel coordinates (everything Matchscope writes or shows) follow OpenCV: ``x`` to the right,
``y`` down, and the *centre* of the top-left pixel is ``(0, 0)``; a W-pixel wide image spans
``x`` in ``[-0.5, W - 0.5]``.

Normalised grid coordinates follow RoMa (and ``torch.nn.functional.grid_sample`` with
``align_corners=False``): the image spans ``[-1, 1]`` and pixel centres sit at
``-1 + 1/W, -1 + 3/W, ..., 1 - 1/W``.
"""

from __future__ import annotations

import numpy as np


def pixel_to_normalized(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(..., 2) pixel coordinates (OpenCV centres) -> (..., 2) normalised coordinates."""
    xy = np.asarray(xy, dtype=np.float64)
    size = np.array([width, height], dtype=np.float64)
    return (2.0 * xy + 1.0) / size - 1.0


def normalized_to_pixel(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(..., 2) normalised coordinates -> (..., 2) pixel coordinates (OpenCV centres)."""
    uv = np.asarray(uv, dtype=np.float64)
    size = np.array([width, height], dtype=np.float64)
    return ((uv + 1.0) * size - 1.0) / 2.0


def rescale_pixels(xy: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """Map (..., 2) pixel coordinates between two resolutions of the same image.

    Pixel centres map to pixel centres' continuous positions (the convention ``cv2.resize``
    uses), so ``x' = (x + 0.5) * W'/W - 0.5``.
    """
    xy = np.asarray(xy, dtype=np.float64)
    scale = np.array([to_hw[1] / from_hw[1], to_hw[0] / from_hw[0]], dtype=np.float64)
    return (xy + 0.5) * scale - 0.5


def pixel_grid(height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 pixel-centre coordinates ``[x, y]`` of every pixel."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def normalized_grid(height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 normalised coordinates of every pixel centre (RoMa's grid)."""
    return pixel_to_normalized(pixel_grid(height, width), width, height).astype(np.float32)


def fit_longer_side(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is at most ``max_side`` (no upscaling)."""
    if not max_side or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))
