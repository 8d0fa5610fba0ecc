"""The window's probe wiring: clicks in B probe B -> A, pinned probes (the Probe panel's buttons,
Probe > Pin probe (P) and Clear pins) drawn in every view that shows A or B, and the Warp dock's
hover readout (the flow vector under the cursor, read from the result as a click would)."""

from __future__ import annotations

import math
import weakref

from PySide6.QtGui import QAction, QKeySequence

from core.probe import PinnedProbe, read_probe

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
    for flow_panel in (window.warp_view.flow_panel, window.warp_view.warped_panel):
        flow_panel.set_readout(lambda x, y, p=flow_panel: flow_readout(state.result, x, y, p))


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


def flow_readout(result, x: float, y: float, panel) -> str | None:
    """The displacement A -> B and certainty at pixel (x, y) of A: the dense warp's there, or
    the match nearest within ``panel``'s snap radius (sparse results)."""
    if result is None:
        return None
    probe = read_probe(result, x, y, panel.snap_radius())
    if not probe.has_match:
        return f"A ({x:.0f}, {y:.0f}): no match"
    dx, dy = probe.xb - probe.xa, probe.yb - probe.ya
    where = "" if probe.source == "warp" else f" (match at {probe.xa:.1f}, {probe.ya:.1f})"
    return (
        f"flow ({dx:+.2f}, {dy:+.2f}) px, |{math.hypot(dx, dy):.2f}|{where}\n"
        f"certainty {probe.certainty:.3f}"
    )
