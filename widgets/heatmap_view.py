"""`HeatmapView`: a per-pixel map of A (certainty, or true error) over A in grey, or for a
sparse result the same values at its matches, as dots that keep their size at any zoom; the
value under the cursor (the nearest dot's for points) is shown in the corner."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from core.figures import ERROR_SCALE_PX
from core.probe import PinnedProbe, ProbeReading
from widgets import ImagePanel, NearestPoints, certainty_colormap, emit_clicks, error_colormap, grey

HEATMAP_OPACITY = 0.65
POINT_SIZE_PX = 7
"""Diameter (screen pixels) of a sparse result's dots."""
COLOR_BINS = 64
"""Dots are coloured in this many steps of the colour map."""
UNKNOWN_BRUSH = (160, 160, 160, 200)


class HeatmapView(QWidget):
    """An (H, W) map of A's pixels in colour (with a colour bar over ``levels``) blended over
    A in grey, with the probe marker; NaN pixels show A only. ``set_points`` shows values at
    points of A instead (a sparse result), as dots of ``POINT_SIZE_PX`` screen pixels.

    ``clicked_a(x, y, snap_radius)`` reports a left click on the image in A's pixel coordinates
    (see :func:`widgets.emit_clicks`). ``readout`` formats the value under the cursor (a
    ``str.format`` pattern with one field).
    """

    clicked_a = Signal(float, float, float)

    def __init__(
        self,
        title: str,
        colormap: pg.ColorMap,
        levels: tuple[float, float],
        label: str,
        readout: str = "{:.3f}",
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.levels = levels
        self.colormap = colormap
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
        self.points = pg.ScatterPlotItem(pxMode=True, size=POINT_SIZE_PX, pen=None)
        self.points.setZValue(5)  # over the image, under the probe marker
        self.panel.view.addItem(self.points)
        self.header = QHBoxLayout()  # controls a dock puts above the map (a scale selector)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.header)
        layout.addWidget(self.canvas)
        emit_clicks(self.canvas, [self.panel], self.clicked_a)
        self.readout_format = readout
        self._values: np.ndarray | None = None  # the (H, W) map, or (N,) values at _points
        self._points: NearestPoints | None = None
        self.panel.set_readout(self._readout)

    def set_data(self, rgb_a: np.ndarray | None, values: np.ndarray | None) -> None:
        """A (H, W, 3) uint8 and its (H, W) map (NaN = none); either may be None."""
        gray = grey(rgb_a)
        self.panel.set_image(gray)
        self.points.clear()
        self._values, self._points = values, None
        if values is None:
            self.heatmap.clear()
        else:
            self.heatmap.setImage(values, autoLevels=False, levels=self.levels)
            height, width = values.shape
            self.heatmap.setRect(-0.5, -0.5, width, height)

    def set_points(self, rgb_a: np.ndarray, points: np.ndarray, values: np.ndarray) -> None:
        """A (H, W, 3) uint8 with dots at (N, 2) pixels of A coloured by (N,) values on the
        colour bar's levels (NaN grey); no per-pixel map."""
        self.set_data(rgb_a, None)
        low, high = self.levels
        values = np.asarray(values, np.float64)
        scaled = np.clip((np.nan_to_num(values) - low) / (high - low), 0.0, 1.0)
        bins = np.where(np.isfinite(values), np.round(scaled * (COLOR_BINS - 1)), COLOR_BINS)
        colors = self.colormap.map(np.linspace(0.0, 1.0, COLOR_BINS), mode="byte")
        palette = [pg.mkBrush(*color) for color in colors.tolist()] + [pg.mkBrush(UNKNOWN_BRUSH)]
        brushes = [palette[index] for index in bins.astype(int)]  # few symbols to render
        self._points = NearestPoints(points)
        self._values = values
        self.points.setData(pos=self._points.points, brush=brushes)

    def set_title(self, text: str) -> None:
        self.panel.title.setText(text)

    def set_probe(self, probe: ProbeReading | None) -> None:
        self.panel.show_probe_a(probe)

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        self.panel.show_pins(pins, "a")

    def _readout(self, x: float, y: float) -> str | None:
        """The map's value at pixel (x, y), or the nearest dot's within the snap radius."""
        values, points = self._values, self._points
        if values is None or values.size == 0:
            return None
        if points is None:
            value = values[min(round(y), values.shape[0] - 1), min(round(x), values.shape[1] - 1)]
            where = ""
        else:
            nearest = points.nearest(x, y, self.panel.snap_radius())
            if nearest is None:
                return None
            value = values[nearest]
            where = f" (match at {points.points[nearest, 0]:.1f}, {points.points[nearest, 1]:.1f})"
        if not np.isfinite(value):
            return f"({x:.0f}, {y:.0f}): none{where}"
        return f"({x:.0f}, {y:.0f}): {self.readout_format.format(value)}{where}"


def certainty_view() -> HeatmapView:
    """The certainty of every pixel of A, 0..1."""
    return HeatmapView(
        "certainty of A", certainty_colormap(), (0.0, 1.0), "certainty", "certainty {:.3f}"
    )


def error_view() -> HeatmapView:
    """The true error of every pixel of A's dense warp, 0..ERROR_SCALE_PX px."""
    return HeatmapView(
        "true error of A's warp", error_colormap(), (0.0, ERROR_SCALE_PX), "px", "error {:.2f} px"
    )
