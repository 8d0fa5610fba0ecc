"""Pictures of results drawn with OpenCV (no Qt): the CLI's ``matches.png`` and the colour maps
that the app's views share, so the command line and the window show the same colours."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.coords import pixel_grid


def certainty_lut() -> np.ndarray:
    """(256, 3) uint8 RGB colours for certainty 0..1 (viridis: dark = unsure, yellow = sure)."""
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    return cv2.applyColorMap(ramp, cv2.COLORMAP_VIRIDIS)[:, 0, ::-1].copy()


ERROR_SCALE_PX = 10.0
"""True errors are coloured from 0 px (green) to this many px and above (red)."""
_ERROR_ANCHORS = np.array(
    [[0, 104, 55], [102, 189, 99], [255, 255, 191], [253, 174, 97], [215, 48, 39], [165, 0, 38]],
    np.float64,
)


def error_lut() -> np.ndarray:
    """(256, 3) uint8 RGB colours for a true error of 0..``ERROR_SCALE_PX`` (green = right,
    yellow, red = wrong; a diverging ramp that stays readable over photos)."""
    positions = np.linspace(0.0, 1.0, len(_ERROR_ANCHORS))
    ramp = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(ramp, positions, _ERROR_ANCHORS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


def certainty_colors(certainty: np.ndarray) -> np.ndarray:
    """(N,) certainty in [0, 1] -> (N, 3) uint8 RGB."""
    index = np.clip(np.nan_to_num(certainty) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return certainty_lut()[index]


def side_by_side(rgb_a: np.ndarray, rgb_b: np.ndarray, gap: int = 10) -> tuple[np.ndarray, int]:
    """A and B on one white canvas; returns the canvas and B's x offset."""
    height = max(rgb_a.shape[0], rgb_b.shape[0])
    offset = rgb_a.shape[1] + gap
    canvas = np.full((height, offset + rgb_b.shape[1], 3), 255, np.uint8)
    canvas[: rgb_a.shape[0], : rgb_a.shape[1]] = rgb_a
    canvas[: rgb_b.shape[0], offset:] = rgb_b
    return canvas, offset


def draw_matches(
    rgb_a: np.ndarray,
    rgb_b: np.ndarray,
    matches: np.ndarray,
    certainty: np.ndarray,
    threshold: float = 0.0,
    max_lines: int = 1000,
    title: str = "",
) -> np.ndarray:
    """The pair side by side with a line per match coloured by certainty.

    matches: (N, 4) ``[xA, yA, xB, yB]`` pixels; certainty: (N,) in [0, 1]. Matches below
    ``threshold`` are left out; of the rest, at most ``max_lines`` evenly spread are drawn, the
    most certain on top. A colour bar and ``title`` go in a strip under the images.
    """
    canvas, offset = side_by_side(rgb_a, rgb_b)
    keep = np.flatnonzero(certainty >= threshold)
    passing = keep.size
    if keep.size > max_lines:
        keep = keep[np.linspace(0, keep.size - 1, max_lines).round().astype(int)]
    keep = keep[np.argsort(certainty[keep])]
    colors = certainty_colors(certainty[keep])
    thickness = max(1, round(canvas.shape[1] / 1500))
    shift = 4  # sub-pixel line ends
    ends = np.round((matches[keep] + [0.0, 0.0, offset, 0.0]) * (1 << shift)).astype(np.int64)
    for (xa, ya, xb, yb), color in zip(ends, colors, strict=True):
        rgb = tuple(int(v) for v in color)
        cv2.line(canvas, (xa, ya), (xb, yb), rgb, thickness, cv2.LINE_AA, shift)
        cv2.circle(canvas, (xa, ya), (thickness + 1) << shift, rgb, -1, cv2.LINE_AA, shift)
        cv2.circle(canvas, (xb, yb), (thickness + 1) << shift, rgb, -1, cv2.LINE_AA, shift)
    caption = (
        f"{title}  {passing} of {len(certainty)} matches with certainty >= {threshold:g}"
        f" ({keep.size} drawn)"
    )
    return np.concatenate([canvas, _colorbar_strip(canvas.shape[1], caption.strip())], axis=0)


