"""`SequenceStatsView`: a sequence's per-pair statistics (:class:`core.sequence.matching.PairStats`)
as plots stacked over one x axis, the position of each pair's frame A in the sequence: matches
and inliers, inlier ratio, mean certainty, seconds and, with ground truth, the pose error; with a
visual odometry run (`core.vo.scene.VoScene`), its per-frame series below them: 2D-3D matches
and PnP inliers, reprojection error and, with ground truth, the pose error. A click asks for
the nearest pair's (or VO frame's) position; the rows export as ``stats.csv``."""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.sequence.matching import PairStats, write_stats_csv

COLUMNS = ("matches", "inliers", "inlier_ratio", "mean_certainty", "seconds", "pose_error_deg")
"""The plotted fields of a :class:`PairStats`, in the order of the columns of the values."""
PLOTS = (
    ("matches", ("matches", "inliers"), None),
    ("inlier ratio", ("inlier_ratio",), (0.0, 1.0)),
    ("mean certainty", ("mean_certainty",), (0.0, 1.0)),
    ("seconds", ("seconds",), None),
    ("pose error °", ("pose_error_deg",), None),
)
"""Each plot, top to bottom: its axis label, its curves (fields) and its fixed y range (None:
fit to the visible pairs)."""
VO_PLOTS = (
    ("VO 2D-3D", ("vo_matches", "vo_inliers"), None),
    ("VO reproj. px", ("vo_reprojection_error_px",), None),
    ("VO pose error m", ("vo_pose_error_m",), None),
)
"""The VO run's plots, below the pairs' (fields: a scene's stats columns, prefixed ``vo_``)."""
COLOURS = {
    "matches": (100, 160, 255),
    "inliers": (255, 170, 60),
    "inlier_ratio": (80, 200, 120),
    "mean_certainty": (190, 130, 255),
    "seconds": (200, 200, 200),
    "pose_error_deg": (255, 90, 90),
    "vo_matches": (100, 160, 255),
    "vo_inliers": (40, 230, 90),
    "vo_reprojection_error_px": (255, 170, 60),
    "vo_pose_error_m": (255, 90, 90),
}
SYMBOL_SIZE_PX = 5
CURSOR_PEN = pg.mkPen((255, 220, 0), width=1.5, style=Qt.PenStyle.DashLine)
X_LABEL = "position of frame A"
EMPTY_TEXT = "Open a sequence: a point per matched pair appears here"


