"""The window's probe wiring: clicks in B probe B -> A, pinned probes (the Probe panel's buttons,
Probe > Pin probe (P) and Clear pins) drawn in every view that shows A or B, and the Warp dock's
hover readout: the flow vector and certainty under the cursor at the scale the dock shows (and the
forward-backward distance with that layer shown); a sparse result's from its nearest match."""

from __future__ import annotations

import math
import weakref

import numpy as np
from PySide6.QtGui import QAction, QKeySequence

from core.probe import PinnedProbe, read_probe
from core.scales import FINAL, ScaleMaps, scale_label

PIN_SHORTCUT = "P"


def install_probe_wiring(window) -> None:
    """Connect ``window``'s views, Probe panel and ``state`` for B probes and pins; adds the
    Probe menu (``window.pin_action``, ``window.clear_pins_action``)."""
    state, panel = window.state, window.probe_panel
    for view in (window.pair_view, window.attention_view):
        view.clicked_b.connect(state.click_b)
    menu = window.menuBar().addMenu("Probe")
    window.pin_action = QAction("Pin probe", window)
    window.pin_action.setShortcut(QKeySequence(PIN_SHORTCUT))
    window.pin_action.setToolTip("Keep the probe's reading, drawn in its own colour in every view")
    window.pin_action.triggered.connect(lambda: state.pin_probe())
    window.clear_pins_action = QAction("Clear pins", window)
    window.clear_pins_action.triggered.connect(state.clear_pins)
    for action in (window.pin_action, window.clear_pins_action):
        menu.addAction(action)
        window.addAction(action)
    panel.pin_requested.connect(lambda: state.pin_probe())
    panel.unpin_requested.connect(state.unpin)
    panel.clear_pins_requested.connect(state.clear_pins)
    # the state holds its slots strongly: a weak reference lets a closed window go
    window_ref = weakref.ref(window)
    state.pins_changed.connect(lambda pins: window_ref() and show_pins(window_ref(), pins))
    view = window.warp_view
    warp_ref = weakref.ref(view)  # weak, as above: the panels' readouts must not hold the view
    for index, flow_panel in enumerate((view.flow_panel, view.warped_panel)):
        flow_panel.set_readout(
            lambda x, y, index=index: _warp_readout(warp_ref(), state, x, y, index == 0)
        )


def _warp_readout(view, state, x: float, y: float, flow_layer: bool) -> str | None:
    """The Warp dock's readout at pixel (x, y) of A in its flow panel (``flow_layer``, which
    also shows the consistency layer) or its warped panel."""
    if view is None:
        return None
    panel = view.flow_panel if flow_layer else view.warped_panel
    consistency = flow_layer and view.consistency_shown
    return flow_readout(state.result, x, y, panel, view.shown_maps, consistency)


def show_pins(window, pins: list[PinnedProbe]) -> None:
    """Draw ``pins`` in every view that shows A or B and list them in the Probe panel."""
    views = (
        window.pair_view,
        window.certainty_view,
        window.error_view,
        window.warp_view,
        window.anchor_view,
        window.attention_view,
        window.keypoint_view,
    )
    for view in views:
        view.set_pins(pins)
    window.probe_panel.show_pins(pins)


def flow_readout(
    result, x: float, y: float, panel, maps: ScaleMaps | None = None, consistency: bool = False
) -> str | None:
    """The displacement A -> B and certainty at pixel (x, y) of A: those of the scale's
    ``maps`` the dock shows (a dense result), else the dense warp's there, or the match nearest
    within ``panel``'s snap radius (sparse results); with ``consistency``, the forward-backward
    distance too."""
    if result is None:
        return None
    if maps is not None and not result.is_sparse:
        return scale_readout(maps, x, y, consistency)
    probe = read_probe(result, x, y, panel.snap_radius())
    if not probe.has_match:
        return f"A ({x:.0f}, {y:.0f}): no match"
    dx, dy = probe.xb - probe.xa, probe.yb - probe.ya
    where = "" if probe.source == "warp" else f" (match at {probe.xa:.1f}, {probe.ya:.1f})"
    return (
        f"flow ({dx:+.2f}, {dy:+.2f}) px, |{math.hypot(dx, dy):.2f}|{where}\n"
        f"certainty {probe.certainty:.3f}"
    )


def scale_readout(maps: ScaleMaps, x: float, y: float, consistency: bool = False) -> str:
    """The flow and certainty of ``maps`` at A's pixel nearest (x, y), naming a scale other
    than the final one; with ``consistency``, ``maps.consistency`` there (px of A)."""
    height, width = maps.certainty.shape
    col = int(np.clip(round(x), 0, width - 1))
    row = int(np.clip(round(y), 0, height - 1))
    at = "" if maps.scale == FINAL else f" ({scale_label(maps.scale)})"
    xb, yb = (float(v) for v in maps.warp[row, col])
    if math.isfinite(xb) and math.isfinite(yb):
        dx, dy = xb - col, yb - row
        text = (
            f"flow ({dx:+.2f}, {dy:+.2f}) px, |{math.hypot(dx, dy):.2f}|\n"
            f"certainty {maps.certainty[row, col]:.3f}{at}"
        )
    else:
        text = f"A ({col}, {row}): no match{at}"
    if consistency:
        distance = float(maps.consistency[row, col])
        text += (
            f"\nconsistency {distance:.2f} px of A"
            if math.isfinite(distance)
            else "\nconsistency: none (no round trip)"
        )
    return text
