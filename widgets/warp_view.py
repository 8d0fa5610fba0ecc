"""`WarpView`: the dense warp A->B as a flow colour wheel and as B warped onto A, at the scale
chosen in its selector, with the coarse warp from the anchors beside it, A's grid deformed over
B and, for symmetric results, the forward-backward consistency as a layer; for a sparse result
the flow and B's colours at its matches, as dots that keep their size at any zoom."""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSizeF, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.figures import ERROR_SCALE_PX, WarpPictures, displacement, flow_to_rgb
from core.probe import PinnedProbe, ProbeReading
from core.scales import ScaleMaps, deformed_grid
from widgets import ImagePanel, emit_clicks, error_colormap, set_colour_bar_range
from widgets.scale_selector import ScaleSelector

WHEEL_RADIUS = 24
POINT_SIZE_PX = 7
"""Diameter (screen pixels) of a sparse result's dots."""
GRID_PEN = pg.mkPen((255, 230, 0), width=1.5)
FLOW_LAYER, CONSISTENCY_LAYER = "flow colours", "forward-backward consistency"


class WarpView(QWidget):
    """Flow colours of ``displacement(warp_ab)``, those of the coarse warp from the anchors and
    B warped onto A, in A's frame, linked; then B with A's grid lines (every
    ``core.scales.GRID_STEP_PX`` px) mapped through the warp.

    B warped onto A is black where there is no match and, with "mask by threshold" checked,
    where certainty < the threshold (so are the grid's points). The layer box swaps the flow
    colours for the forward-backward consistency (pixels of A, with its colour bar) when the
    result is symmetric. ``scale_box`` offers the result's scales; the window fills it and
    listens to it. A sparse result (``set_matches``) shows a dot per match at its A pixel over
    black: its displacement's colour, and B's colour at its B end. ``clicked_a(x, y,
    snap_radius)`` reports clicks in A's pixels (see :func:`widgets.emit_clicks`).
    """

    clicked_a = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.flow_panel = ImagePanel(self.canvas, 0, 0, "flow A→B")
        self.coarse_panel = ImagePanel(self.canvas, 0, 1, "coarse warp (anchors)")
        self.warped_panel = ImagePanel(self.canvas, 0, 2, "B warped onto A")
        self.grid_panel = ImagePanel(self.canvas, 0, 3, "A's grid on B")
        _link_zoom([self.flow_panel.view, self.coarse_panel.view, self.warped_panel.view])
        self.consistency = pg.ImageItem(axisOrder="row-major")
        self.consistency.setZValue(1)  # over the flow colours
        self.flow_panel.view.addItem(self.consistency)
        self.color_bar = pg.ColorBarItem(
            values=(0.0, ERROR_SCALE_PX), colorMap=error_colormap(), interactive=False
        )
        set_colour_bar_range(self.color_bar, (0.0, ERROR_SCALE_PX), "px of A")
        self.color_bar.setImageItem(self.consistency)
        self.canvas.addItem(self.color_bar, row=1, col=4)
        self.grid_curve = pg.PlotCurveItem(pen=GRID_PEN, connect="finite")
        self.grid_curve.setZValue(5)
        self.grid_panel.view.addItem(self.grid_curve)
        self.scale_box = ScaleSelector()
        self.layer_box = QComboBox()
        self.layer_box.addItems([FLOW_LAYER, CONSISTENCY_LAYER])
        self.layer_box.setToolTip(
            "Left panel: the flow colours, or |warp_ba(warp_ab(x)) − x| in pixels of A "
            "(symmetric results)"
        )
        self.layer_box.currentIndexChanged.connect(self._update_layer)
        self.wheel = QLabel()
        self.wheel.setPixmap(_wheel_pixmap(WHEEL_RADIUS))
        self.wheel.setToolTip("hue: direction of the displacement; saturation: its length")
        self.legend = QLabel()
        self.mask_box = QCheckBox("Mask by threshold")
        self.mask_box.setChecked(True)
        self.mask_box.toggled.connect(self._update_warped)
        header = QHBoxLayout()
        header.addWidget(QLabel("Scale"))
        header.addWidget(self.scale_box)
        header.addWidget(self.layer_box)
        header.addWidget(self.wheel)
        header.addWidget(self.legend, 1)
        header.addWidget(self.mask_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        emit_clicks(
            self.canvas, [self.flow_panel, self.coarse_panel, self.warped_panel], self.clicked_a
        )
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
        self._maps: ScaleMaps | None = None  # the scale's extras (set_data with maps)
        self._suffix = ""  # the flow panel's title names the scale
        self._scale_px = 1.0  # flow colours are fully saturated at this length
        self._threshold = 0.5
        self._clear_scale_maps()

    @property
    def shown_maps(self) -> ScaleMaps | None:
        """The scale's maps the view shows (:meth:`set_data` with maps); None without them."""
        return self._maps

    @property
    def consistency_shown(self) -> bool:
        """Whether the left panel shows the forward-backward consistency layer."""
        maps = self._maps
        return (
            maps is not None
            and maps.warp_ba is not None
            and (self.layer_box.currentText() == CONSISTENCY_LAYER)
        )

    def set_data(
        self,
        pictures: WarpPictures | None,
        certainty_ab: np.ndarray | None,
        maps: ScaleMaps | None = None,
        rgb_b: np.ndarray | None = None,
        title: str = "",
    ) -> None:
        """The warp's pictures (:func:`core.figures.warp_pictures`) and its (H_A, W_A)
        certainty; None clears the view. With the scale's ``maps`` (whose warp the pictures
        show) and ``rgb_b`` ((H_B, W_B, 3) uint8) also the coarse warp from the anchors
        (coloured on the same scale as the flow), A's grid deformed over ``rgb_b`` and the
        consistency layer; ``title`` names the scale."""
        self._sparse = None
        self.flow_points.clear()
        if pictures is None:
            self._warped = self._certainty = None
            self.flow_panel.set_image(None)
            self.legend.setText("")
        else:
            self.flow_panel.set_image(pictures.flow_rgb)
            self._scale_px = scale = pictures.scale_px
            self.legend.setText(f"direction = hue, length = saturation (full at {scale:.1f} px)")
            self._warped, self._certainty = pictures.warped_b, certainty_ab
        if maps is None or pictures is None:
            self._clear_scale_maps()
        else:  # every title set once (a title set twice is laid out twice)
            self._set_scale_maps(maps, rgb_b, title)
        self._update_warped()

    def _set_scale_maps(self, maps: ScaleMaps, rgb_b: np.ndarray, title: str) -> None:
        self._maps = maps
        self._suffix = f" ({title})" if title else ""
        if maps.coarse_warp is None:
            self.coarse_panel.set_image(None)
            self.coarse_panel.title.setText("coarse warp (anchors: run with intermediates)")
        else:
            flow = displacement(maps.coarse_warp)
            self.coarse_panel.set_image(flow_to_rgb(flow, max_magnitude=self._scale_px))
            self.coarse_panel.title.setText("coarse warp (anchors)")
        self.grid_panel.set_image(rgb_b)
        self.grid_panel.title.setText("A's grid on B")
        symmetric = maps.warp_ba is not None
        self.layer_box.model().item(1).setEnabled(symmetric)
        if not symmetric and self.layer_box.currentIndex() == 1:
            self.layer_box.setCurrentIndex(0)
        self._update_layer()

    def _clear_scale_maps(self) -> None:
        self._maps, self._suffix = None, ""
        self.coarse_panel.set_image(None)  # a sparse result (or none) has neither
        self.coarse_panel.title.setText("coarse warp (anchors: a dense result)")
        self.grid_panel.set_image(None)
        self.grid_panel.title.setText("A's grid on B (a dense result)")
        self.grid_curve.setData([], [])
        self.consistency.clear()
        self.layer_box.model().item(1).setEnabled(False)
        self._update_layer()

    def _update_layer(self) -> None:
        """Show the consistency (and its colour bar) over the flow colours when chosen; it is
        computed then (once per scale shown), not for every result."""
        maps, shown = self._maps, self.consistency_shown
        if shown and self.consistency.image is not maps.consistency:
            self.consistency.setImage(
                maps.consistency, autoLevels=False, levels=(0.0, ERROR_SCALE_PX)
            )
            height, width = maps.consistency.shape
            self.consistency.setRect(-0.5, -0.5, width, height)
        self.consistency.setVisible(shown)
        self.color_bar.setVisible(shown)
        self.flow_panel.image.setVisible(not shown)
        text = "forward-backward consistency" if shown else "flow A→B"
        self.flow_panel.title.setText(text + self._suffix)

    def _update_grid(self) -> None:
        if self._maps is None:
            self.grid_curve.setData([], [])
            return
        threshold = self._threshold if self.mask_box.isChecked() else 0.0
        points = deformed_grid(self._maps.warp, self._maps.certainty, threshold)
        self.grid_curve.setData(points[:, 0], points[:, 1], connect="finite")

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
        self._clear_scale_maps()
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
        for panel in (self.flow_panel, self.coarse_panel, self.warped_panel):
            panel.show_probe_a(probe)
        nan = float("nan")
        self.grid_panel.set_marker(*((probe.xb, probe.yb) if probe else (nan, nan)))

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        for panel in (self.flow_panel, self.coarse_panel, self.warped_panel):
            panel.show_pins(pins, "a")
        self.grid_panel.show_pins(pins, "b")

    def _update_warped(self) -> None:
        self._update_grid()
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
            kept = (self._certainty >= self._threshold).view(np.uint8)
            image = cv2.copyTo(image, kept)  # black where not kept (20x np.where's speed)
        self.warped_panel.set_image(image)


def _link_zoom(views: list[pg.ViewBox]) -> None:
    """The user's zoom and pan in any of ``views`` (aspect-locked, showing one frame) is shown
    by all: the same centre at the same screen pixels per image pixel.

    pyqtgraph's ``setXLink`` / ``setYLink`` line linked views up on screen instead; with the
    aspect locked and panels whose widths change (a title, a colour bar shown), each change
    widened their ranges further.
    """

    def follow(source: pg.ViewBox) -> None:
        rect, width = source.viewRect(), max(source.width(), 1.0)
        per_pixel = rect.width() / width
        for view in views:
            if view is not source:
                size = QSizeF(view.width() * per_pixel, view.height() * per_pixel)
                shown = QRectF(QPointF(0.0, 0.0), size)
                shown.moveCenter(rect.center())
                view.setRange(shown, padding=0.0)

    for view in views:
        view.sigRangeChangedManually.connect(lambda _mask, view=view: follow(view))


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
