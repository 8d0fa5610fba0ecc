"""`PairView`: images A and B side by side, linked zoom, match lines coloured by certainty or,
for a pair with ground truth, by each match's true error; the truth at the probed pixel (its
true position or its epipolar line in B) is drawn in green. Pinned probes are dots in their
colours in A and B; hovering shows the pixel, and the nearest match's other end and certainty,
in the panel's corner. In a sequence, the tracks' recent paths can be drawn over A
(:mod:`widgets.trails`), and a visual odometry run's keypoints of each frame coloured by inlier or
outlier (:mod:`widgets.vo_keypoints`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsObject,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.bench.truth import PixelTruth
from core.figures import ERROR_SCALE_PX, certainty_lut, error_lut
from core.probe import PinnedProbe, ProbeReading, covariance_ellipse
from widgets import (
    PROBE_PEN,
    ImagePanel,
    NearestPoints,
    certainty_colormap,
    emit_clicks,
    error_colormap,
)
from widgets.trails import TRAIL_COLOURINGS, TrailItems
from widgets.vo_keypoints import VoKeypointItems

if TYPE_CHECKING:  # the widgets do not import the sequence readers
    from core.sequence.tracks import Trails

COLOR_BINS = 32
"""Match lines are drawn as one path per colour bin (one pen each)."""
DEFAULT_MAX_LINES = 300
DEFAULT_TRAIL_LENGTH = 10
"""Frames a track's path reaches back by default."""
PROBE_RADIUS = 8.0
PROBE_HALO_PEN = pg.mkPen((255, 255, 255, 200), width=4)
TRUTH_PEN = pg.mkPen((40, 230, 90), width=2, style=Qt.PenStyle.DashLine)
UNKNOWN_PEN = pg.mkPen((160, 160, 160, 140), width=1)
ELLIPSE_PENS = (  # 1 sigma solid, 2 sigma dashed
    pg.mkPen((0, 255, 255), width=2),
    pg.mkPen((0, 255, 255), width=1, style=Qt.PenStyle.DashLine),
)
"""Lines of matches whose true error is unknown."""


