""" "Export figure" (no Qt): the chosen views of a result for the current probe composed into one
paper figure (matplotlib, no pyplot), with colour bars, titled panels (a), (b)..., the probe
marked in every panel and a caption line with the matcher and its non-default settings.

Everything is read from the :class:`MatchResult`, the two images, the probe and the errors
against the ground truth; no model runs. Panels (:data:`PANELS`):

=============  ======================================================  ======================
key            shows                                                    needs
=============  ======================================================  ======================
matches        A and B side by side, a line per match (by certainty)    any result
a, b           image A with the probe; B with the probe's match and     any result
               the matches' ends (by certainty)
certainty      certainty of A's warp, 0..1 (a sparse result: its        any result
               matches as dots)
warp           flow colours of A's warp (hue = direction) and a wheel   a dense result
error          true error in px, 0..``ERROR_SCALE_PX`` (dots: sparse)   ground truth
anchors        the probed cell's anchor distribution over B             ``anchor_logits_ab``
attention_a/b  CLS -> patch attention at a block and head               ``attention_a``/``_b``
similarity_a/b cosine similarity of the probe's patch token             ``backbone_a``/``_b``
pca_a/b        the first 3 PCA components of A's and B's tokens (RGB)   ``backbone_a``/``_b``
=============  ======================================================  ======================
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import MatchscopeError
from core.figures import (
    ERROR_SCALE_PX,
    _fit,
    certainty_lut,
    error_lut,
    flow_to_rgb,
    save_figure,
    warp_pictures,
)
from core.probe import ProbeReading, anchor_distribution
from core.result import MatchResult
from core.tokens import cosine_similarity, patch_cell, pca_rgb, unit_tokens

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colorbar import Colorbar
    from matplotlib.figure import Figure

    from core.bench.truth import ResultErrors

PANELS = {
    "matches": "matches (A and B)",
    "a": "image A",
    "b": "image B",
    "certainty": "certainty",
    "warp": "warp (flow colours)",
    "error": "true error",
    "anchors": "anchor distribution",
    "attention_a": "CLS attention of A",
    "attention_b": "CLS attention of B",
    "similarity_a": "token similarity in A",
    "similarity_b": "token similarity in B",
    "pca_a": "token PCA of A",
    "pca_b": "token PCA of B",
}
"""Panel key -> its name in the dialog, in the order the figure shows them."""

DEFAULT_PANELS = ("matches", "certainty", "warp", "error", "anchors", "attention_a", "similarity_b")
"""The panels a figure shows when none are chosen (those the result has)."""

FORMATS = ("png", "svg", "pdf")
WIDTH_RANGE_IN = (2.0, 20.0)  # a single column is 3.5 in, a double one 7.0
DPI_RANGE = (30, 2400)
FONT_PT, TITLE_PT = 7.0, 7.5
PROBE_GID = "probe"  # the gid of the probe's marker in every panel
PROBE_COLOUR = "#ff2d6f"
_MARGIN, _GAP, _TITLE_LINE, _BAR, _ROW_GAP, _LINE = 0.06, 0.12, 0.115, 0.36, 0.04, 0.13
"""Layout in inches: side margins, the gap between columns, a line of a title, the colour bar
row (bar, tick labels and label), the gap between rows and a caption line."""
_SKIP_IN_CAPTION = ("intermediates", "settings_dir", "download")
_PATH_SETTINGS = ("roma_weights", "dino_weights", "detector_weights", "matcher_weights")
_MAX_LINES = 300  # match lines drawn in the matches panel (4 times as many dots in B's)


@dataclass
class FigureInputs:
    """What a figure is made of. ``probe`` None: no marker; ``errors``: the result against the
    ground truth (its name ``error_name``); ``threshold``: the matches drawn have at least this
    certainty; ``block``/``head``: the attention shown (None: the run's ``attention_block`` /
    ``attention_head``; -1: the last block, the mean of the heads)."""

    result: MatchResult
    rgb_a: np.ndarray
    rgb_b: np.ndarray
    probe: ProbeReading | None = None
    errors: ResultErrors | None = None
    error_name: str = "true error"
    names: tuple[str, str] = ("", "")
    threshold: float = 0.0
    block: int | None = None
    head: int | None = None

    @property
    def size_a(self) -> tuple[int, int]:
        return self.rgb_a.shape[:2]

    @property
    def size_b(self) -> tuple[int, int]:
        return self.rgb_b.shape[:2]


@dataclass
class ComposedFigure:
    """A composed figure: ``panels`` {key: its axes} in order, ``colorbars`` {key: its colour
    bar} for the panels that have one, and the ``caption`` under it."""

    figure: Figure
    panels: dict[str, Axes] = field(default_factory=dict)
    colorbars: dict[str, Colorbar] = field(default_factory=dict)
    caption: str = ""


def _needs(inputs: FigureInputs) -> dict[str, str | None]:
    """{panel: None when the inputs have its data, else what it needs}."""
    result, found = inputs.result, inputs.result.intermediates
    tokens = "backbone_a" in found and "backbone_b" in found
    probe = inputs.probe is not None
    dense = "a dense result (a warp)"
    needs = {key: None for key in ("matches", "a", "b", "certainty")}
    needs["warp"] = None if not result.is_sparse else dense
    needs["error"] = None if inputs.errors is not None else "ground truth (a benchmark's pair)"
    needs["anchors"] = (
        None
        if "anchor_logits_ab" in found and probe
        else "intermediate anchor_logits_ab (RoMa with intermediates) and a probe"
    )
    for side in "ab":
        key = f"attention_{side}"
        needs[key] = None if key in found else f"intermediate {key} (RoMa with intermediates)"
        needs[f"similarity_{side}"] = (
            None if tokens and probe else "intermediates backbone_a/_b (RoMa) and a probe"
        )
        needs[f"pca_{side}"] = None if tokens else "intermediates backbone_a/_b (RoMa)"
    return needs


def available_panels(inputs: FigureInputs) -> list[str]:
    """The panels (keys of :data:`PANELS`) whose data the inputs have, in figure order."""
    needs = _needs(inputs)
    return [key for key in PANELS if needs[key] is None]


def check_panels(inputs: FigureInputs, panels: list[str] | tuple[str, ...]) -> list[str]:
    """``panels`` in figure order; MatchscopeError naming an unknown or missing one."""
    needs = _needs(inputs)
    for key in panels:
        if key not in PANELS:
            raise MatchscopeError(f"unknown figure panel {key!r}; panels: {', '.join(PANELS)}")
        if needs[key] is not None:
            offered = ", ".join(available_panels(inputs))
            raise MatchscopeError(
                f"figure panel {key!r} needs {needs[key]}; this result offers: {offered}"
            )
    if not panels:
        raise MatchscopeError("choose at least one figure panel")
    return [key for key in PANELS if key in panels]


def figure_caption(inputs: FigureInputs) -> str:
    """``Matcher: NAME (key=value, ...)``: the settings that differ from the matcher's defaults
    (all given ones for a plugin), then the probe and what it reads."""
    provenance = inputs.result.provenance
    name = provenance.matcher or "unknown matcher"
    defaults: dict = {}
    try:
        from core.matchers import BUILTIN_MATCHERS, matcher_class

        if name in BUILTIN_MATCHERS:
            defaults = matcher_class(name).default_conf
    except MatchscopeError:  # an uninstalled package: every setting is shown
        pass
    changed = []
    for key, value in provenance.settings.items():
        if key in _SKIP_IN_CAPTION or (key in defaults and defaults[key] == value):
            continue
        shown = Path(value).name if key in _PATH_SETTINGS and value else value
        changed.append(f"{key}={shown}")
    text = f"Matcher: {name}" + (f" ({', '.join(changed)})" if changed else " (defaults)")
    probe = inputs.probe
    if probe is not None:
        text += f". Probe ○: A ({probe.xa:.0f}, {probe.ya:.0f})"
        if probe.has_match:
            text += f" → B ({probe.xb:.1f}, {probe.yb:.1f}), certainty {probe.certainty:.2f}"
    return text + "."


# panels ------------------------------------------------------------------------------------


@dataclass
class _Panel:
    """What one panel draws over the pixels of ``side`` ("a", "b" or "pair")."""

    title: str
    side: str
    draw: object  # (axes, width_px) -> (mappable or None, colour bar label)


def _mark(axes: Axes, x: float, y: float) -> None:
    """The probe's marker: a ring with a white outline, the same in every panel."""
    from matplotlib import patheffects

    (line,) = axes.plot(
        [x], [y], marker="o", markersize=5.5, markerfacecolor="none",
        markeredgecolor=PROBE_COLOUR, markeredgewidth=1.2, linestyle="none", zorder=10,
    )  # fmt: skip
    line.set_path_effects([patheffects.withStroke(linewidth=2.6, foreground="white")])
    line.set_gid(PROBE_GID)


