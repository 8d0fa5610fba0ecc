"""`WarpView`: the dense warp A->B as a flow colour wheel and as B warped onto A; for a sparse
result the same at its matches, as dots that keep their size at any zoom."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.figures import WarpPictures, flow_to_rgb
from core.probe import PinnedProbe, ProbeReading
from widgets import ImagePanel, emit_clicks

WHEEL_RADIUS = 24
POINT_SIZE_PX = 7
"""Diameter (screen pixels) of a sparse result's dots."""


class WarpView(QWidget):
    """Flow colours of ``displacement(warp_ab)`` and B warped onto A, in A's frame, linked.

    B warped onto A is black where there is no match and, with "mask by threshold" checked,
    where certainty < the threshold. A sparse result (``set_matches``) shows a dot per match
    at its A pixel over black: its displacement's colour, and B's colour at its B end.
    ``clicked_a(x, y, snap_radius)`` reports clicks in A's pixels (see
    :func:`widgets.emit_clicks`).
    """

    clicked_a = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.flow_panel = ImagePanel(self.canvas, 0, 0, "flow A→B")
        self.warped_panel = ImagePanel(self.canvas, 0, 1, "B warped onto A")
        self.warped_panel.view.setXLink(self.flow_panel.view)
        self.warped_panel.view.setYLink(self.flow_panel.view)
        self.wheel = QLabel()
        self.wheel.setPixmap(_wheel_pixmap(WHEEL_RADIUS))
        self.wheel.setToolTip("hue: direction of the displacement; saturation: its length")
        self.legend = QLabel()
        self.mask_box = QCheckBox("Mask by threshold")
        self.mask_box.setChecked(True)
        self.mask_box.toggled.connect(self._update_warped)
        header = QHBoxLayout()
        header.addWidget(self.wheel)
        header.addWidget(self.legend, 1)
        header.addWidget(self.mask_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        emit_clicks(self.canvas, [self.flow_panel, self.warped_panel], self.clicked_a)
        self.flow_points, self.warped_points = (
            pg.ScatterPlotItem(pxMode=True, size=POINT_SIZE_PX, pen=None) for _ in range(2)
        )
        for panel, points in (
            (self.flow_panel, self.flow_points),
            (self.warped_panel, self.warped_points),
        ):
            points.setZValue(5)
            panel.view.addItem(points)
        self._warped: np.ndarray | None = None
        self._certainty: np.ndarray | None = None
        self._sparse: tuple[np.ndarray, list, np.ndarray] | None = None  # dots, brushes, cert.
        self._threshold = 0.5

    def set_data(self, pictures: WarpPictures | None, certainty_ab: np.ndarray | None) -> None:
        """The warp's pictures (:func:`core.figures.warp_pictures`) and its (H_A, W_A)
        certainty; None clears the view."""
        self._sparse = None
        self.flow_points.clear()
        if pictures is None:
            self._warped = self._certainty = None
            self.flow_panel.set_image(None)
            self.legend.setText("")
        else:
            self.flow_panel.set_image(pictures.flow_rgb)
            scale = pictures.scale_px
            self.legend.setText(f"direction = hue, length = saturation (full at {scale:.1f} px)")
            self._warped, self._certainty = pictures.warped_b, certainty_ab
        self._update_warped()

    def set_matches(
        self,
        size_a: tuple[int, int],
        rgb_b: np.ndarray,
        matches: np.ndarray,
        certainty: np.ndarray,
    ) -> None:
        """A sparse result: (N, 4) matches ``[xA, yA, xB, yB]`` with (N,) certainty, as dots
        over a black (H, W) = ``size_a`` frame of A; B's colours sampled from ``rgb_b``."""
        self._warped = self._certainty = None
        black = np.zeros(size_a, np.uint8)
        self.flow_panel.set_image(black)
        matches = np.asarray(matches, np.float64).reshape(-1, 4)
        flow = (matches[:, 2:] - matches[:, :2])[:, None]
        length = np.linalg.norm(flow[:, 0], axis=1)
        scale = max(float(np.percentile(length, 99)), 1e-6) if length.size else 1.0
        flow_colors = flow_to_rgb(flow.astype(np.float32), max_magnitude=scale)[:, 0]
        height, width = rgb_b.shape[:2]
        cols = np.clip(np.round(matches[:, 2]), 0, width - 1).astype(int)
        rows = np.clip(np.round(matches[:, 3]), 0, height - 1).astype(int)
        self.flow_points.setData(pos=matches[:, :2], brush=_brushes(flow_colors))
        self._sparse = (matches[:, :2], _brushes(rgb_b[rows, cols]), np.asarray(certainty))
        self.legend.setText(
            f"{len(matches)} matches: direction = hue, length = saturation (full at {scale:.1f} px)"
        )
        self.warped_panel.set_image(black)
        self._update_warped()

    def set_threshold(self, threshold: float) -> None:
        self._threshold = threshold
        self._update_warped()

    def set_probe(self, probe: ProbeReading | None) -> None:
        self.flow_panel.show_probe_a(probe)
        self.warped_panel.show_probe_a(probe)

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        for panel in (self.flow_panel, self.warped_panel):
            panel.show_pins(pins, "a")

    def _update_warped(self) -> None:
        if self._sparse is not None:
            positions, brushes, certainty = self._sparse
            keep = np.ones(len(positions), bool)
            if self.mask_box.isChecked():
                keep = certainty >= self._threshold
            shown = [brush for brush, kept in zip(brushes, keep, strict=True) if kept]
            self.warped_points.setData(pos=positions[keep], brush=shown)
            return
        self.warped_points.clear()
        image = self._warped
        if image is not None and self.mask_box.isChecked():
            image = np.where((self._certainty >= self._threshold)[..., None], image, 0)
        self.warped_panel.set_image(image)


def _brushes(rgb: np.ndarray) -> list:
    """A brush per (N, 3) uint8 colour, rounded to 16 levels per channel (few symbols to draw)."""
    levels = (np.asarray(rgb, np.int64) // 16) * 17
    palette: dict[tuple, object] = {}
    return [palette.setdefault(color, pg.mkBrush(*color)) for color in map(tuple, levels.tolist())]


def _wheel_pixmap(radius: int) -> QPixmap:
    """The flow colour wheel (as `flow_to_rgb` colours displacements), transparent outside."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    flow = np.stack(np.meshgrid(offsets, offsets), axis=-1)
    rgba = np.dstack([flow_to_rgb(flow, max_magnitude=radius), np.full(flow.shape[:2], 255)])
    rgba[np.linalg.norm(flow, axis=-1) > radius, 3] = 0
    rgba = np.ascontiguousarray(rgba, np.uint8)
    size = 2 * radius + 1
    return QPixmap.fromImage(QImage(rgba.data, size, size, 4 * size, QImage.Format.Format_RGBA8888))
