"""The panels of "Export figure" (no Qt): what each needs and how it is drawn into its axes
(matplotlib), with the probe and the pinned probes marked. :mod:`core.figure_compose` lays them
out, adds the colour bars and the caption, and saves the figure.

=================  ==================================================  =======================
key                shows                                                needs
=================  ==================================================  =======================
matches            A and B side by side, a line per match (by           any result
                   certainty)
a, b               image A with the probe; B with the probe's match     any result
                   and the matches' ends (by certainty)
certainty          certainty of A's warp, 0..1 (a sparse result: its    any result
                   matches as dots)
warp               flow colours of A's warp (hue = direction), a wheel  a dense result
scale_certainty    certainty at the chosen scale (``FigureInputs.       that scale's
                   scale``, one of :func:`core.scales.result_scales`)   intermediates, not
scale_warp         flow colours of the warp at the chosen scale         ``"final"``
coarse_warp        flow colours of the warp from the anchors alone      ``coarse_warp_ab``
                   (on the chosen scale's colour scale)
consistency        forward-backward distance at the chosen scale, px    a symmetric result
                   of A, 0..``ERROR_SCALE_PX``
grid               A's grid lines mapped over B by the chosen scale     a dense result
error              true error in px, 0..``ERROR_SCALE_PX`` (dots:       ground truth
                   sparse)
anchors            the probed cell's anchor distribution over B, its    ``anchor_logits_ab``
                   top modes (numbered, with their probability), the    and a probe
                   argmax and its 4 neighbours and the estimate's path
                   through the scales (:func:`core.anchor_probe.
                   inspect_anchors`)
attention_a/b      CLS -> patch attention at a block and head           ``attention_a``/``_b``
similarity_a/b     cosine similarity of the probe's patch token         ``backbone_a``/``_b``
pca_a/b            the first 3 PCA components of A's and B's tokens     ``backbone_a``/``_b``
=================  ==================================================  =======================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.anchor_probe import inspect_anchors
from core.figures import (
    ERROR_SCALE_PX,
    _fit,
    certainty_lut,
    displacement,
    error_lut,
    flow_to_rgb,
)
from core.probe import PinnedProbe, ProbeReading, anchor_distribution
from core.result import MatchResult
from core.scales import (
    FINAL,
    GRID_STEP_PX,
    coarse_warp,
    deformed_grid,
    is_symmetric,
    result_scales,
    scale_label,
    scale_maps,
)
from core.tokens import cosine_similarity, patch_cell, pca_rgb, unit_tokens

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from core.bench.truth import ResultErrors

PANELS = {
    "matches": "matches (A and B)",
    "a": "image A",
    "b": "image B",
    "certainty": "certainty",
    "warp": "warp (flow colours)",
    "scale_certainty": "certainty at the chosen scale",
    "scale_warp": "warp at the chosen scale",
    "coarse_warp": "coarse warp (anchors)",
    "consistency": "forward-backward consistency",
    "grid": "A's grid deformed over B",
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

PROBE_GID = "probe"  # the gid of the probe's marker in every panel
PIN_GID = "pin"  # the gid of a pinned probe's marker
MODE_GID, COARSE_GID, PATH_GID = "anchor_mode", "coarse_anchors", "anchor_path"
"""The gids of the anchors panel's marks: a mode's label, the coarse estimate's 5 anchors, the
path of the estimate through the scales."""
MIN_MODE_SHOWN = 0.01  # the anchors panel labels the top modes with at least this probability
PROBE_COLOUR = "#ff2d6f"
GRID_COLOUR = "#ffe600"  # as the Warp dock draws it
_MAX_LINES = 300  # match lines drawn in the matches panel (4 times as many dots in B's)


@dataclass
class FigureInputs:
    """What a figure is made of. ``probe`` None: no marker; ``errors``: the result against the
    ground truth (its name ``error_name``); ``threshold``: the matches drawn have at least this
    certainty; ``block``/``head``: the attention shown (None: the run's ``attention_block`` /
    ``attention_head``; -1: the last block, the mean of the heads); ``scale``: the scale of the
    scale panels (:func:`core.scales.result_scales`); ``pins``: pinned probes, drawn in their
    colours in every panel."""

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
    scale: str = FINAL
    pins: tuple[PinnedProbe, ...] = ()

    @property
    def size_a(self) -> tuple[int, int]:
        return self.rgb_a.shape[:2]

    @property
    def size_b(self) -> tuple[int, int]:
        return self.rgb_b.shape[:2]


def panel_needs(inputs: FigureInputs) -> dict[str, str | None]:
    """{panel: None when the inputs have its data, else what it needs}."""
    result, found = inputs.result, inputs.result.intermediates
    tokens = "backbone_a" in found and "backbone_b" in found
    probe = inputs.probe is not None
    dense = "a dense result (a warp)"
    needs = {key: None for key in ("matches", "a", "b", "certainty")}
    needs["warp"] = None if not result.is_sparse else dense
    chosen = inputs.scale != FINAL and inputs.scale in result_scales(result)
    scale = f"the intermediates of a chosen scale other than final (now {inputs.scale})"
    needs["scale_certainty"] = needs["scale_warp"] = None if chosen else scale
    needs["coarse_warp"] = (
        None
        if not result.is_sparse and "coarse_warp_ab" in found
        else "intermediate coarse_warp_ab (RoMa with intermediates)"
    )
    has_scale = inputs.scale in result_scales(result)
    needs["consistency"] = (
        None
        if has_scale and is_symmetric(result, inputs.scale)
        else f"a symmetric result (warp_ba at scale {inputs.scale})"
    )
    needs["grid"] = None if has_scale else f"a dense result with the scale {inputs.scale}"
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


# panels ------------------------------------------------------------------------------------


@dataclass
class Panel:
    """What one panel draws over the pixels of ``side`` ("a", "b" or "pair")."""

    title: str
    side: str
    draw: object  # (axes, width_px) -> (mappable or None, colour bar label)


def _mark(axes: Axes, x: float, y: float, colour: str = PROBE_COLOUR, gid: str = PROBE_GID):
    """A probe's marker: a ring with a white outline, the same in every panel (the probe's in
    :data:`PROBE_COLOUR`, a pin's in its own colour)."""
    from matplotlib import patheffects

    (line,) = axes.plot(
        [x], [y], marker="o", markersize=5.5, markerfacecolor="none",
        markeredgecolor=colour, markeredgewidth=1.2, linestyle="none", zorder=10,
    )  # fmt: skip
    line.set_path_effects([patheffects.withStroke(linewidth=2.6, foreground="white")])
    line.set_gid(gid)