def _show(axes: Axes, image: np.ndarray, size_hw, width_px: float, **kwargs):
    """``image`` over the extent of an image of ``size_hw`` pixels, downsampled to ``width_px``."""
    height, width = size_hw
    shown = _fit(np.ascontiguousarray(image), width_px) if image.shape[1] > width_px else image
    return axes.imshow(
        shown, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest", **kwargs
    )


def _grey(axes: Axes, rgb: np.ndarray, width_px: float) -> None:
    """A dimmed grey copy of ``rgb`` under a coarse map."""
    grey = (rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])) / 255.0
    _show(axes, 0.35 + 0.5 * grey, rgb.shape[:2], width_px, cmap="gray", vmin=0, vmax=1)


def _cmap(name: str):
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    if name == "certainty":
        return ListedColormap(certainty_lut() / 255.0, name="certainty")
    if name == "error":
        return ListedColormap(error_lut() / 255.0, name="error")
    return colormaps[name]


def _dots(axes: Axes, points: np.ndarray, values: np.ndarray, cmap, vmax: float):
    return axes.scatter(
        points[:, 0], points[:, 1], c=np.nan_to_num(values, nan=vmax), s=2.0, cmap=cmap,
        vmin=0.0, vmax=vmax, linewidths=0,
    )  # fmt: skip