class MatchLines(QGraphicsObject):
    """Lines from matches' A ends in view A to their B ends in view B, in scene coordinates.

    A ends are mapped through view A's transform and B ends through view B's; the paths are
    rebuilt whenever either view moves, zooms or resizes. Only matches with certainty >= the
    threshold and both ends inside their views are drawn, clipped to the two views; of those, at
    most ``max_lines`` evenly spread (zooming in shows more of a region's matches).
    """

    def __init__(self, view_a: pg.ViewBox, view_b: pg.ViewBox):
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(100)
        self._views = (view_a, view_b)
        self._matches = np.zeros((0, 4), np.float32)
        self._certainty = np.zeros(0, np.float32)
        self._color_values = self._certainty  # in [0, 1] per match; NaN: unknown (grey)
        self._threshold = 0.5
        self._max_lines = DEFAULT_MAX_LINES
        self._probe: ProbeReading | None = None
        self._truth: PixelTruth | None = None
        self._size_b: tuple[int, int] | None = None
        self._paths: list[tuple[QPen, QPainterPath]] = []
        self._probe_path = QPainterPath()
        self._truth_path = QPainterPath()
        self._rect = QRectF()
        # the lines are drawn once into a pixmap of the screen's pixels, and the probe's marks
        # by a child item of their own: a probe repaints its marks, not 300 lines
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.marks = _Marks(self)
        self._certainty_pens = [_bin_pen(certainty_lut(), index) for index in range(COLOR_BINS)]
        self._error_pens = [_bin_pen(error_lut(), index) for index in range(COLOR_BINS)]
        self._pens = self._certainty_pens
        self.drawn_count = 0
        self.probe_ends: list[QPointF | None] = []  # scene positions of the probe's A, B marks
        self.truth_ends: list[QPointF] = []  # scene positions of the truth mark or line ends
        for view in self._views:
            view.sigTransformChanged.connect(self.rebuild)
            view.geometryChanged.connect(self.rebuild)

    def set_matches(
        self, matches: np.ndarray, certainty: np.ndarray, errors: np.ndarray | None = None
    ) -> None:
        """(N, 4) matches and (N,) certainty; lines are coloured by certainty, or by the (N,)
        true ``errors`` in px when given (0..ERROR_SCALE_PX, NaN grey)."""
        self._matches, self._certainty = matches, certainty
        if errors is None:
            self._color_values, self._pens = certainty, self._certainty_pens
        else:
            self._color_values = np.clip(errors / ERROR_SCALE_PX, 0.0, 1.0)
            self._pens = self._error_pens
        self.rebuild()

    @property
    def colored_by_error(self) -> bool:
        return self._pens is self._error_pens

    def set_threshold(self, threshold: float) -> None:
        self._threshold = threshold
        self.rebuild()

    def set_max_lines(self, max_lines: int) -> None:
        self._max_lines = max_lines
        self.rebuild()

    def set_probe(
        self,
        probe: ProbeReading | None,
        truth: PixelTruth | None = None,
        size_b: tuple[int, int] | None = None,
    ) -> None:
        """Move the probe marks and the truth at the probe (in B of (H, W) ``size_b``) only;
        the match lines do not depend on the probe."""
        self._probe, self._truth, self._size_b = probe, truth, size_b
        self.marks.prepareGeometryChange()
        self._probe_path = self._build_probe_path()
        self._truth_path = self._build_truth_path()
        self.marks.update()

    def rebuild(self) -> None:
        """Recompute the scene paths from the matches and the views' current transforms."""
        self.prepareGeometryChange()
        view_a, view_b = self._views
        self._rect = view_a.sceneBoundingRect().united(view_b.sceneBoundingRect())
        keep = (
            (self._certainty >= self._threshold)
            & _inside(view_a.viewRect(), self._matches[:, :2])
            & _inside(view_b.viewRect(), self._matches[:, 2:])
        )
        keep = np.flatnonzero(keep)
        if keep.size > self._max_lines:
            keep = keep[np.linspace(0, keep.size - 1, self._max_lines).round().astype(int)]
        ends_a = _to_scene(view_a, self._matches[keep, :2])
        ends_b = _to_scene(view_b, self._matches[keep, 2:])
        values = self._color_values[keep]
        known = np.isfinite(values)
        bins = np.full(keep.size, -1)
        bins[known] = np.minimum((values[known] * COLOR_BINS).astype(int), COLOR_BINS - 1)
        self._paths = []
        for index in np.unique(bins):  # ascending: unknown first, then by colour value
            chosen = bins == index
            x = np.column_stack([ends_a[chosen, 0], ends_b[chosen, 0]]).ravel()
            y = np.column_stack([ends_a[chosen, 1], ends_b[chosen, 1]]).ravel()
            pen = UNKNOWN_PEN if index < 0 else self._pens[index]
            self._paths.append((pen, pg.arrayToQPath(x, y, connect="pairs")))
        self.drawn_count = int(keep.size)
        self.marks.prepareGeometryChange()
        self._probe_path = self._build_probe_path()
        self._truth_path = self._build_truth_path()
        self.update()

    def _build_probe_path(self) -> QPainterPath:
        """Marks at the probe's A and B ends (where visible; the clicked end a target, the
        other a circle) and a line between them."""
        view_a, view_b = self._views
        probe = self._probe
        ends = []
        if probe is not None:
            ends.append((view_a, QPointF(probe.xa, probe.ya)))
            if probe.has_match:
                ends.append((view_b, QPointF(probe.xb, probe.yb)))
        self.probe_ends = [
            view.mapViewToScene(point) if view.viewRect().contains(point) else None
            for view, point in ends
        ]
        path = QPainterPath()
        clicked = 0 if probe is None or probe.origin == "a" else 1
        for index, point in enumerate(self.probe_ends):
            if point is not None:
                path.addEllipse(point, PROBE_RADIUS, PROBE_RADIUS)
                if index != clicked:
                    continue
                for dx, dy in ((1, 0), (0, 1)):
                    offset = QPointF(dx, dy) * 1.6 * PROBE_RADIUS
                    path.moveTo(point - offset)
                    path.lineTo(point + offset)
        if len(self.probe_ends) == 2 and None not in self.probe_ends:
            path.moveTo(self.probe_ends[0])
            path.lineTo(self.probe_ends[1])
        return path

    def _build_truth_path(self) -> QPainterPath:
        """A cross at the probe's true position in B, or its epipolar line across B, within
        the part of image B that view B shows."""
        path = QPainterPath()
        self.truth_ends = []
        if self._truth is None or self._size_b is None:
            return path
        view_b = self._views[1]
        height, width = self._size_b
        shown = view_b.viewRect().intersected(QRectF(-0.5, -0.5, width, height))
        if self._truth.position_b is not None:
            point = QPointF(*self._truth.position_b)
            if np.all(np.isfinite(self._truth.position_b)) and shown.contains(point):
                centre = view_b.mapViewToScene(point)
                self.truth_ends = [centre]
                for dx, dy in ((1, 1), (1, -1)):
                    offset = QPointF(dx, dy) * PROBE_RADIUS
                    path.moveTo(centre - offset)
                    path.lineTo(centre + offset)
        elif self._truth.line_b is not None:
            ends = _clip_line(self._truth.line_b, shown)
            if ends is not None:
                self.truth_ends = [view_b.mapViewToScene(end) for end in ends]
                path.moveTo(self.truth_ends[0])
                path.lineTo(self.truth_ends[1])
        return path

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *args) -> None:
        painter.setClipRect(self._rect)
        for pen, path in self._paths:
            painter.setPen(pen)
            painter.drawPath(path)

    def paint_marks(self, painter: QPainter) -> None:
        """The probe's marks (a halo, then red) and the truth's (green, dashed)."""
        painter.setClipRect(self._rect)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pen in (PROBE_HALO_PEN, PROBE_PEN):
            painter.setPen(pen)
            painter.drawPath(self._probe_path)
        painter.setPen(TRUTH_PEN)
        painter.drawPath(self._truth_path)

    def marks_rect(self) -> QRectF:
        """The scene rectangle the probe's and the truth's marks cover, with their pens."""
        margin = PROBE_HALO_PEN.widthF() + 2
        rect = self._probe_path.boundingRect().united(self._truth_path.boundingRect())
        return rect.adjusted(-margin, -margin, margin, margin).intersected(self._rect)


