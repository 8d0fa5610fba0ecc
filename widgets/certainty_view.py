"""`CertaintyView`: the certainty of every pixel of A as a heatmap over A in grey."""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.probe import ProbeReading
from widgets import ImagePanel, certainty_colormap, emit_clicks

HEATMAP_OPACITY = 0.65


class CertaintyView(QWidget):
    """Certainty of A (colour bar 0..1) blended over A in grey, with the probe marker.

    ``clicked_a(x, y)`` reports a left click on the image in A's pixel coordinates.
    """

    clicked_a = Signal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel = ImagePanel(self.canvas, 0, 0, "certainty of A")
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setOpacity(HEATMAP_OPACITY)
        self.panel.view.addItem(self.heatmap)
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False, label="certainty"
        )
        self.color_bar.setImageItem(self.heatmap)
        self.canvas.addItem(self.color_bar, row=1, col=1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        emit_clicks(self.canvas, [self.panel], self.clicked_a)

    def set_data(self, rgb_a: np.ndarray | None, certainty: np.ndarray | None) -> None:
        """A (H, W, 3) uint8 and its (H, W) certainty in [0, 1]; either may be None."""
        gray = None if rgb_a is None else cv2.cvtColor(rgb_a, cv2.COLOR_RGB2GRAY)
        self.panel.set_image(gray)
        if certainty is None:
            self.heatmap.clear()
        else:
            self.heatmap.setImage(certainty, autoLevels=False, levels=(0.0, 1.0))
            height, width = certainty.shape
            self.heatmap.setRect(-0.5, -0.5, width, height)

    def set_probe(self, probe: ProbeReading | None) -> None:
        self.panel.show_probe_a(probe)