def _attention(inputs: FigureInputs, side: str) -> tuple[np.ndarray, str]:
    """The (h, w) attention map of image ``side`` and the words for its block and head."""
    attention = inputs.result.intermediates[f"attention_{side}"]
    if attention.ndim == 3:  # saved with one block kept
        attention = attention[None]
    blocks, heads = attention.shape[:2]
    settings = inputs.result.provenance.settings
    block = settings.get("attention_block", -1) if inputs.block is None else inputs.block
    head = settings.get("attention_head", -1) if inputs.head is None else inputs.head
    block = block % blocks if -blocks <= block < blocks else blocks - 1
    chosen = attention[block]
    if 0 <= head < heads:
        return chosen[head], f"block {block}, head {head}"
    return chosen.mean(axis=0), f"block {block}, mean of {heads} heads"


def _panels(inputs: FigureInputs) -> dict[str, _Panel]:
    """How each panel is drawn (only those asked for are called)."""
    result, rgb_a, rgb_b = inputs.result, inputs.rgb_a, inputs.rgb_b
    size_a, size_b = inputs.size_a, inputs.size_b
    name_a, name_b = (f": {name}" if name else "" for name in inputs.names)

    def image_a(axes, width_px):
        _show(axes, rgb_a, size_a, width_px)
        return None, ""

    def image_b(axes, width_px):
        _show(axes, rgb_b, size_b, width_px)
        keep = _spread(result.match_certainty, inputs.threshold, 4 * _MAX_LINES)
        return _dots(
            axes, result.matches[keep, 2:], result.match_certainty[keep], _cmap("certainty"), 1.0
        ), "certainty"

    def certainty(axes, width_px):
        if result.is_sparse:
            _grey(axes, rgb_a, width_px)
            return _dots(
                axes, result.matches[:, :2], result.match_certainty, _cmap("certainty"), 1.0
            ), "certainty"
        return _show(
            axes, result.certainty_ab, size_a, width_px, cmap=_cmap("certainty"), vmin=0, vmax=1
        ), "certainty"

    def warp(axes, width_px):
        pictures = warp_pictures(rgb_b, result.warp_ab)
        _show(axes, pictures.flow_rgb, size_a, width_px)
        _flow_wheel(axes)
        return None, f"flow colours: hue = direction, full at {pictures.scale_px:.1f} px"

    def error(axes, width_px):
        errors, cmap = inputs.errors, _cmap("error")
        label = f"{inputs.error_name} (px)"
        if errors.dense is None:
            _grey(axes, rgb_a, width_px)
            return _dots(axes, result.matches[:, :2], errors.matches, cmap, ERROR_SCALE_PX), label
        dense = np.ma.masked_invalid(errors.dense.astype(np.float32))
        shown = _show(axes, dense, size_a, width_px, cmap=cmap, vmin=0, vmax=ERROR_SCALE_PX)
        return shown, label

    def anchors(axes, width_px):
        probe = inputs.probe
        probs, _ = anchor_distribution(result, probe.xa, probe.ya)
        _grey(axes, rgb_b, width_px)
        shown = axes.imshow(
            probs, extent=(-0.5, size_b[1] - 0.5, size_b[0] - 0.5, -0.5), cmap="magma",
            vmin=0.0, vmax=float(probs.max()), alpha=0.8, interpolation="nearest",
        )  # fmt: skip
        return shown, "probability"

    def coarse(side: str, values: np.ndarray, cmap: str, vmin: float, vmax: float):
        def draw(axes, width_px):
            rgb, (height, width) = (rgb_a, size_a) if side == "a" else (rgb_b, size_b)
            _grey(axes, rgb, width_px)
            return axes.imshow(
                values, extent=(-0.5, width - 0.5, height - 0.5, -0.5), cmap=cmap, vmin=vmin,
                vmax=vmax, alpha=0.8, interpolation="nearest",
            )  # fmt: skip

        return draw

    def pca(side: str):
        def draw(axes, width_px):
            colours = pca_rgb(
                result.intermediates["backbone_a"], result.intermediates["backbone_b"]
            )
            height, width = size_a if side == "a" else size_b
            axes.imshow(
                colours[side == "b"], extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                interpolation="nearest",
            )  # fmt: skip
            return None, ""

        return draw

    panels = {
        "matches": _Panel(f"A{name_a} and B{name_b}", "pair", lambda ax, px: _pair(inputs, ax, px)),
        "a": _Panel(f"A{name_a} ({size_a[1]} × {size_a[0]} px)", "a", image_a),
        "b": _Panel(f"B{name_b} ({size_b[1]} × {size_b[0]} px)", "b", image_b),
        "certainty": _Panel("certainty of A → B", "a", certainty),
        "warp": _Panel("warp A → B", "a", warp),
        "error": _Panel(f"{inputs.error_name} of A → B", "a", error),
        "anchors": _Panel("anchor distribution over B", "b", anchors),
    }
    found = result.intermediates
    for side in "ab":
        key = f"attention_{side}"
        if key in found:
            values, words = _attention(inputs, side)
            draw = coarse(side, values, "inferno", float(values.min()), float(values.max()))
            panels[key] = _Panel(
                f"CLS attention of {side.upper()}, {words}", side,
                lambda ax, px, draw=draw: (draw(ax, px), "attention"),
            )  # fmt: skip
        tokens = "backbone_a" in found and "backbone_b" in found
        if tokens and inputs.probe is not None:
            units_a = unit_tokens(found["backbone_a"])
            row, col = patch_cell(inputs.probe.xa, inputs.probe.ya, size_a, units_a.shape[:2])
            units = units_a if side == "a" else unit_tokens(found["backbone_b"])
            similarity = cosine_similarity(units, units_a[row, col])
            draw = coarse(side, similarity, "RdBu_r", -1.0, 1.0)
            panels[f"similarity_{side}"] = _Panel(
                f"similarity to A's probed token, in {side.upper()}", side,
                lambda ax, px, draw=draw: (draw(ax, px), "cosine similarity"),
            )  # fmt: skip
        if tokens:
            panels[f"pca_{side}"] = _Panel(f"token PCA of {side.upper()} (RGB)", side, pca(side))
    return panels


