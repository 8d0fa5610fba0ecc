"""`WarpView` with a scale's maps: the linked zoom of its panels in A's frame, and their ranges
staying put while the layer (and so the panels' widths) changes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from core.figures import warp_pictures
from core.scales import scale_maps
from tests.core.scale_results import H, W, scale_result
from widgets.warp_view import WarpView


@pytest.fixture
def view(qtbot) -> WarpView:
    view = WarpView()
    qtbot.addWidget(view)
    view.resize(1200, 320)
    view.show()
    qtbot.waitExposed(view)
    rgb_b = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    maps = scale_maps(scale_result(), "upsample_s4")
    view.set_data(
        warp_pictures(rgb_b, maps.warp), maps.certainty, maps, rgb_b, "upsample pass, scale 4"
    )
    settle()
    return view


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def per_pixel(box) -> float:
    """Image pixels per screen pixel across ``box``."""
    return box.viewRect().width() / box.width()


def test_zooming_one_panel_of_as_frame_zooms_the_others_alike(view):
    flow = view.flow_panel.view
    view.canvas.viewport().repaint()
    pos = view.canvas.mapFromScene(flow.mapViewToScene(QPointF(20, 15)))
    wheel = QWheelEvent(
        QPointF(pos),
        QPointF(view.canvas.viewport().mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 240),  # two notches in
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    before = per_pixel(flow)
    QApplication.sendEvent(view.canvas.viewport(), wheel)
    settle()
    assert per_pixel(flow) < 0.9 * before  # zoomed in
    for panel in (view.coarse_panel, view.warped_panel):
        assert per_pixel(panel.view) == pytest.approx(per_pixel(flow), rel=1e-3)
        centre = panel.view.viewRect().center()
        assert (centre.x(), centre.y()) == pytest.approx(
            (flow.viewRect().center().x(), flow.viewRect().center().y()), abs=1e-3
        )
    grid = view.grid_panel.view  # B's frame: not linked
    assert per_pixel(grid) != pytest.approx(per_pixel(flow), rel=0.05)


def test_switching_the_layer_keeps_the_panels_ranges(view):
    ranges = [panel.view.viewRect() for panel in (view.flow_panel, view.warped_panel)]
    for index in (1, 0, 1, 0):
        view.layer_box.setCurrentIndex(index)
        settle()
    for panel, before in zip((view.flow_panel, view.warped_panel), ranges, strict=True):
        after = panel.view.viewRect()
        assert after.width() < 1.5 * before.width() and after.height() < 1.5 * before.height()