class SequenceStatsView(QWidget):
    """One point per matched pair (line + symbols) at the position of its frame A, in plots
    that share the x axis; the pose error plot shows only when some row has a pose error
    (``pose_error_deg`` not None). A vertical line marks the current position in every plot.

    frame_clicked(position): a left click in a plot, on a point or anywhere: the position of
    the pair nearest in x. error(message): one line, when the CSV cannot be written.

    Rows arrive one by one (`add_row`) as a sequence is matched: they are kept sorted by
    position in numpy arrays and the curves are redrawn once per pass of the event loop.
    """

    frame_clicked = Signal(int)
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.plots: list[pg.PlotItem] = []  # the pairs'
        self.vo_plots: list[pg.PlotItem] = []  # the VO run's, below
        self.lines: dict[str, pg.PlotCurveItem] = {}  # by field: every row, sorted
        self.points: dict[str, pg.ScatterPlotItem] = {}  # by field: the finite values
        self.vo_lines: dict[str, pg.PlotCurveItem] = {}  # by field: every frame of the run
        self.cursors: list[pg.InfiniteLine] = []  # the pairs' plots'
        self.vo_cursors: list[pg.InfiniteLine] = []
        for row, (label, fields, y_range) in enumerate(PLOTS):
            self.plots.append(self._add_plot(row, label, fields, y_range, True))
        for row, (label, fields, y_range) in enumerate(VO_PLOTS, len(PLOTS)):
            self.vo_plots.append(self._add_plot(row, label, fields, y_range, False))
        self.pose_plot = self.plots[-1]
        self._vo_positions = np.zeros(0, np.int64)  # (N,) the VO run's frames; none: no run
        self.summary = QLabel()
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("The rows as stats.csv (as match-sequence writes it)")
        self.export_button.clicked.connect(self._request_export)
        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #888;")
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.canvas, 1)
        self.canvas.scene().sigMouseClicked.connect(self._on_click)
        self._positions = np.zeros(0, np.int64)  # (N,) ascending
        self._values = np.zeros((0, len(COLUMNS)), np.float64)  # (N, COLUMNS), NaN: none
        self._stats: list[PairStats] = []  # in the order of _positions
        self._new_positions: list[int] = []  # added since the last redraw, not yet as points
        self._points_stale = False  # a row replaced: the points are drawn anew
        self._redraw_timer = QTimer(self)  # a single redraw for the rows of one event loop pass
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self._redraw)
        self._redraw()

    def _add_plot(self, row, label, fields, y_range, pairs: bool) -> pg.PlotItem:
        """A plot of ``fields`` (the pairs' with ``pairs``, else the VO run's) at ``row``."""
        plot = self.canvas.addPlot(row=row, col=0)
        plot.setLabel("left", label)
        plot.setLabel("bottom", X_LABEL)  # shown on the lowest plot only (`_label_lowest`)
        plot.setMouseEnabled(x=True, y=False)
        plot.showGrid(x=True, y=True, alpha=0.2)
        if self.plots:
            plot.setXLink(self.plots[0])
        if y_range is None:
            plot.setAutoVisible(y=True)  # fit y to the pairs in view when zoomed in x
        else:
            plot.setYRange(*y_range, padding=0.05)
        legend = plot.addLegend(offset=(-10, 5)) if len(fields) > 1 else None
        for field in fields:
            colour = COLOURS[field]
            # a NaN (no certainty, no pose) breaks the line
            line = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), connect="finite")
            plot.addItem(line)
            if pairs:
                points = pg.ScatterPlotItem(size=SYMBOL_SIZE_PX, pen=None, brush=colour)
                plot.addItem(points)
                self.lines[field], self.points[field] = line, points
            else:
                self.vo_lines[field] = line
            if legend is not None:
                legend.addItem(line, field)
        for name in ("left", "bottom"):  # their grid spans the plot: cached, a cursor
            axis = plot.getAxis(name)  # move repaints it from a pixmap (15 ms less)
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        cursor = pg.InfiniteLine(angle=90, movable=False, pen=CURSOR_PEN)
        cursor.hide()
        plot.addItem(cursor, ignoreBounds=True)
        (self.cursors if pairs else self.vo_cursors).append(cursor)
        plot.setVisible(pairs)
        return plot

    # inputs -------------------------------------------------------------------------------------

    @property
    def rows(self) -> list[tuple[int, PairStats]]:
        """Every (position, stats), in position order."""
        return list(zip(self._positions.tolist(), self._stats, strict=True))

    def add_row(self, position: int, stats: PairStats) -> None:
        """Add the pair whose frame A is at ``position`` (replacing the row at that position);
        the curves are redrawn when the event loop next runs."""
        index = int(np.searchsorted(self._positions, position))
        values = _values(stats)
        if index < len(self._positions) and self._positions[index] == position:
            self._values[index] = values
            self._stats[index] = stats
            self._points_stale = True
        else:
            self._positions = np.insert(self._positions, index, position)
            self._values = np.insert(self._values, index, values, axis=0)
            self._stats.insert(index, stats)
            self._new_positions.append(position)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def set_rows(self, rows: list[tuple[int, PairStats]]) -> None:
        """Show ``rows`` (position, stats) instead (the last of a position wins); redrawn now."""
        by_position = dict(sorted(dict(rows).items()))
        self._positions = np.fromiter(by_position, np.int64, len(by_position))
        self._stats = list(by_position.values())
        self._values = np.array([_values(stats) for stats in self._stats], np.float64)
        self._values = self._values.reshape(-1, len(COLUMNS))
        self._points_stale = True
        self._redraw()

    def clear(self) -> None:
        """No rows (the empty state); the cursor stays where it is."""
        self.set_rows([])

    def set_vo_scene(self, scene) -> None:
        """Plot a VO run's per-frame series (a `core.vo.scene.VoScene`; None: no VO plots)."""
        if scene is None:
            self._vo_positions = np.zeros(0, np.int64)
            for line in self.vo_lines.values():
                line.setData([], [])
        else:
            self._vo_positions = np.arange(len(scene), dtype=np.int64)
            stats = scene.stats
            columns = {
                "vo_matches": stats.get("matches"),
                "vo_inliers": stats.get("inliers"),
                "vo_reprojection_error_px": stats.get("reprojection_error_px"),
                "vo_pose_error_m": scene.pose_error_m,
            }
            for field, line in self.vo_lines.items():
                values = columns[field]
                values = None if values is None else np.asarray(values, np.float64)
                if values is None or not np.isfinite(values).any():
                    line.setData([], [])
                else:
                    line.setData(self._vo_positions, values)
        self._redraw()

    def vo_series(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """What the VO plot draws of ``field`` (one of `VO_PLOTS`' fields): (x, y) arrays."""
        x, y = self.vo_lines[field].getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (x, y)

    def set_cursor(self, position: int) -> None:
        """Mark ``position`` with the vertical line of every plot."""
        for cursor in (*self.cursors, *self.vo_cursors):
            cursor.setPos(position)
            cursor.show()

    def export_csv(self, path: str | os.PathLike) -> None:
        """Write the rows to ``path`` as ``stats.csv`` (with ``pose_error_deg`` when some row
        has one); ``error`` when it cannot be written."""
        try:
            write_stats_csv(self._stats, path, with_pose=self._with_pose())
        except OSError as exc:
            self.error.emit(f"{path}: cannot write the statistics ({exc.strerror or exc})")

    def _request_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the pair statistics", "stats.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_csv(path)

    # drawing ------------------------------------------------------------------------------------

    def _with_pose(self) -> bool:
        return any(stats.pose_error_deg is not None for stats in self._stats)

    def _redraw(self) -> None:
        """Every line anew (cheap), and the points of the rows added since the last redraw (a
        scatter's points cost far more: all of them only after a row was replaced)."""
        self._redraw_timer.stop()
        if self._points_stale:
            self._new_positions.clear()
            for points in self.points.values():
                points.clear()
            added = np.arange(len(self._positions))
        else:
            added = np.searchsorted(self._positions, self._new_positions)
            self._new_positions.clear()
        self._points_stale = False
        for field, line in self.lines.items():
            values = self._values[:, COLUMNS.index(field)].copy()  # the line keeps it
            if np.isfinite(values).any():  # pyqtgraph warns about bounds of NaN only
                line.setData(self._positions, values)
            else:
                line.setData([], [])
            new = values[added]
            finite = np.isfinite(new)
            if finite.any():
                self.points[field].addPoints(x=self._positions[added][finite], y=new[finite])
        with_pose = self._with_pose()
        count = len(self._positions)
        with_vo = len(self._vo_positions) > 0
        for plot in self.plots:
            plot.setVisible(count > 0 and (plot is not self.pose_plot or with_pose))
        for plot, (_, fields, _) in zip(self.vo_plots, VO_PLOTS, strict=True):
            drawn = any(len(self.vo_series(field)[0]) for field in fields)
            plot.setVisible(with_vo and drawn)
        shown = [plot for plot in (*self.plots, *self.vo_plots) if plot.isVisible()]
        for plot in (*self.plots, *self.vo_plots):
            plot.getAxis("bottom").showLabel(bool(shown) and plot is shown[-1])
        self.empty_label.setVisible(not shown)
        self.canvas.setVisible(bool(shown))
        self.export_button.setEnabled(count > 0)
        self.summary.setText(self._summary(with_pose) if count else "")

    def _summary(self, with_pose: bool) -> str:
        """ "N pairs · median inliers … · median pose error …"."""
        inliers = self._values[:, COLUMNS.index("inliers")]
        text = f"{len(inliers)} pairs · median inliers {np.median(inliers):.0f}"
        if with_pose:
            errors = self._values[:, COLUMNS.index("pose_error_deg")]
            errors = errors[np.isfinite(errors)]
            text += " · median pose error " + (f"{np.median(errors):.2f}°" if len(errors) else "–")
            if len(errors) < len(inliers):
                text += f" ({len(inliers) - len(errors)} without a pose)"
        return text

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not len(self._positions) and not len(self._vo_positions):
            return
        for plot in (*self.plots, *self.vo_plots):
            if plot.isVisible() and plot.vb.sceneBoundingRect().contains(event.scenePos()):
                x = plot.vb.mapSceneToView(event.scenePos()).x()
                self.frame_clicked.emit(self._nearest_position(x))
                return

    def _nearest_position(self, x: float) -> int:
        """The position of a row (or a VO frame) nearest to ``x`` (the lower one on a tie)."""
        positions = np.union1d(self._positions, self._vo_positions)
        index = int(np.searchsorted(positions, x))
        candidates = positions[max(index - 1, 0) : index + 1]
        return int(candidates[np.argmin(np.abs(candidates - x))])


def _values(stats: PairStats) -> np.ndarray:
    """The (COLUMNS,) values of a row (NaN for no pose error)."""
    return np.array(
        [np.nan if (v := getattr(stats, field)) is None else v for field in COLUMNS], np.float64
    )