def _pair_geometry(inputs: FigureInputs) -> tuple[float, float, float]:
    """The matches panel: B's scale (to A's height), its x offset and the panel's width in
    pixels of A."""
    (height_a, width_a), (height_b, width_b) = inputs.size_a, inputs.size_b
    scale_b = height_a / height_b
    offset_b = width_a * 1.02
    return scale_b, offset_b, offset_b + width_b * scale_b


def _pair(inputs: FigureInputs, axes: Axes, width_px: float):
    """A and B side by side (B scaled to A's height), a line per match coloured by certainty
    (at most ``_MAX_LINES`` at or above the threshold, evenly spread, the surest on top), and
    the probe joined to its match."""
    from matplotlib.collections import LineCollection

    result = inputs.result
    (height_a, width_a), width_b = inputs.size_a, inputs.size_b[1]
    scale_b, offset_b, total = _pair_geometry(inputs)
    per_unit = width_px / total
    bottom = height_a - 0.5
    axes.imshow(_fit(inputs.rgb_a, width_a * per_unit), extent=(-0.5, width_a - 0.5, bottom, -0.5))
    left_b, right_b = offset_b - 0.5 * scale_b, offset_b + (width_b - 0.5) * scale_b
    axes.imshow(
        _fit(inputs.rgb_b, width_b * scale_b * per_unit), extent=(left_b, right_b, bottom, -0.5)
    )
    axes.set(xlim=(-0.5, right_b), ylim=(bottom, -0.5))
    certainty = result.match_certainty
    keep = _spread(certainty, inputs.threshold, _MAX_LINES)
    cmap = _cmap("certainty")
    segments = (result.matches[keep] * [1, 1, scale_b, scale_b] + [0, 0, offset_b, 0]).reshape(
        -1, 2, 2
    )
    lines = LineCollection(segments, cmap=cmap, linewidths=0.4, alpha=0.9)
    lines.set_array(np.clip(certainty[keep], 0.0, 1.0))
    lines.set_clim(0.0, 1.0)
    axes.add_collection(lines)
    probe = inputs.probe
    if probe is not None and probe.has_match:
        xb, yb = offset_b + probe.xb * scale_b, probe.yb * scale_b
        axes.plot([probe.xa, xb], [probe.ya, yb], color=PROBE_COLOUR, linewidth=0.8, zorder=9)
        _mark(axes, xb, yb)
    if probe is not None:
        _mark(axes, probe.xa, probe.ya)
    return lines, f"certainty ({keep.size} of {len(certainty)} matches drawn)"