def pin_colour(pin: PinnedProbe) -> str:
    """A pin's colour as matplotlib takes it (``#rrggbb``)."""
    return "#{:02x}{:02x}{:02x}".format(*pin.rgb)


def draw_panel(inputs: FigureInputs, panel: Panel, axes: Axes, width_px: float):
    """Draw ``panel`` into ``axes`` (``width_px`` wide), framed on its image, with the pins and
    the probe; returns its mappable (or None) and its colour bar's label."""
    axes.set_axis_off()
    mappable, label = panel.draw(axes, width_px)
    if panel.side in ("a", "b"):
        height, width = inputs.size_a if panel.side == "a" else inputs.size_b
        axes.set(xlim=(-0.5, width - 0.5), ylim=(height - 0.5, -0.5))
        for pin in inputs.pins:
            _mark_reading(axes, pin.reading, panel.side, pin_colour(pin), PIN_GID)
        if inputs.probe is not None:
            _mark_reading(axes, inputs.probe, panel.side)
    return mappable, label


def _mark_reading(
    axes: Axes, reading: ProbeReading, side: str, colour: str = PROBE_COLOUR, gid=PROBE_GID
) -> None:
    """Mark ``reading`` at its pixel of A (``side`` "a") or, when it has one, of B."""
    if side == "a" and np.isfinite(reading.xa) and np.isfinite(reading.ya):
        _mark(axes, reading.xa, reading.ya, colour, gid)
    elif side == "b" and reading.has_match:
        _mark(axes, reading.xb, reading.yb, colour, gid)


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