class _Marks(QGraphicsObject):
    """The probe's and the truth's marks over the match lines (`MatchLines.paint_marks`)."""

    def __init__(self, lines: MatchLines):
        super().__init__(lines)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # the lines are its parent item, not an attribute: that would make a reference cycle of
        # Qt objects, which Python may collect in a worker thread (where Qt deadlocks)

    def boundingRect(self) -> QRectF:
        return self.parentItem().marks_rect()

    def paint(self, painter: QPainter, *args) -> None:
        self.parentItem().paint_marks(painter)


def _clip_line(line: tuple[float, float, float], rect: QRectF) -> tuple[QPointF, QPointF] | None:
    """The two points where the line ``a x + b y + c = 0`` crosses ``rect``'s border (None
    when it misses it)."""
    a, b, c = line
    left, right, top, bottom = rect.left(), rect.right(), rect.top(), rect.bottom()
    points = []
    if abs(b) > 1e-12:
        for x in (left, right):
            y = -(a * x + c) / b
            if top <= y <= bottom:
                points.append(QPointF(x, y))
    if abs(a) > 1e-12:
        for y in (top, bottom):
            x = -(b * y + c) / a
            if left <= x <= right:
                points.append(QPointF(x, y))
    if len(points) < 2:
        return None
    first = points[0]
    farthest = max(points[1:], key=lambda p: (p.x() - first.x()) ** 2 + (p.y() - first.y()) ** 2)
    return first, farthest


def _bin_pen(lut: np.ndarray, index: int) -> QPen:
    red, green, blue = (int(v) for v in lut[round((index + 0.5) * 255 / COLOR_BINS)])
    pen = pg.mkPen((red, green, blue, 170), width=1)
    pen.setCosmetic(True)
    return pen


def _inside(rect: QRectF, points: np.ndarray) -> np.ndarray:
    return (
        (points[:, 0] >= rect.left())
        & (points[:, 0] <= rect.right())
        & (points[:, 1] >= rect.top())
        & (points[:, 1] <= rect.bottom())
    )


def _to_scene(view: pg.ViewBox, points: np.ndarray) -> np.ndarray:
    """(N, 2) view (pixel) coordinates -> (N, 2) scene coordinates (affine transform)."""
    t = view.childGroup.sceneTransform()
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    return np.column_stack([t.m11() * x + t.m21() * y + t.dx(), t.m12() * x + t.m22() * y + t.dy()])


