"""The window's probes from B, pinned probes and the Warp dock's readout, with real clicks."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QPointF, Qt

from core.probe import MAX_PINS, PIN_COLOURS, ProbeReading
from core.workspace import read_workspace
from tests.app.plugins import SYMMETRIC_CERTAINTY_BA
from tests.app.test_window import SHIFT, click_pixel, make_window, open_pair, pair  # noqa: F401
from tests.widgets.hover import hover, hovered
from widgets.probe_panel import reading_texts

SYMMETRIC = "tests.app.plugins:SymmetricShiftMatcher"


def click_b(qtbot, window, x: float, y: float) -> QPointF:
    """A real left click on the pair view at pixel (x, y) of B; returns the pixel it hit."""
    pair_view = window.pair_view
    pair_view.canvas.viewport().repaint()
    pos = pair_view.canvas.mapFromScene(pair_view.view_b.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(pair_view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    return pair_view.view_b.mapSceneToView(pair_view.canvas.mapToScene(pos))


def rounded(probe: ProbeReading) -> ProbeReading:
    return dataclasses.replace(probe, certainty=round(probe.certainty, 3))


@pytest.fixture
def window(qtbot, pair):  # noqa: F811
    window = make_window(qtbot, SYMMETRIC)
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=4000)
    return window


def test_a_click_in_b_probes_a_from_warp_ba(qtbot, window):
    hit = click_b(qtbot, window, 120, 90)
    probe = window.state.probe
    assert probe.origin == "b" and probe.source == "warp"
    assert (probe.xb, probe.yb) == (round(hit.x()), round(hit.y()))
    assert (probe.xa, probe.ya) == (probe.xb - SHIFT[0], probe.yb - SHIFT[1])  # warp_ba
    assert probe.certainty == SYMMETRIC_CERTAINTY_BA
    fields = window.probe_panel.fields
    assert fields["clicked in"].text() == "B"
    assert fields["A pixel"].text() == f"({probe.xa:.2f}, {probe.ya:.2f})"
    marker = window.certainty_view.panel.marker  # A's views mark the answer in A
    assert (marker.pos().x(), marker.pos().y()) == (probe.xa, probe.ya)

    window.attention_view.clicked_b.emit(30.0, 20.0, 5.0)  # the DINO view's B probes too
    assert (window.state.probe.xb, window.state.probe.origin) == (30, "b")


def test_pinned_probes_are_drawn_listed_and_at_most_eight(qtbot, window):
    state, pair_view, table = window.state, window.pair_view, window.probe_panel.pins_table
    click_pixel(qtbot, window, 40, 30)
    window.pin_action.trigger()  # Probe > Pin probe (P)
    click_b(qtbot, window, 120, 90)
    qtbot.mouseClick(window.probe_panel.pin_button, Qt.MouseButton.LeftButton)
    click_pixel(qtbot, window, 150, 120)
    window.activateWindow()
    qtbot.keyClick(window.pair_view.canvas, Qt.Key.Key_P)  # the shortcut
    assert [pin.reading.origin for pin in state.pinned] == ["a", "b", "a"]

    dots_a, dots_b = pair_view.panel_a.pins.data, pair_view.panel_b.pins.data
    assert len(dots_a) == len(dots_b) == 3
    assert [d["brush"].color().getRgb()[:3] for d in dots_a] == list(PIN_COLOURS[:3])
    assert [(d["x"], d["y"]) for d in dots_b] == [
        (pin.reading.xb, pin.reading.yb) for pin in state.pinned
    ]
    assert len(window.certainty_view.panel.pins.data) == 3  # every view that shows A
    assert len(window.anchor_view.panel.pins.data) == 3  # ... or B
    assert table.rowCount() == 3
    row = [table.item(1, col).text() for col in range(1, 5)]
    assert row == reading_texts(
        state.pinned[1].reading, decimals=1
    )  # "(114.0, 86.0)", "(120, 90)"…

    for x in range(MAX_PINS - 3):
        click_pixel(qtbot, window, 20 + 10 * x, 60)
        window.pin_action.trigger()
    click_pixel(qtbot, window, 20, 140)
    window.pin_action.trigger()  # the ninth
    assert len(state.pinned) == MAX_PINS and table.rowCount() == MAX_PINS
    assert f"At most {MAX_PINS} pinned probes" in window.statusBar().currentMessage()

    qtbot.mouseClick(table.cellWidget(0, table.columnCount() - 1), Qt.MouseButton.LeftButton)
    assert len(state.pinned) == MAX_PINS - 1 and len(pair_view.panel_a.pins.data) == MAX_PINS - 1
    window.clear_pins_action.trigger()
    assert table.rowCount() == 0 and len(pair_view.panel_b.pins.data) == 0


def test_the_warp_dock_reads_the_flow_under_the_cursor(qtbot, window):
    view = window.warp_view
    text = hover(qtbot, view.canvas, view.flow_panel, 60, 50)
    assert text.startswith(f"flow ({SHIFT[0]:+.2f}, {SHIFT[1]:+.2f}) px")
    x, _ = hovered(view.flow_panel)
    assert f"certainty {round(x) / 199:.3f}" in text  # shift_result's certainty: x / (W - 1)


def test_a_workspace_keeps_the_pins_and_a_probe_of_b(qtbot, window, tmp_path):
    click_pixel(qtbot, window, 40, 30)
    window.pin_action.trigger()
    click_b(qtbot, window, 120, 90)
    window.pin_action.trigger()
    before = window.state
    path = tmp_path / "ws.json"
    assert window.save_workspace(str(path)), before.error
    saved = read_workspace(path)
    assert saved.probe == (before.probe.xb, before.probe.yb, "b")
    assert saved.pinned_probes[1] == [before.probe.xb, before.probe.yb, "b"]

    other = make_window(qtbot, "dense-flow")
    assert other.open_workspace(str(path)), other.state.error
    state = other.state
    qtbot.waitUntil(lambda: len(state.pinned) == 2, timeout=4000)
    # the saved result keeps certainty as float16
    assert [rounded(pin.reading) for pin in state.pinned] == [
        rounded(pin.reading) for pin in before.pinned
    ]
    assert [pin.colour for pin in state.pinned] == [0, 1]
    assert rounded(state.probe) == rounded(before.probe) and state.probe.origin == "b"
    assert other.probe_panel.pins_table.rowCount() == 2
    assert len(other.pair_view.panel_a.pins.data) == 2
