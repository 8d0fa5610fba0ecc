"""Tests of the reusable views; `tick_labels` reads what an axis draws."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QImage, QPainter


def tick_labels(axis: pg.AxisItem) -> list[str]:
    """The tick label texts that ``axis`` draws now (pyqtgraph leaves out those that do not
    fit its width)."""
    image = QImage(200, 400, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _, _, text in texts]