class PairView(QWidget):
    """A | B in one GraphicsLayoutWidget, with match lines, probe markers and a colour bar.

    ``clicked_a(x, y, snap_radius)`` reports a left click on image A in A's pixel coordinates
    (see :func:`widgets.emit_clicks`), ``clicked_b`` one on image B in B's.

    Trails (:meth:`set_trails`) have their controls in the top bar, shown from the first
    trails on: "Tracks" shows or hides them, and a change of their length or colouring emits
    ``trail_options_changed(length, colour_by)`` (the colouring applies at once). While they
    are shown, a click on A also emits ``track_clicked(x, y, snap_radius)``, for the track
    there (:meth:`core.sequence.tracks.TrackSet.track_at`).
    """

    clicked_a = Signal(float, float, float)
    clicked_b = Signal(float, float, float)
    track_clicked = Signal(float, float, float)
    trail_options_changed = Signal(int, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel_a = ImagePanel(self.canvas, 0, 0, "A", marker=False)
        self.panel_b = ImagePanel(self.canvas, 0, 1, "B", marker=False)
        self.view_a, self.view_b = self.panel_a.view, self.panel_b.view
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False, label="certainty"
        )
        self.canvas.addItem(self.color_bar, row=1, col=2)
        self._color_bar_shows: tuple[str, str | None] = ("certainty", None)
        self.threshold_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("w", width=2))
        self.color_bar.addItem(self.threshold_line)
        self.lines = MatchLines(self.view_a, self.view_b)
        self.canvas.scene().addItem(self.lines)
        self.trails = TrailItems()
        self.view_a.addItem(self.trails, ignoreBounds=True)
        # the probe's covariance (RoMa v2): 1 and 2 sigma ellipses in the answered image
        self.ellipses = {side: [] for side in "ab"}
        for side, view in (("a", self.view_a), ("b", self.view_b)):
            for pen in ELLIPSE_PENS:
                curve = pg.PlotCurveItem(pen=pen)
                curve.setZValue(11)
                view.addItem(curve, ignoreBounds=True)
                self.ellipses[side].append(curve)
        self.vo_keypoints = (VoKeypointItems(), VoKeypointItems())  # over A, over B
        self.view_a.addItem(self.vo_keypoints[0], ignoreBounds=True)
        self.view_b.addItem(self.vo_keypoints[1], ignoreBounds=True)

        self.link_box = QCheckBox("Link views")
        self.link_box.setToolTip("Show the same pixel range of A and B")
        self.link_box.toggled.connect(self.set_linked)
        self.max_lines_box = QSpinBox()
        self.max_lines_box.setRange(1, 1_000_000)
        self.max_lines_box.setValue(DEFAULT_MAX_LINES)
        self.max_lines_box.setToolTip("Most match lines drawn, evenly spread over the visible ones")
        self.max_lines_box.valueChanged.connect(self.lines.set_max_lines)
        top = QHBoxLayout()
        top.addWidget(self.link_box)
        top.addWidget(QLabel("  Lines ≤"))
        top.addWidget(self.max_lines_box)
        top.addWidget(self._make_trail_controls())
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)

        emit_clicks(self.canvas, [self.panel_a], self.clicked_a)
        emit_clicks(self.canvas, [self.panel_b], self.clicked_b)
        self.clicked_a.connect(self._on_click_a)
        self.panel_a.set_readout(self._readout, 0)
        self.panel_b.set_readout(self._readout, 1)
        self._nearest = (NearestPoints(np.zeros((0, 2))), NearestPoints(np.zeros((0, 2))))
        self.set_threshold(0.5)
        self.link_box.setChecked(True)

    def _make_trail_controls(self) -> QWidget:
        self.tracks_box = QCheckBox("Tracks")
        self.tracks_box.setToolTip("Draw the tracks' recent paths over A; click one to follow it")
        self.tracks_box.setChecked(True)
        self.tracks_box.toggled.connect(self.trails.setVisible)
        self.trail_length_box = QSpinBox()
        self.trail_length_box.setRange(2, 200)
        self.trail_length_box.setValue(DEFAULT_TRAIL_LENGTH)
        self.trail_length_box.setToolTip("Frames each track's path reaches back")
        self.trail_length_box.valueChanged.connect(self._emit_trail_options)
        self.trail_colour_box = QComboBox()
        self.trail_colour_box.addItems(TRAIL_COLOURINGS)
        self.trail_colour_box.setToolTip("Colour the paths by the tracks' age or mean certainty")
        self.trail_colour_box.currentTextChanged.connect(self._on_trail_colouring)
        self.trail_controls = QWidget()
        row = QHBoxLayout(self.trail_controls)
        row.setContentsMargins(12, 0, 0, 0)
        for widget in (
            self.tracks_box,
            QLabel("length"),
            self.trail_length_box,
            self.trail_colour_box,
        ):
            row.addWidget(widget)
        self.trail_controls.hide()  # until the first trails
        return self.trail_controls

    @property
    def trail_length(self) -> int:
        """Frames the trails should reach back (the "length" box)."""
        return self.trail_length_box.value()

    @property
    def trail_colour_by(self) -> str:
        """What colours the trails: one of ``TRAIL_COLOURINGS``."""
        return self.trail_colour_box.currentText()

    def set_trails(self, trails: Trails | None, colour_by: str | None = None) -> None:
        """Draw the tracks' recent paths over A (:meth:`TrackSet.trails
        <core.sequence.tracks.TrackSet.trails>` of A's frame), coloured by ``colour_by`` ("age"
        or "certainty"; None: the colouring box's choice); None clears them and the highlighted
        track."""
        if colour_by is not None:
            self.trail_colour_box.blockSignals(True)
            self.trail_colour_box.setCurrentText(colour_by)
            self.trail_colour_box.blockSignals(False)
        if trails is not None:
            self.trail_controls.show()
        else:
            self.trails.highlight(None)
        self.trails.set_trails(trails, self.trail_colour_by)

    def highlight_track(self, points: np.ndarray | None) -> None:
        """Draw one track's whole path through its (K, 2) pixels of A's image (thick, yellow,
        a dot at each observation); None: none."""
        self.trails.highlight(points)

    def set_vo_keypoints(self, side: int, keypoints, status) -> None:
        """A VO run's (K, 2) keypoints of the frame shown in A (``side`` 0) or B (1) with
        their (K,) statuses (`core.vo.scene.KEYPOINT_*`); None clears them."""
        self.vo_keypoints[side].set_keypoints(keypoints, status)

    def set_vo_keypoints_visible(self, visible: bool) -> None:
        for items in self.vo_keypoints:
            items.setVisible(visible)

    def _emit_trail_options(self) -> None:
        self.trail_options_changed.emit(self.trail_length, self.trail_colour_by)

    def _on_trail_colouring(self, colour_by: str) -> None:
        self.trails.set_trails(self.trails.trails, colour_by)
        self._emit_trail_options()

    def _on_click_a(self, x: float, y: float, snap_radius: float) -> None:
        if self.tracks_box.isChecked() and self.trails.trails is not None:
            self.track_clicked.emit(x, y, snap_radius)

    def set_images(
        self,
        rgb_a: np.ndarray | None,
        rgb_b: np.ndarray | None,
        name_a: str = "",
        name_b: str = "",
        keep_view: bool = False,
    ) -> None:
        """Show the pair (either may be None); titles name the files. Fits both views, unless
        ``keep_view`` and both images have the sizes they had (a sequence's next frame: the
        zoom stays)."""
        sizes = (self.panel_a.size_hw, self.panel_b.size_hw)
        for panel, rgb, label, name in (
            (self.panel_a, rgb_a, "A", name_a),
            (self.panel_b, rgb_b, "B", name_b),
        ):
            panel.set_image(rgb)
            size = f"  ({rgb.shape[1]}x{rgb.shape[0]})" if rgb is not None else ""
            panel.title.setText(f"{label}: {name}{size}" if name else label)
        # titles of equal width keep the views equally wide, so linked views show equal ranges
        width = max(self.panel_a.title.minimumWidth(), self.panel_b.title.minimumWidth())
        for panel in (self.panel_a, self.panel_b):
            panel.title.setMinimumWidth(width)
            panel.title.setPreferredWidth(width)
        if not keep_view or sizes != (self.panel_a.size_hw, self.panel_b.size_hw):
            self.fit()

    def set_matches(
        self,
        matches: np.ndarray | None,
        certainty: np.ndarray | None,
        errors: np.ndarray | None = None,
        error_name: str = "true error",
    ) -> None:
        """(N, 4) ``[xA, yA, xB, yB]`` pixels and (N,) certainty; None clears the lines. With
        (N,) true ``errors`` (px, NaN unknown) the lines and the colour bar show those."""
        if matches is None:
            matches, certainty = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        self.lines.set_matches(matches, certainty, errors)
        self._nearest = (NearestPoints(matches[:, :2]), NearestPoints(matches[:, 2:]))
        bar = ("certainty", None) if errors is None else ("error", error_name)
        if bar != self._color_bar_shows:  # redrawing the bar costs milliseconds per frame
            self._color_bar_shows = bar
            if errors is None:
                self.color_bar.setColorMap(certainty_colormap())
                self.color_bar.setLevels((0.0, 1.0))
                self.color_bar.getAxis("left").setLabel("certainty")
            else:
                self.color_bar.setColorMap(error_colormap())
                self.color_bar.setLevels((0.0, ERROR_SCALE_PX))
                self.color_bar.getAxis("left").setLabel(f"{error_name} (px)")
        self.threshold_line.setVisible(errors is None)

    @property
    def shows_errors(self) -> bool:
        """Whether the lines are coloured by true error (not certainty)."""
        return self.lines.colored_by_error

    def set_threshold(self, threshold: float) -> None:
        """Draw only matches with certainty >= ``threshold``; marked on the colour bar."""
        self.threshold_line.setPos(threshold * 256)  # the bar spans 0..256 inside its item
        self.lines.set_threshold(threshold)

    def set_probe(self, probe: ProbeReading | None, truth: PixelTruth | None = None) -> None:
        """Mark the probe's A pixel and, when it has one, its B position (drawn over the lines);
        with ``truth``, its true position or epipolar line in B (green, dashed); with a
        covariance (RoMa v2), its 1 and 2 sigma ellipses around the answer (cyan)."""
        self.lines.set_probe(probe, truth, self.panel_b.size_hw)
        for curve in (*self.ellipses["a"], *self.ellipses["b"]):
            curve.setData([], [])
        if probe is not None and probe.has_match and probe.covariance is not None:
            side = "b" if probe.origin == "a" else "a"
            centre = (probe.xb, probe.yb) if side == "b" else (probe.xa, probe.ya)
            for sigma, curve in enumerate(self.ellipses[side], start=1):
                outline = covariance_ellipse(probe.covariance, sigma) + centre
                curve.setData(outline[:, 0], outline[:, 1])

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        """Dots at the pinned probes' A and B pixels in their colours."""
        self.panel_a.show_pins(pins, "a")
        self.panel_b.show_pins(pins, "b")

    def set_linked(self, linked: bool) -> None:
        """Link zoom and pan: both views show the same pixel range."""
        self.view_b.setXLink(self.view_a if linked else None)
        self.view_b.setYLink(self.view_a if linked else None)
        self.fit()

    def fit(self) -> None:
        """Show the whole images (their union when linked)."""
        rect_a, rect_b = self.panel_a.image_rect(), self.panel_b.image_rect()
        if self.link_box.isChecked() and rect_a is not None and rect_b is not None:
            self.view_a.setRange(rect_a.united(rect_b), padding=0.02)
        else:
            self.panel_a.fit()
            self.panel_b.fit()

    def _readout(self, side: int, x: float, y: float) -> str:
        """Pixel (x, y) of A (``side`` 0) or B (1), and the match whose end there is nearest
        within the snap radius: its other end and certainty."""
        names = ("A", "B")
        text = f"{names[side]} ({x:.1f}, {y:.1f})"
        panel = (self.panel_a, self.panel_b)[side]
        nearest = self._nearest[side].nearest(x, y, panel.snap_radius())
        if nearest is not None:
            other = self.lines._matches[nearest, 2 - 2 * side : 4 - 2 * side]
            certainty = self.lines._certainty[nearest]
            text += (
                f"\nmatch → {names[1 - side]} ({other[0]:.1f}, {other[1]:.1f}), "
                f"certainty {certainty:.3f}"
            )
        return text