def make_panels(inputs: FigureInputs) -> dict[str, Panel]:
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

    def flow(warp_of):
        """Flow colours of the warp ``warp_of()`` gives, with the wheel."""

        def draw(axes, width_px):
            warp, scale_px = warp_of()
            colours, scale_px = _flow_colours(warp, scale_px)
            _show(axes, colours, size_a, width_px)
            _flow_wheel(axes)
            return None, f"flow colours: hue = direction, full at {scale_px:.1f} px"

        return draw

    maps = None if result.is_sparse else scale_maps(result, inputs.scale)

    def coarse_and_scale():
        """The coarse warp, on the colour scale of the chosen scale's warp (as the dock)."""
        refined = result.warp_ab if maps is None else maps.warp
        return coarse_warp(result, "ab"), _flow_colours(refined)[1]

    def scale_certainty(axes, width_px):
        return _show(
            axes, maps.certainty, size_a, width_px, cmap=_cmap("certainty"), vmin=0, vmax=1
        ), "certainty"

    def fb_consistency(axes, width_px):
        _grey(axes, rgb_a, width_px)
        distance = np.ma.masked_invalid(maps.consistency)
        shown = _show(
            axes, distance, size_a, width_px, cmap=_cmap("error"), vmin=0, vmax=ERROR_SCALE_PX
        )
        return shown, "|warp_ba(warp_ab(x)) − x| (px of A)"

    def grid(axes, width_px):
        _show(axes, rgb_b, size_b, width_px)
        points = deformed_grid(maps.warp, maps.certainty, inputs.threshold)
        axes.plot(points[:, 0], points[:, 1], color=GRID_COLOUR, linewidth=0.5, zorder=5)
        return None, f"A's rows and columns every {GRID_STEP_PX} px, through the warp"

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
        _anchor_marks(axes, inspect_anchors(result, probe.xa, probe.ya, size_a, size_b))
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
        "matches": Panel(f"A{name_a} and B{name_b}", "pair", lambda ax, px: _pair(inputs, ax, px)),
        "a": Panel(f"A{name_a} ({size_a[1]} × {size_a[0]} px)", "a", image_a),
        "b": Panel(f"B{name_b} ({size_b[1]} × {size_b[0]} px)", "b", image_b),
        "certainty": Panel("certainty of A → B", "a", certainty),
        "warp": Panel("warp A → B", "a", flow(lambda: (result.warp_ab, None))),
        "error": Panel(f"{inputs.error_name} of A → B", "a", error),
        "anchors": Panel("anchor distribution over B", "b", anchors),
    }
    if not result.is_sparse:
        panels["coarse_warp"] = Panel("coarse warp A → B (anchors)", "a", flow(coarse_and_scale))
    if maps is not None:
        at = scale_label(inputs.scale)
        panels |= {
            "scale_certainty": Panel(f"certainty of A → B at {at}", "a", scale_certainty),
            "scale_warp": Panel(f"warp A → B at {at}", "a", flow(lambda: (maps.warp, None))),
            "consistency": Panel(f"forward-backward consistency at {at}", "a", fb_consistency),
            "grid": Panel(f"A's grid over B at {at}", "b", grid),
        }
    found = result.intermediates
    for side in "ab":
        key = f"attention_{side}"
        if key in found:
            values, words = _attention(inputs, side)
            draw = coarse(side, values, "inferno", float(values.min()), float(values.max()))
            panels[key] = Panel(
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
            panels[f"similarity_{side}"] = Panel(
                f"similarity to A's probed token, in {side.upper()}", side,
                lambda ax, px, draw=draw: (draw(ax, px), "cosine similarity"),
            )  # fmt: skip
        if tokens:
            panels[f"pca_{side}"] = Panel(f"token PCA of {side.upper()} (RGB)", side, pca(side))
    return panels


def pair_geometry(inputs: FigureInputs) -> tuple[float, float, float]:
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
    scale_b, offset_b, total = pair_geometry(inputs)
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
    marked = [(pin.reading, pin_colour(pin), PIN_GID) for pin in inputs.pins]
    if inputs.probe is not None:
        marked.append((inputs.probe, PROBE_COLOUR, PROBE_GID))
    for reading, colour, gid in marked:  # each joined to its match, the probe on top
        if reading.has_match:
            xb, yb = offset_b + reading.xb * scale_b, reading.yb * scale_b
            axes.plot([reading.xa, xb], [reading.ya, yb], color=colour, linewidth=0.8, zorder=9)
            _mark(axes, xb, yb, colour, gid)
        if np.isfinite(reading.xa) and np.isfinite(reading.ya):
            _mark(axes, reading.xa, reading.ya, colour, gid)
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


def _flow_colours(warp: np.ndarray, scale_px: float | None = None) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 flow colours of a (H, W, 2) warp into B's pixels, fully saturated at
    ``scale_px`` (None: the 99th percentile of its displacements' lengths), and that length."""
    flow = displacement(warp)
    if scale_px is None:
        length = np.linalg.norm(flow, axis=-1)
        finite = length[np.isfinite(length)]
        scale_px = max(float(np.percentile(finite, 99)), 1e-6) if finite.size else 1.0
    return flow_to_rgb(flow, max_magnitude=scale_px), scale_px


def _anchor_marks(axes: Axes, inspection) -> None:
    """The anchor inspector's marks over B: the estimate's path from the coarse anchor through
    every refiner to the final match (white, dots at each step), the 5 anchors of the coarse
    estimate (cyan squares, the argmax larger) and the top modes numbered with their
    probability, those of at least :data:`MIN_MODE_SHOWN` (``inspection``: a
    :class:`core.anchor_probe.AnchorInspection` of the probe)."""
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=1.6, foreground="black")]
    path = np.array([(step.x, step.y) for step in inspection.path], np.float64).reshape(-1, 2)
    (line,) = axes.plot(
        path[:, 0], path[:, 1], color="white", linewidth=0.7, marker="o", markersize=1.8,
        zorder=7,
    )  # fmt: skip
    line.set_gid(PATH_GID)
    anchors = inspection.coarse_anchors
    for index, anchor in enumerate(anchors):
        (square,) = axes.plot(
            [anchor.x], [anchor.y], marker="s", markersize=4.0 if index == 0 else 2.5,
            markerfacecolor="none", markeredgecolor="#00e5ff", markeredgewidth=0.7,
            linestyle="none", zorder=8,
        )  # fmt: skip
        square.set_gid(COARSE_GID)
    for rank, mode in enumerate(inspection.modes, start=1):
        if mode.probability < MIN_MODE_SHOWN:
            break  # most probable first
        text = axes.annotate(
            f"{rank}: {mode.probability:.2f}", (mode.x, mode.y), xytext=(3, 3),
            textcoords="offset points", color="white", fontsize=5.5, zorder=9,
        )  # fmt: skip
        text.set_path_effects(outline)
        text.set_clip_on(True)  # kept inside the panel
        text.set_gid(MODE_GID)
