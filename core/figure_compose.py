""" "Export figure" (no Qt): the chosen views of a result for the current probe composed into one
paper figure (matplotlib, no pyplot): titled panels (a), (b)... laid out in rows, colour bars in
absolute units under the panels that have a scale, the probe and the pinned probes marked in every
panel, and a caption line with the matcher and its non-default settings.

Everything is read from the :class:`MatchResult`, the two images, the probe, the pins, the chosen
scale and the errors against the ground truth; no model runs. The panels, what each needs and how
it is drawn are in :mod:`core.figure_panels` (:data:`PANELS`).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import MatchscopeError
from core.figure_panels import (
    PANELS,
    FigureInputs,
    draw_panel,
    make_panels,
    pair_geometry,
    panel_needs,
)
from core.figures import save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colorbar import Colorbar
    from matplotlib.figure import Figure

DEFAULT_PANELS = ("matches", "certainty", "warp", "error", "anchors", "attention_a", "similarity_b")
"""The panels a figure shows when none are chosen (those the result has)."""

FORMATS = ("png", "svg", "pdf")
WIDTH_RANGE_IN = (2.0, 20.0)  # a single column is 3.5 in, a double one 7.0
DPI_RANGE = (30, 2400)
FONT_PT, TITLE_PT = 7.0, 7.5
_MARGIN, _GAP, _TITLE_LINE, _BAR, _ROW_GAP, _LINE = 0.06, 0.12, 0.115, 0.36, 0.04, 0.13
"""Layout in inches: side margins, the gap between columns, a line of a title, the colour bar
row (bar, tick labels and label), the gap between rows and a caption line."""
_SKIP_IN_CAPTION = ("intermediates", "settings_dir", "download")
_PATH_SETTINGS = ("roma_weights", "dino_weights", "detector_weights", "matcher_weights")


@dataclass
class ComposedFigure:
    """A composed figure: ``panels`` {key: its axes} in order, ``colorbars`` {key: its colour
    bar} for the panels that have one, and the ``caption`` under it."""

    figure: Figure
    panels: dict[str, Axes] = field(default_factory=dict)
    colorbars: dict[str, Colorbar] = field(default_factory=dict)
    caption: str = ""


def available_panels(inputs: FigureInputs) -> list[str]:
    """The panels (keys of :data:`PANELS`) whose data the inputs have, in figure order."""
    needs = panel_needs(inputs)
    return [key for key in PANELS if needs[key] is None]


def check_panels(inputs: FigureInputs, panels: list[str] | tuple[str, ...]) -> list[str]:
    """``panels`` in figure order; MatchscopeError naming an unknown or missing one."""
    needs = panel_needs(inputs)
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
    drawers = make_panels(inputs)
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
            image_h = inner * inputs.size_a[0] / pair_geometry(inputs)[2]
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
            mappable, label = draw_panel(inputs, drawers[key], axes, box * dpi)
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
    return max(12, int(width_in * 72 / (points * 0.62)))  # DejaVu Sans: ~0.6 em a character


def _colour_bar(figure: Figure, mappable, cax: Axes, label: str) -> Colorbar:
    """A horizontal colour bar in ``cax`` (solid, also for a map drawn over its image)."""
    bar = figure.colorbar(mappable, cax=cax, orientation="horizontal")
    if bar.solids is not None:
        bar.solids.set_alpha(1.0)
    from matplotlib.ticker import MaxNLocator

    bar.ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # labels that never run together
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
