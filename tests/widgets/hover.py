"""Hover helpers for view tests: a mouse move sent to a canvas, and its panel's readout."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def canvas_pos(canvas, panel, x: float, y: float) -> QPointF:
    """Where pixel (x, y) of ``panel`` is on ``canvas``' viewport (after pending layout changes,
    repainted so that the latest view ranges are applied)."""
    QApplication.processEvents()
    canvas.viewport().repaint()
    return QPointF(canvas.mapFromScene(panel.view.mapViewToScene(QPointF(x, y))))


def move_mouse(canvas, pos: QPointF) -> None:
    """A mouse move over ``canvas`` at ``pos``, sent directly: QTest's mouseMove sends none on
    the offscreen platform."""
    viewport = canvas.viewport()
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        pos,
        viewport.mapToGlobal(pos),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, move)


def hover(qtbot, canvas, panel, x: float, y: float) -> str:
    """Move the mouse over pixel (x, y) of ``panel`` (once the layout has settled) and wait for
    its readout; its text ("" when hidden). `hovered` gives the pixel it was read at."""
    qtbot.wait(20)  # a view shown or changed just now may still be resizing
    before = panel.readout.updates
    move_mouse(canvas, canvas_pos(canvas, panel, x, y))
    qtbot.waitUntil(lambda: panel.readout.updates > before, timeout=2000)
    return panel.readout.text.toPlainText() if panel.readout.text.isVisible() else ""


def hovered(panel) -> tuple[float, float]:
    """The pixel (x, y) of ``panel`` that its readout was last read at (within half a pixel of
    the one asked for at the usual zooms, since the mouse moves in whole screen pixels)."""
    point = panel.view.mapSceneToView(panel.readout._scene_pos)
    return point.x(), point.y()