def draw_keypoints(rgb: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: ``rgb`` with each (K, 2) keypoint as a dot coloured by the rank of
    its score (viridis: dark = the lowest, yellow = the highest; ranks stay readable where a few
    scores dwarf the rest, as SIFT's responses do)."""
    canvas = np.ascontiguousarray(rgb.copy())
    if len(keypoints) == 0:
        return canvas
    rank = np.argsort(np.argsort(np.asarray(scores), kind="stable"), kind="stable")
    colours = certainty_colors(rank / max(len(rank) - 1, 1))
    radius = max(2, round(max(rgb.shape[:2]) / 400))
    for (x, y), colour in zip(np.round(keypoints).astype(int), colours, strict=True):
        cv2.circle(canvas, (int(x), int(y)), radius, tuple(int(c) for c in colour), -1, cv2.LINE_AA)
    return canvas


def _colorbar_strip(width: int, caption: str, height: int = 28) -> np.ndarray:
    """A white strip: "certainty 0 [colour bar] 1" and the caption."""
    strip = np.full((height, width, 3), 255, np.uint8)
    font, black = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0)
    baseline = height - 9
    cv2.putText(strip, "certainty 0", (6, baseline), font, 0.4, black, 1, cv2.LINE_AA)
    bar_x, bar_width = 90, min(200, width // 4, width - 94)
    if bar_width > 0:
        bar = cv2.resize(certainty_lut()[None], (bar_width, height - 12))
        strip[6 : height - 6, bar_x : bar_x + bar_width] = bar
    cv2.putText(
        strip, f"1   {caption}", (bar_x + bar_width + 4, baseline), font, 0.4, black, 1, cv2.LINE_AA
    )
    return strip


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """(H, W, 2) displacement -> (H, W, 3) uint8 colour wheel: hue = direction, saturation =
    magnitude relative to ``max_magnitude`` (default: the 99th percentile). NaN -> black."""
    valid = np.all(np.isfinite(flow), axis=-1)
    dx = np.where(valid, flow[..., 0], 0.0).astype(np.float32)
    dy = np.where(valid, flow[..., 1], 0.0).astype(np.float32)
    magnitude, angle = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    if max_magnitude is None:
        max_magnitude = float(np.percentile(magnitude[valid], 99)) if valid.any() else 1.0
    hsv = np.zeros((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = (angle / 2.0).astype(np.uint8)
    hsv[..., 1] = np.clip(magnitude / max(max_magnitude, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    hsv[..., 2] = np.where(valid, 255, 0).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def displacement(warp_ab: np.ndarray) -> np.ndarray:
    """(H, W, 2) warp into B's pixels -> displacement from each A pixel (NaN kept)."""
    return warp_ab - pixel_grid(*warp_ab.shape[:2])


@dataclass(frozen=True, eq=False)
class WarpPictures:
    """What the app's Warp view shows of a dense warp (made in the worker: a few seconds for
    tens of megapixels).

    flow_rgb: (H_A, W_A, 3) uint8 flow colours of the displacement, full saturation at
        ``scale_px`` (its 99th percentile length).
    warped_b: (H_A, W_A, 3) uint8 B sampled at each A pixel's correspondence, black where none.
    """

    flow_rgb: np.ndarray
    scale_px: float
    warped_b: np.ndarray


def warp_pictures(rgb_b: np.ndarray, warp_ab: np.ndarray) -> WarpPictures:
    """The flow colours and B warped onto A of a (H_A, W_A, 2) warp into B's pixels."""
    flow = displacement(warp_ab)
    length = np.linalg.norm(flow, axis=-1)
    finite = length[np.isfinite(length)]
    scale = max(float(np.percentile(finite, 99)), 1e-6) if finite.size else 1.0
    flow_rgb = flow_to_rgb(flow, max_magnitude=scale)
    return WarpPictures(flow_rgb, scale, warp_b_onto_a(rgb_b, warp_ab))


def warp_b_onto_a(rgb_b: np.ndarray, warp_ab: np.ndarray) -> np.ndarray:
    """(H_A, W_A, 3) image of B sampled at each A pixel's correspondence; black where none."""
    valid = np.all(np.isfinite(warp_ab), axis=-1)
    map_x = np.where(valid, warp_ab[..., 0], -10.0).astype(np.float32)
    map_y = np.where(valid, warp_ab[..., 1], -10.0).astype(np.float32)
    return cv2.remap(
        rgb_b, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
