"""Pictures of results (no Qt): the CLI's ``matches.png`` (matplotlib, imported when drawn)
and the colour maps that the app's views share, so the command line and the window show the
same colours."""

from __future__ import annotations

import functools
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.coords import pixel_grid

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@functools.cache
def certainty_lut() -> np.ndarray:
    """(256, 3) uint8 RGB colours for certainty 0..1 (viridis: dark = unsure, yellow = sure);
    made once (views colour with it per probe) and read-only."""
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    lut = cv2.applyColorMap(ramp, cv2.COLORMAP_VIRIDIS)[:, 0, ::-1].copy()
    lut.setflags(write=False)
    return lut


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


_MARGIN_IN, _TITLE_IN, _BAR_IN, _LINE_IN = 0.05, 0.22, 0.34, 0.13
"""draw_matches' layout (inches): side margins, the titles' row, the colour bar's row (with its
tick labels) and each caption line's (7 pt)."""


def draw_matches(
    rgb_a: np.ndarray,
    rgb_b: np.ndarray,
    matches: np.ndarray,
    certainty: np.ndarray,
    threshold: float = 0.0,
    max_lines: int = 1000,
    names: tuple[str, str] = ("", ""),
    caption: str = "",
    width_in: float = 7.0,
    dpi: float = 200.0,
) -> Figure:
    """A paper figure (matplotlib, no pyplot): the pair side by side, B scaled to A's height,
    a line per match coloured by certainty, each image titled with its name and size, a
    certainty colour bar (0..1, the threshold marked) and a caption: ``caption``, then how many
    matches were drawn.

    matches: (N, 4) ``[xA, yA, xB, yB]`` pixels; certainty: (N,) in [0, 1]. Matches below
    ``threshold`` are left out; of the rest, at most ``max_lines`` evenly spread are drawn, the
    most certain on top. The figure is ``width_in`` inches wide and its images are downsampled
    to the pixels they cover at ``dpi``; :func:`save_figure` writes it as PNG, SVG or PDF.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    keep = np.flatnonzero(certainty >= threshold)
    summary = f"{keep.size} of {len(certainty)} matches with certainty ≥ {threshold:g}"
    if keep.size > max_lines:
        keep = keep[np.linspace(0, keep.size - 1, max_lines).round().astype(int)]
    keep = keep[np.argsort(certainty[keep], kind="stable")]
    summary += f", {keep.size} drawn"
    lines = textwrap.wrap(f"{caption}: {summary}" if caption else summary, int(width_in * 17))

    (height_a, width_a), (height_b, width_b) = rgb_a.shape[:2], rgb_b.shape[:2]
    scale_b = height_a / height_b
    offset_b = width_a * 1.02
    left_b, right_b = offset_b - 0.5 * scale_b, offset_b + (width_b - 0.5) * scale_b
    axes_in = width_in - 2 * _MARGIN_IN
    image_in = axes_in * height_a / (right_b + 0.5)
    footer_in = _BAR_IN + _LINE_IN * len(lines) + 0.04
    height_in = _TITLE_IN + image_in + footer_in
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    axes = figure.add_axes(
        (_MARGIN_IN / width_in, footer_in / height_in, axes_in / width_in, image_in / height_in)
    )
    axes.set_axis_off()
    pixels_per_unit = axes_in * dpi / (right_b + 0.5)
    bottom = height_a - 0.5
    axes.imshow(_fit(rgb_a, width_a * pixels_per_unit), extent=(-0.5, width_a - 0.5, bottom, -0.5))
    axes.imshow(
        _fit(rgb_b, width_b * scale_b * pixels_per_unit), extent=(left_b, right_b, bottom, -0.5)
    )
    axes.set(xlim=(-0.5, right_b), ylim=(bottom, -0.5))
    above = blended_transform_factory(axes.transData, axes.transAxes)
    for label, name, (height, width), centre in (
        ("A", names[0], (height_a, width_a), width_a / 2),
        ("B", names[1], (height_b, width_b), (left_b + right_b) / 2),
    ):
        title = f"{label}: {name}" if name else label
        axes.text(
            centre, 1.02, f"{title} ({width} × {height} px)", transform=above,
            ha="center", va="bottom", fontsize=8,
        )  # fmt: skip

    cmap = ListedColormap(certainty_lut() / 255.0, name="certainty")
    colours = cmap(np.clip(np.nan_to_num(certainty[keep]), 0.0, 1.0))
    segments = (matches[keep] * [1, 1, scale_b, scale_b] + [0, 0, offset_b, 0]).reshape(-1, 2, 2)
    axes.add_collection(LineCollection(segments, colors=colours, linewidths=0.5, alpha=0.9))
    ends = segments.reshape(-1, 2)
    axes.scatter(ends[:, 0], ends[:, 1], s=1.5, c=np.repeat(colours, 2, axis=0), linewidths=0)
    _certainty_bar(figure, cmap, threshold, (footer_in - 0.12) / height_in, 0.08 / height_in)
    figure.text(
        0.5, 0.04 / height_in, "\n".join(lines), ha="center", va="bottom", fontsize=7,
        linespacing=1.3,
    )  # fmt: skip
    return figure


def _certainty_bar(figure: Figure, cmap, threshold: float, top: float, height: float) -> None:
    """A horizontal colour bar of certainty 0..1 (figure fractions: its top edge and height),
    labelled "certainty", the threshold a black line."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = figure.add_axes((0.35, top - height, 0.3, height))
    figure.colorbar(ScalarMappable(Normalize(0.0, 1.0), cmap), cax=bar, orientation="horizontal")
    bar.tick_params(labelsize=7, length=2, pad=1)
    bar.axvline(threshold, color="black", linewidth=1.0)
    bar.text(-0.02, 0.5, "certainty", transform=bar.transAxes, ha="right", va="center", fontsize=7)


def save_figure(figure: Figure, path: str | os.PathLike, palette: bool = False) -> None:
    """Write ``figure`` as PNG, SVG or PDF by ``path``'s suffix, at the figure's DPI: text as
    text in SVG (``<text>`` elements) and TrueType fonts in PDF, so a paper's editor can edit
    them. ``palette``: store a PNG as a dithered 256-colour palette (for photographs: a third
    of the bytes of full colour; the dither's grain shows at 2x zoom)."""
    import matplotlib

    if not (palette and Path(path).suffix.lower() == ".png"):
        with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
            figure.savefig(path)
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    colours = rgb.quantize(256, method=Image.Quantize.FASTOCTREE)
    picture = rgb.quantize(palette=colours, dither=Image.Dither.FLOYDSTEINBERG)
    picture.save(path, dpi=(figure.dpi, figure.dpi), optimize=True)


def _fit(rgb: np.ndarray, width_px: float) -> np.ndarray:
    """``rgb`` downsampled (area averaging) to ``width_px`` columns, if it has more."""
    width = max(1, round(width_px))
    if width >= rgb.shape[1]:
        return rgb
    height = max(1, round(rgb.shape[0] * width / rgb.shape[1]))
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


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
