"""`HeatmapView`: a per-pixel map of A (certainty, or true error) over A in grey."""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.figures import ERROR_SCALE_PX
from core.probe import ProbeReading
from widgets import ImagePanel, certainty_colormap, emit_clicks, error_colormap

HEATMAP_OPACITY = 0.65


class HeatmapView(QWidget):
    """An (H, W) map of A's pixels in colour (with a colour bar over ``levels``) blended over
    A in grey, with the probe marker; NaN pixels show A only.

    ``clicked_a(x, y)`` reports a left click on the image in A's pixel coordinates.
    """

    clicked_a = Signal(float, float)

    def __init__(
        self,
        title: str,
        colormap: pg.ColorMap,
        levels: tuple[float, float],
        label: str,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.levels = levels
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel = ImagePanel(self.canvas, 0, 0, title)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setOpacity(HEATMAP_OPACITY)
        self.panel.view.addItem(self.heatmap)
        self.color_bar = pg.ColorBarItem(
            values=levels, colorMap=colormap, interactive=False, label=label
        )
        self.color_bar.setImageItem(self.heatmap)
        self.canvas.addItem(self.color_bar, row=1, col=1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        emit_clicks(self.canvas, [self.panel], self.clicked_a)

    def set_data(self, rgb_a: np.ndarray | None, values: np.ndarray | None) -> None:
        """A (H, W, 3) uint8 and its (H, W) map (NaN = none); either may be None."""
        gray = None if rgb_a is None else cv2.cvtColor(rgb_a, cv2.COLOR_RGB2GRAY)
        self.panel.set_image(gray)
        if values is None:
            self.heatmap.clear()
        else:
            self.heatmap.setImage(values, autoLevels=False, levels=self.levels)
            height, width = values.shape
            self.heatmap.setRect(-0.5, -0.5, width, height)

    def set_title(self, text: str) -> None:
        self.panel.title.setText(text)

    def set_probe(self, probe: ProbeReading | None) -> None:
        self.panel.show_probe_a(probe)


def certainty_view() -> HeatmapView:
    """The certainty of every pixel of A, 0..1."""
    return HeatmapView("certainty of A", certainty_colormap(), (0.0, 1.0), "certainty")


def error_view() -> HeatmapView:
    """The true error of every pixel of A's dense warp, 0..ERROR_SCALE_PX px."""
    return HeatmapView("true error of A's warp", error_colormap(), (0.0, ERROR_SCALE_PX), "px")