def _spread(certainty: np.ndarray, threshold: float, count: int) -> np.ndarray:
    """Indices of at most ``count`` of the matches with at least ``threshold`` certainty,
    evenly spread over them, the surest last (drawn on top)."""
    keep = np.flatnonzero(certainty >= threshold)
    if keep.size > count:
        keep = keep[np.linspace(0, keep.size - 1, count).round().astype(int)]
    return keep[np.argsort(certainty[keep], kind="stable")]


def _flow_wheel(axes: Axes) -> None:
    """A small colour wheel of the flow colours in the panel's top-right corner."""
    side = 64
    ys, xs = np.mgrid[-1 : 1 : side * 1j, -1 : 1 : side * 1j]
    flow = np.stack((xs, ys), axis=-1).astype(np.float32)
    wheel = flow_to_rgb(flow, max_magnitude=1.0)
    alpha = (np.hypot(xs, ys) <= 1.0).astype(np.float32)
    inset = axes.inset_axes((0.78, 0.76, 0.2, 0.2))
    inset.imshow(np.dstack((wheel / 255.0, alpha)), interpolation="bilinear")
    inset.set_axis_off()


# layout -------------------------------------------------------------------------------------


def compose_figure(
    inputs: FigureInputs,
    panels: list[str] | tuple[str, ...] = DEFAULT_PANELS,
    width_in: float = 7.0,
    dpi: float = 300.0,
) -> ComposedFigure:
    """The figure of ``panels`` (keys of :data:`PANELS`; shown in that table's order), ``width_in``
    inches wide (7.0: a double column, 3.5: a single one; 3 columns of panels from 5 in, else 2),
    the matches panel a row of its own at the top. Images are downsampled to the pixels they
    cover at ``dpi``. Panels are titled (a), (b)...; MatchscopeError for a missing panel."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    check_figure_size(width_in, dpi)
    keys = check_panels(inputs, list(panels))
    drawers = _panels(inputs)
    caption = figure_caption(inputs)
    lines = textwrap.wrap(caption, _chars(width_in, FONT_PT))
    inner = width_in - 2 * _MARGIN
    grid = [key for key in keys if key != "matches"]
    columns = max(1, min(3 if width_in >= 5.0 else 2, len(grid)))
    cell = (inner - (columns - 1) * _GAP) / columns
    rows = [["matches"]] if "matches" in keys else []
    rows += [grid[start : start + columns] for start in range(0, len(grid), columns)]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    titles = {key: f"({next(letters)}) {drawers[key].title}" for row in rows for key in row}
    layout = []  # per row: (box width, title height, image height) in inches
    for row in rows:
        box = inner if row == ["matches"] else cell
        if row == ["matches"]:
            image_h = inner * inputs.size_a[0] / _pair_geometry(inputs)[2]
        else:
            image_h = cell * max(_aspect(inputs, drawers[key].side) for key in row)
        wrapped = [textwrap.wrap(titles[key], _chars(box, TITLE_PT)) for key in row]
        titles.update({key: "\n".join(text) for key, text in zip(row, wrapped, strict=True)})
        layout.append((box, _TITLE_LINE * max(map(len, wrapped)) + 0.07, image_h))
    footer = _LINE * len(lines) + 0.06
    height_in = sum(title + image + _BAR + _ROW_GAP for _, title, image in layout) + footer
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    composed = ComposedFigure(figure, caption=caption)
    top = height_in
    for row, (box, title_h, image_h) in zip(rows, layout, strict=True):
        top -= title_h + image_h
        for column, key in enumerate(row):
            left = _MARGIN + column * (box + _GAP)
            axes = figure.add_axes(
                (left / width_in, top / height_in, box / width_in, image_h / height_in)
            )
            composed.panels[key] = axes
            mappable, label = _draw_panel(inputs, drawers[key], axes, box * dpi)
            axes.set_title(titles[key], fontsize=TITLE_PT, pad=2, linespacing=1.1)
            if isinstance(mappable, ScalarMappable):
                bar_w = min(box * 0.8, 2.4)
                cax = figure.add_axes(
                    (
                        (left + (box - bar_w) / 2) / width_in,
                        (top - 0.11) / height_in,
                        bar_w / width_in,
                        0.06 / height_in,
                    )
                )
                composed.colorbars[key] = _colour_bar(figure, mappable, cax, label)
            elif label:
                figure.text(
                    (left + box / 2) / width_in, (top - 0.05) / height_in,
                    "\n".join(textwrap.wrap(label, _chars(box, FONT_PT))), ha="center",
                    va="top", fontsize=FONT_PT, linespacing=1.1,
                )  # fmt: skip
        top -= _BAR + _ROW_GAP
    figure.text(
        0.5, 0.03 / height_in, "\n".join(lines), ha="center", va="bottom", fontsize=FONT_PT,
        linespacing=1.3,
    )  # fmt: skip
    return composed


def check_figure_size(width_in: float, dpi: float) -> None:
    """MatchscopeError unless the width (inches) and DPI are in :data:`WIDTH_RANGE_IN` and
    :data:`DPI_RANGE`."""
    if not WIDTH_RANGE_IN[0] <= width_in <= WIDTH_RANGE_IN[1]:
        low, high = WIDTH_RANGE_IN
        raise MatchscopeError(f"figure width {width_in:g} in: use {low:g} to {high:g} inches")
    if not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise MatchscopeError(
            f"figure resolution {dpi:g} dpi: use {DPI_RANGE[0]} to {DPI_RANGE[1]}"
        )


def check_figure_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path; MatchscopeError unless its suffix is one of :data:`FORMATS`."""
    path = Path(path)
    if path.suffix.lower().lstrip(".") not in FORMATS:
        raise MatchscopeError(f"{path}: the figure's format is its suffix: .png, .svg or .pdf")
    return path


