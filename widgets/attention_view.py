"""`AttentionView`: the backbone's CLS -> patch attention of A as a heatmap over A."""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.probe import ProbeReading
from core.result import MatchResult
from widgets import ImagePanel, certainty_colormap, emit_clicks, set_colour_bar_range

HEATMAP_OPACITY = 0.65
HINT = (
    "Attention maps come with RoMa run with intermediates "
    "(the Intermediates switch, or --intermediates)"
)


def head_names(count: int) -> list[str]:
    """Choices for attention of ``count`` heads: their mean, then each head; one head kept by
    the run (``attention_head``) is the only choice."""
    if count == 1:
        return ["the kept head"]
    return ["mean of heads", *(f"head {k}" for k in range(count))]


class AttentionView(QWidget):
    """CLS -> patch attention of A (``attention_a``, (heads, h16, w16)) over A in grey, one cell
    per coarse patch, with a colour bar from its min to its max and the probe marker.

    ``clicked_a(x, y, snap_radius)`` reports a left click on the image in A's pixel coordinates
    (see :func:`widgets.emit_clicks`).
    """

    clicked_a = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel = ImagePanel(self.canvas, 0, 0, "CLS attention of A")
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setOpacity(HEATMAP_OPACITY)
        self.panel.view.addItem(self.heatmap)
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False, label="attention"
        )
        self.color_bar.setImageItem(self.heatmap)
        self.canvas.addItem(self.color_bar, row=1, col=1)
        self.head_box = QComboBox()
        self.head_box.setToolTip("Show the mean over the heads or one head")
        self.head_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        # never narrower than its longest choice, however narrow the dock
        self.head_box.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.head_box.currentIndexChanged.connect(self._update)
        self.label = QLabel()
        self.label.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(self.head_box)
        header.addWidget(self.label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        emit_clicks(self.canvas, [self.panel], self.clicked_a)
        self._attention: np.ndarray | None = None  # (heads, h16, w16)
        self._size_a: tuple[int, int] | None = None

    def set_data(self, rgb_a: np.ndarray | None, result: MatchResult | None) -> None:
        """A (H, W, 3) uint8 and the result whose ``attention_a`` is shown; either may be None.

        The chosen head stays when the new attention has as many heads.
        """
        self.panel.set_image(None if rgb_a is None else cv2.cvtColor(rgb_a, cv2.COLOR_RGB2GRAY))
        self._size_a = None if rgb_a is None else rgb_a.shape[:2]
        self._attention = None if result is None else result.intermediates.get("attention_a")
        if result is None:
            self.label.setText("")
        elif self._attention is None:
            self.label.setText(HINT)
        names = [] if self._attention is None else head_names(len(self._attention))
        if names != [self.head_box.itemText(i) for i in range(self.head_box.count())]:
            self.head_box.blockSignals(True)
            self.head_box.clear()
            self.head_box.addItems(names)
            self.head_box.blockSignals(False)
        self.head_box.setEnabled(len(names) > 1)
        self._update()

    def set_probe(self, probe: ProbeReading | None) -> None:
        self.panel.show_probe_a(probe)

    def _update(self) -> None:
        attention, size_a = self._attention, self._size_a
        if attention is None or size_a is None:
            self.heatmap.clear()
            return
        index = self.head_box.currentIndex()
        shown = attention.mean(axis=0) if index <= 0 else attention[index - 1]
        low, high = float(shown.min()), float(shown.max())
        levels = (low, max(high, low + 1e-9))
        self.heatmap.setImage(shown, autoLevels=False, levels=levels)
        self.heatmap.setRect(QRectF(-0.5, -0.5, size_a[1], size_a[0]))
        set_colour_bar_range(self.color_bar, levels, "attention")
        self.label.setText(f"{self.head_box.currentText()}: min {low:.3g}, max {high:.3g}")
