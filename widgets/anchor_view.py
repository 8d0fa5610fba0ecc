"""`AnchorView`: RoMa's anchor distribution for the probed pixel of A, drawn over B."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.figures import certainty_lut
from core.probe import PinnedProbe, ProbeReading, anchor_distribution
from core.result import MatchResult
from core.tokens import patch_cell
from widgets import ImagePanel, certainty_colormap, set_colour_bar_range

ANCHOR_OPACITY = 0.8  # alpha of the most likely anchor; the others in proportion
ANCHOR_PEN = pg.mkPen((255, 255, 255), width=2)
HINT = (
    "Anchor distributions come with RoMa run with intermediates "
    "(the Intermediates switch, or --intermediates)"
)


def anchor_rgba(probs: np.ndarray) -> np.ndarray:
    """(R, R) probabilities -> (R, R, 4) uint8 RGBA: the viridis colour of p / max(p), and
    alpha ``ANCHOR_OPACITY * p / max(p)``, so unlikely anchors leave B visible."""
    relative = probs / probs.max()
    rgba = np.empty((*probs.shape, 4), np.uint8)
    rgba[..., :3] = certainty_lut()[np.round(relative * 255).astype(np.uint8)]
    rgba[..., 3] = np.round(relative * ANCHOR_OPACITY * 255).astype(np.uint8)
    return rgba


def anchor_centre(row: int, col: int, side: int, size_hw: tuple[int, int]) -> tuple[float, float]:
    """Pixel (x, y) of B at the centre of anchor (row, col) of a ``side`` x ``side`` grid."""
    height, width = size_hw
    return (col + 0.5) * width / side - 0.5, (row + 0.5) * height / side - 0.5


def entropy_bits(probs: np.ndarray) -> float:
    """Shannon entropy of a distribution (any shape, summing to 1) in bits."""
    p = probs[probs > 0].astype(np.float64)
    return float(-(p * np.log2(p)).sum())


class AnchorView(QWidget):
    """B in grey under the anchor distribution of the probe's coarse cell (``anchor_logits_ab``).

    A white square marks the most likely anchor's centre and the red target the probe's final
    match, so a refiner that moved the match away from the anchor mode shows as a gap between
    them. The colour bar gives absolute probabilities (from 0 to the top anchor's); the label
    the top-1 probability, the entropy and the coarse cell.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel = ImagePanel(self.canvas, 0, 0, "anchors in B (□ top anchor, ⊕ match)")
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.panel.view.addItem(self.heatmap)
        self.anchor_marker = pg.TargetItem(
            size=14, symbol="s", movable=False, pen=ANCHOR_PEN, brush=(0, 0, 0, 0)
        )
        self.anchor_marker.setZValue(9)
        self.anchor_marker.hide()
        self.panel.view.addItem(self.anchor_marker)
        # colours are p / max(p) (anchor_rgba), so a bar over 0..max(p) reads absolute p
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False, label="probability"
        )
        self.color_bar.hide()
        self.canvas.addItem(self.color_bar, row=1, col=1)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.canvas, 1)
        self._size_b: tuple[int, int] | None = None
        self._result: MatchResult | None = None
        self._probe: ProbeReading | None = None
        self.probs: np.ndarray | None = None  # (R, R) distribution drawn now, rows = y of B
        self.panel.set_readout(self._readout)

    def _readout(self, x: float, y: float) -> str | None:
        """The probability of the anchor cell of B under pixel (x, y)."""
        if self.probs is None or self._size_b is None:
            return None
        row, col = patch_cell(x, y, self._size_b, self.probs.shape)
        return f"anchor (row {row}, col {col}): p = {self.probs[row, col]:.4g}"

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        self.panel.show_pins(pins, "b")

    def set_data(self, rgb_b: np.ndarray | None, result: MatchResult | None) -> None:
        """B (H_B, W_B, 3) uint8 and the result whose ``anchor_logits_ab`` (h16, w16, R * R)
        are shown; either may be None."""
        self.panel.set_image(None if rgb_b is None else cv2.cvtColor(rgb_b, cv2.COLOR_RGB2GRAY))
        self._size_b = None if rgb_b is None else rgb_b.shape[:2]
        self._result = result
        self._update()

    def set_probe(self, probe: ProbeReading | None) -> None:
        self._probe = probe
        self._update()

    def _update(self) -> None:
        result, probe, size_b = self._result, self._probe, self._size_b
        self.probs = None
        self.heatmap.clear()
        self.anchor_marker.hide()
        self.color_bar.hide()
        self.panel.marker.hide()
        if result is None or size_b is None:
            self.label.setText("")
            return
        if "anchor_logits_ab" not in result.intermediates:
            self.label.setText(HINT)
            return
        if probe is None:
            self.label.setText("Click a pixel of A to see its anchors in B.")
            return
        probs, (cell_row, cell_col) = anchor_distribution(result, probe.xa, probe.ya)
        side = probs.shape[0]
        self.probs = probs
        self.heatmap.setImage(anchor_rgba(probs), autoLevels=False, levels=(0, 255))
        self.heatmap.setRect(QRectF(-0.5, -0.5, size_b[1], size_b[0]))
        top = int(probs.argmax())
        set_colour_bar_range(self.color_bar, (0.0, float(probs.flat[top])), "probability")
        self.color_bar.show()
        x, y = anchor_centre(*divmod(top, side), side, size_b)
        self.anchor_marker.setPos(QPointF(x, y))
        self.anchor_marker.show()
        self.panel.set_marker(probe.xb, probe.yb)
        grid_h, grid_w = result.intermediates["anchor_logits_ab"].shape[:2]
        match = (
            f"final match {math.hypot(probe.xb - x, probe.yb - y):.1f} px from it"
            if probe.has_match
            else "no final match"
        )
        self.label.setText(
            f"top-1 p = {probs.flat[top]:.3f}, entropy {entropy_bits(probs):.2f} of "
            f"{math.log2(probs.size):.0f} bits, coarse cell (row {cell_row}, col {cell_col}) of "
            f"{grid_h}x{grid_w}\ntop anchor at ({x:.1f}, {y:.1f}); {match}"
        )
