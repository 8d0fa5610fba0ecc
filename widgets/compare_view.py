"""`CompareView`: two runs on one pair side by side, with what differs between them (the Compare
dock).

Two combo boxes choose the runs (from those the window lists: this session's runs on the pair);
two panels show each run, with linked zoom, as chosen by "Show": over A its certainty (a dense
run) or its matches coloured by certainty (a sparse one), over B its matches' B ends, or, with
ground truth, its errors, both runs on one colour scale with one colour bar in pixels. A third
panel, linked to them while they show A, shows what differs: for two dense runs the end-point
difference of their warps (pixels of B) or their certainty difference (run 1 - run 2, on a
diverging scale centred on 0); for a sparse run against a dense one, each sparse match's distance
to the dense warp at its A end (pixels of B), as dots, summarised under the panels. The text at
the bottom gives both runs' answers at the probe.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from core.compare import Comparison, ProbeComparison
from core.probe import ProbeReading
from core.run_store import Run
from widgets import (
    ImagePanel,
    certainty_colormap,
    error_colormap,
    grey,
    set_colour_bar_range,
)

SHOW_CERTAINTY, SHOW_B, SHOW_ERRORS = "A: certainty / matches", "B: matches", "A: true error"
SHOW_MODES = (SHOW_CERTAINTY, SHOW_B, SHOW_ERRORS)
DIFF_WARP, DIFF_CERTAINTY = "warp end-point difference", "certainty difference"
DIFF_MODES = (DIFF_WARP, DIFF_CERTAINTY)
HEATMAP_OPACITY = 0.65
POINT_SIZE_PX = 7
COLOR_BINS = 64
UNKNOWN_BRUSH = (160, 160, 160, 200)


def diverging_colormap() -> pg.ColorMap:
    """Blue (negative) - white (0) - red (positive), for differences on levels centred on 0."""
    return pg.colormap.get("CET-D1")


def point_brushes(colormap: pg.ColorMap, levels: tuple[float, float], values: np.ndarray):
    """A brush per value on ``colormap`` over ``levels`` (NaN: grey), from ``COLOR_BINS``."""
    low, high = levels
    values = np.asarray(values, np.float64)
    scaled = np.clip((np.nan_to_num(values) - low) / max(high - low, 1e-12), 0.0, 1.0)
    bins = np.where(np.isfinite(values), np.round(scaled * (COLOR_BINS - 1)), COLOR_BINS)
    colors = colormap.map(np.linspace(0.0, 1.0, COLOR_BINS), mode="byte")
    palette = [pg.mkBrush(*color) for color in colors.tolist()] + [pg.mkBrush(UNKNOWN_BRUSH)]
    return [palette[index] for index in bins.astype(int)]


class _Layer:
    """A panel with a map (ImageItem over the grey image) and dots (ScatterPlotItem)."""

    def __init__(self, canvas: pg.GraphicsLayoutWidget, col: int, title: str):
        self.panel = ImagePanel(canvas, 0, col, title)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setOpacity(HEATMAP_OPACITY)
        self.panel.view.addItem(self.heatmap)
        self.points = pg.ScatterPlotItem(pxMode=True, size=POINT_SIZE_PX, pen=None)
        self.points.setZValue(5)  # over the image, under the probe marker
        self.panel.view.addItem(self.points)

    def show(self, title: str, rgb: np.ndarray | None) -> None:
        """Title and grey image (None: empty); clears map and dots."""
        self.panel.title.setText(title)
        gray = grey(rgb)
        self.panel.set_image(gray)
        self.heatmap.clear()
        self.points.clear()

    def show_map(self, values: np.ndarray, levels: tuple[float, float]) -> None:
        self.heatmap.setImage(values, autoLevels=False, levels=levels)
        height, width = values.shape
        self.heatmap.setRect(-0.5, -0.5, width, height)

    def show_points(self, points, values, colormap: pg.ColorMap, levels) -> None:
        brushes = point_brushes(colormap, levels, values)
        self.points.setData(pos=np.asarray(points, np.float64).reshape(-1, 2), brush=brushes)


class CompareView(QWidget):
    """See the module docstring. ``runs_chosen(run_1, run_2)`` reports the user's choice of runs
    (their ``run_id``); ``clicked_a(x, y, snap_radius)`` a left click on a panel showing A."""

    runs_chosen = Signal(int, int)
    clicked_a = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.layers = [_Layer(self.canvas, col, f"run {col + 1}") for col in (0, 1)]
        self.diff = _Layer(self.canvas, 3, "difference")
        first, second = (layer.panel.view for layer in self.layers)
        second.setXLink(first)
        second.setYLink(first)
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False
        )
        self.color_bar.setImageItem([layer.heatmap for layer in self.layers])
        self.canvas.addItem(self.color_bar, row=1, col=2)
        self.diff_bar = pg.ColorBarItem(values=(0, 1), colorMap=error_colormap(), interactive=False)
        self.diff_bar.setImageItem(self.diff.heatmap)
        self.canvas.addItem(self.diff_bar, row=1, col=4)
        self.run_boxes = [QComboBox(), QComboBox()]
        for index, box in enumerate(self.run_boxes):
            box.setToolTip(f"Run {index + 1}: one of this session's runs on this pair")
            box.setMinimumContentsLength(18)
            box.activated.connect(self._on_runs_chosen)
        self.show_box = QComboBox()
        self.show_box.addItems(SHOW_MODES)
        self.show_box.setToolTip("What the two run panels show")
        self.diff_box = QComboBox()
        self.diff_box.addItems(DIFF_MODES)
        self.diff_box.setToolTip("What the difference panel shows for two dense runs")
        for box in (self.show_box, self.diff_box):
            box.currentIndexChanged.connect(self._draw)
        header = QHBoxLayout()
        for text, box in zip(("Run 1", "Run 2"), self.run_boxes, strict=True):
            header.addWidget(QLabel(text))
            header.addWidget(box, 1)
        header.addWidget(self.show_box)
        header.addWidget(self.diff_box)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.probe_text = QPlainTextEdit()
        self.probe_text.setReadOnly(True)
        self.probe_text.setMaximumHeight(64)
        self.probe_text.setPlaceholderText("both runs' answers at the probe")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.probe_text)
        self.canvas.scene().sigMouseClicked.connect(self._on_click)
        self._images: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self._runs: tuple[Run, Run] | None = None
        self._comparison: Comparison | None = None
        self._probe: ProbeComparison | None = None
        self._draw()

    # inputs -------------------------------------------------------------------------------------

    def set_runs(self, runs: list[Run], first: int, second: int) -> None:
        """List ``runs`` in both boxes with runs ``first`` and ``second`` (ids) chosen; no
        `runs_chosen` is emitted."""
        for box, chosen in zip(self.run_boxes, (first, second), strict=True):
            blocked = box.blockSignals(True)
            box.clear()
            for run in runs:
                box.addItem(run.title, run.run_id)
            box.setCurrentIndex(max(box.findData(chosen), 0 if runs else -1))
            box.blockSignals(blocked)

    def chosen(self) -> tuple[int, int]:
        """The ids of the runs chosen in the boxes (0 where none)."""
        return tuple(int(box.currentData() or 0) for box in self.run_boxes)

    def set_data(
        self,
        rgb_a: np.ndarray | None,
        rgb_b: np.ndarray | None,
        runs: tuple[Run, Run] | None,
        comparison: Comparison | None,
    ) -> None:
        """The pair's images and the two runs with their :class:`Comparison` (None: nothing to
        compare, e.g. fewer than two runs)."""
        self._images = rgb_a, rgb_b
        self._runs, self._comparison = runs, comparison
        self._probe = None
        self._draw()

    def set_probe(self, probe: ProbeComparison | None) -> None:
        """Both runs' answers at the probe (None: no probe), marked and written out."""
        self._probe = probe
        self._show_probe()

    # drawing ------------------------------------------------------------------------------------

    def _on_runs_chosen(self) -> None:
        self.runs_chosen.emit(*self.chosen())

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        panels = [self.diff.panel]
        if self.show_box.currentText() != SHOW_B:
            panels += [layer.panel for layer in self.layers]
        for panel in panels:
            point = panel.pixel_at(event.scenePos())
            if point is not None:
                self.clicked_a.emit(point.x(), point.y(), panel.snap_radius())
                return

    def _draw(self) -> None:
        runs, comparison = self._runs, self._comparison
        both_dense = runs is not None and not any(run.result.is_sparse for run in runs)
        self.diff_box.setEnabled(both_dense)
        if runs is None or comparison is None:
            for layer in (*self.layers, self.diff):
                layer.show("", None)
            self.summary.setText(
                "Choose two runs on this pair (run two matchers, or one with other settings)."
            )
            self._show_probe()
            return
        show_b = self.show_box.currentText() == SHOW_B
        diff_view, first_view = self.diff.panel.view, self.layers[0].panel.view
        diff_view.setXLink(None if show_b else first_view)
        diff_view.setYLink(None if show_b else first_view)
        for layer, run in zip(self.layers, runs, strict=True):
            self._draw_run(layer, run)
        self._draw_difference()
        self._show_probe()

    def _draw_run(self, layer: _Layer, run: Run) -> None:
        rgb_a, rgb_b = self._images
        result, mode = run.result, self.show_box.currentText()
        if mode == SHOW_B:
            layer.show(f"{run.title}: matches in B", rgb_b)
            self._run_scale(certainty_colormap(), (0.0, 1.0), "certainty")
            layer.show_points(
                result.matches[:, 2:], result.match_certainty, certainty_colormap(), (0, 1)
            )
        elif mode == SHOW_ERRORS:
            levels = self._comparison.error_levels
            if levels is None:
                layer.show(f"{run.title}: no ground truth (open a benchmark pair)", rgb_a)
                return
            errors, colormap = run.truth_errors, error_colormap()
            self._run_scale(colormap, levels, "px (true error)")
            layer.show(f"{run.title}: true error", rgb_a)
            if errors.dense is None:
                layer.show_points(result.matches[:, :2], errors.matches, colormap, levels)
            else:
                layer.show_map(errors.dense, levels)
        else:
            self._run_scale(certainty_colormap(), (0.0, 1.0), "certainty")
            if result.is_sparse:
                layer.show(f"{run.title}: matches", rgb_a)
                layer.show_points(
                    result.matches[:, :2], result.match_certainty, certainty_colormap(), (0, 1)
                )
            else:
                layer.show(f"{run.title}: certainty", rgb_a)
                layer.show_map(result.certainty_ab, (0.0, 1.0))

    def _run_scale(self, colormap: pg.ColorMap, levels: tuple[float, float], label: str) -> None:
        """One colour bar, one scale, for both run panels."""
        self.color_bar.setColorMap(colormap)
        set_colour_bar_range(self.color_bar, levels, label)

    def _draw_difference(self) -> None:
        rgb_a = self._images[0]
        comparison, layer = self._comparison, self.diff
        self.summary.setText("")
        if comparison.sparse_distances is not None:
            sparse = self._runs[comparison.sparse_run - 1]
            layer.show(f"distance of run {comparison.sparse_run}'s matches to the warp", rgb_a)
            levels = comparison.levels["sparse_distances"]
            self.diff_bar.setColorMap(error_colormap())
            set_colour_bar_range(self.diff_bar, levels, "px of B")
            layer.show_points(
                sparse.result.matches[:, :2], comparison.sparse_distances, error_colormap(), levels
            )
            self.summary.setText(
                f"Run {comparison.sparse_run} against the warp of the other: "
                f"{comparison.summary.text()}"
            )
        elif comparison.warp_difference is None:
            layer.show("two sparse runs: no dense warp to compare with", None)
        elif self.diff_box.currentText() == DIFF_WARP:
            self.summary.setText(f"End-point difference: {comparison.summary.text('pixels of A')}")
            levels = comparison.levels["warp_difference"]
            layer.show("end-point difference of the warps", rgb_a)
            self.diff_bar.setColorMap(error_colormap())
            set_colour_bar_range(self.diff_bar, levels, "px of B")
            layer.show_map(comparison.warp_difference, levels)
        else:
            levels = comparison.levels["certainty_difference"]
            layer.show("certainty of run 1 - run 2", rgb_a)
            self.diff_bar.setColorMap(diverging_colormap())
            set_colour_bar_range(self.diff_bar, levels, "certainty difference")
            layer.show_map(comparison.certainty_difference, levels)

    def _show_probe(self) -> None:
        probe, runs = self._probe, self._runs
        panels = [layer.panel for layer in self.layers]
        if probe is None or runs is None:
            for panel in (*panels, self.diff.panel):
                panel.set_marker(float("nan"), float("nan"))
            self.probe_text.setPlainText("")
            return
        show_b = self.show_box.currentText() == SHOW_B
        for panel, reading in zip(panels, probe.readings, strict=True):
            panel.set_marker(*((reading.xb, reading.yb) if show_b else (reading.xa, reading.ya)))
        first = probe.readings[0]
        self.diff.panel.set_marker(first.xa, first.ya)
        lines = [
            _answer(index + 1, run, reading, error)
            for index, (run, reading, error) in enumerate(
                zip(runs, probe.readings, probe.errors, strict=True)
            )
        ]
        if probe.distance_at is not None:
            x, y = probe.distance_at
            lines.append(f"at A ({x:.0f}, {y:.0f}) the runs are {probe.distance:.2f} px apart in B")
        self.probe_text.setPlainText("\n".join(lines))


def _answer(index: int, run: Run, reading: ProbeReading, error: float) -> str:
    """ "run 1 (3: sift): A (10, 20) -> B (16.2, 24.0), certainty 0.87, true error 0.41 px"."""
    where = f"run {index} ({run.title}): A ({reading.xa:.0f}, {reading.ya:.0f})"
    if not reading.has_match:
        return f"{where}: no match"
    text = f"{where} -> B ({reading.xb:.1f}, {reading.yb:.1f}), certainty {reading.certainty:.2f}"
    if np.isfinite(error):
        text += f", true error {error:.2f} px"
    return text