def _chars(width_in: float, points: float) -> int:
    """About how many characters of a ``points`` pt sans-serif font fit in ``width_in`` inches."""
    return max(12, int(width_in * 72 / (points * 0.56)))


def _draw_panel(inputs: FigureInputs, panel: _Panel, axes: Axes, width_px: float):
    """Draw ``panel`` into ``axes`` (``width_px`` wide), framed on its image, with the probe;
    returns its mappable (or None) and its colour bar's label."""
    axes.set_axis_off()
    mappable, label = panel.draw(axes, width_px)
    probe = inputs.probe
    if panel.side in ("a", "b"):
        height, width = inputs.size_a if panel.side == "a" else inputs.size_b
        axes.set(xlim=(-0.5, width - 0.5), ylim=(height - 0.5, -0.5))
    if panel.side == "a" and probe is not None:
        _mark(axes, probe.xa, probe.ya)
    elif panel.side == "b" and probe is not None and probe.has_match:
        _mark(axes, probe.xb, probe.yb)
    return mappable, label


def _colour_bar(figure: Figure, mappable, cax: Axes, label: str) -> Colorbar:
    """A horizontal colour bar in ``cax`` (solid, also for a map drawn over its image)."""
    bar = figure.colorbar(mappable, cax=cax, orientation="horizontal")
    if bar.solids is not None:
        bar.solids.set_alpha(1.0)
    bar.ax.tick_params(labelsize=FONT_PT, length=2, pad=1)
    bar.set_label(label, fontsize=FONT_PT, labelpad=1)
    return bar


def _aspect(inputs: FigureInputs, side: str) -> float:
    height, width = inputs.size_a if side == "a" else inputs.size_b
    return height / width


def export_figure(
    inputs: FigureInputs,
    path: str | os.PathLike,
    panels: list[str] | tuple[str, ...] = DEFAULT_PANELS,
    width_in: float = 7.0,
    dpi: float = 300.0,
) -> Path:
    """Compose the figure and write it to ``path`` as PNG, SVG or PDF by its suffix; returns the
    path. MatchscopeError (one line) for a wrong format, a missing panel or an unwritable file."""
    path = check_figure_path(path)
    composed = compose_figure(inputs, panels, width_in, dpi)
    try:
        save_figure(composed.figure, path)
    except OSError as exc:
        raise MatchscopeError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
    return path
