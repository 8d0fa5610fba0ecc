"""`AnchorView`, the anchor inspector: RoMa's anchor distribution for the probed pixel, its
modes, the anchors of the coarse estimate and the path of the estimate through the refiners."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.anchor_probe import (
    MAX_MODES,
    NEIGHBOURS,
    AnchorInspection,
    has_anchors,
    inspect_anchors,
    logits_key,
)
from core.figures import certainty_lut
from core.probe import PinnedProbe, ProbeReading
from core.result import MatchResult
from core.tokens import patch_cell
from widgets import ImagePanel, certainty_colormap, grey, set_colour_bar_range

ANCHOR_OPACITY = 0.8  # alpha of the most likely anchor; the others in proportion
ANCHOR_PEN = pg.mkPen((255, 255, 255), width=2)
MODE_COLOR = (255, 150, 0)
MODE_PEN = pg.mkPen(MODE_COLOR, width=2)
MODE_SIZE_PX = (10.0, 48.0)
"""Diameter (screen pixels) of a mode's circle at probability 0 and 1 (by its square root)."""
MIN_DRAWN_MODE = 0.01
"""Modes with less probability are listed in the table but not drawn (no clutter of 0%)."""
NEIGHBOUR_COLOR = (0, 220, 255)
PATH_COLOR = (255, 255, 0)
DIRECTIONS = (("ab", "A → B"), ("ba", "B → A"))
HINT = (
    "Anchor distributions come with RoMa run with intermediates "
    "(the Intermediates switch, or --intermediates)"
)
NO_MATCH_HINT = "The probe has no match in B to look back from."


def anchor_rgba(probs: np.ndarray) -> np.ndarray:
    """(R, R) probabilities -> (R, R, 4) uint8 RGBA: the viridis colour of p / max(p), and
    alpha ``ANCHOR_OPACITY * p / max(p)``, so unlikely anchors leave the image visible."""
    relative = probs / probs.max()
    rgba = np.empty((*probs.shape, 4), np.uint8)
    rgba[..., :3] = certainty_lut()[np.round(relative * 255).astype(np.uint8)]
    rgba[..., 3] = np.round(relative * ANCHOR_OPACITY * 255).astype(np.uint8)
    return rgba


def entropy_bits(probs: np.ndarray) -> float:
    """Shannon entropy of a distribution (any shape, summing to 1) in bits."""
    p = probs[probs > 0].astype(np.float64)
    return float(-(p * np.log2(p)).sum())


def mode_size(probability: float) -> float:
    low, high = MODE_SIZE_PX
    return low + (high - low) * math.sqrt(max(probability, 0.0))


def _table(headers: list[str], widest: list[str], tooltip: str) -> QTableWidget:
    """A read-only table whose columns fit ``widest`` texts (the last one stretches)."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setToolTip(tooltip)
    table.verticalHeader().setVisible(False)
    # fixed widths, not ResizeToContents: that measures every cell on each change (ms per probe)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    for column, text in enumerate(widest):
        width = max(table.fontMetrics().horizontalAdvance(t) for t in (text, headers[column]))
        table.setColumnWidth(column, width + 14)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    return table


def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    """Show ``rows`` of texts, reusing the table's items (new ones only for new rows)."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = table.item(r, c)
            if item is None:
                item = QTableWidgetItem()
                if c:
                    right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    item.setTextAlignment(right)
                table.setItem(r, c, item)
            item.setText(text)


class AnchorView(QWidget):
    """The other image in grey under the anchor distribution of the probe's coarse cell.

    A->B (``anchor_logits_ab``): the probe's pixel of A, drawn over B; B->A (symmetric runs,
    the direction box): the probe's match in B, drawn over A. Orange numbered circles mark the
    top modes of at least 1% (circle size and label from each mode's probability, so a
    multimodal pixel shows two big circles), the white square the argmax anchor and cyan
    squares its 4 neighbours that RoMa averages into the coarse estimate; the yellow polyline
    is the estimate's path from that coarse estimate through every refiner to the final match,
    a dot per step, and the red target the probe's match (A->B) or the probe itself (B->A).
    The colour bar gives absolute probabilities; the tables list the modes and the path's
    steps with their certainty.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.direction_box = QComboBox()
        for key, text in DIRECTIONS:
            self.direction_box.addItem(text, key)
        self.direction_box.setToolTip("B → A reads the _ba anchors of a symmetric run")
        self.direction_box.currentIndexChanged.connect(self._update)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel = ImagePanel(self.canvas, 0, 0, "")
        view = self.panel.view
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        view.addItem(self.heatmap)
        self.path_line = pg.PlotDataItem(
            pen=pg.mkPen(PATH_COLOR, width=2),
            symbol="o",
            symbolSize=6,
            symbolPen=pg.mkPen((0, 0, 0), width=1),
            symbolBrush=PATH_COLOR,
        )
        self.neighbours = pg.ScatterPlotItem(
            pxMode=True, symbol="s", size=8, pen=pg.mkPen(NEIGHBOUR_COLOR, width=2), brush=None
        )
        self.modes = pg.ScatterPlotItem(pxMode=True, symbol="o", pen=MODE_PEN, brush=None)
        self.mode_labels = [
            pg.TextItem(color=MODE_COLOR, fill=(0, 0, 0, 150), anchor=(0, 1))
            for _ in range(MAX_MODES)
        ]
        self.anchor_marker = pg.TargetItem(
            size=14, symbol="s", movable=False, pen=ANCHOR_PEN, brush=(0, 0, 0, 0)
        )
        for z, item in enumerate(
            (self.neighbours, self.anchor_marker, self.path_line, self.modes, *self.mode_labels)
        ):
            item.setZValue(5 + z)
            view.addItem(item)
        # colours are p / max(p) (anchor_rgba), so a bar over 0..max(p) reads absolute p
        # labelled by set_colour_bar_range: a label= here is drawn a second time beside it
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False
        )
        self.canvas.addItem(self.color_bar, row=1, col=1)
        self.mode_table = _table(
            ["#", "p", "at (x, y)"], ["5", "0.000", "0000.0, 0000.0"], "the top modes"
        )
        self.path_table = _table(
            ["step", "at (x, y)", "certainty"],
            ["upsample s8", "0000.0, 0000.0", "0.000"],
            "the estimate after each step, in the other image",
        )
        tables = QWidget()
        row = QHBoxLayout(tables)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.mode_table, 2)
        row.addWidget(self.path_table, 3)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(tables)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.direction_box, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self._grey: dict[str, np.ndarray | None] = {"a": None, "b": None}
        self._shown_grey: np.ndarray | None = None
        self._result: MatchResult | None = None
        self._probe: ProbeReading | None = None
        self.probs: np.ndarray | None = None  # (R, R) distribution drawn now, rows = y
        self.inspection: AnchorInspection | None = None  # what is drawn now
        self._update()
        self._pins: list[PinnedProbe] = []
        self.panel.set_readout(self._readout)

    def _readout(self, x: float, y: float) -> str | None:
        """The probability of the anchor cell under pixel (x, y) of the image shown."""
        if self.probs is None or self._shown_grey is None:
            return None
        row, col = patch_cell(x, y, self._shown_grey.shape[:2], self.probs.shape)
        return f"anchor (row {row}, col {col}): p = {self.probs[row, col]:.4g}"

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        """Pins over the image shown: B (A -> B), or A when showing B -> A."""
        self._pins = pins
        self.panel.show_pins(pins, self.direction[1])

    def set_data(
        self, rgb_a: np.ndarray | None, rgb_b: np.ndarray | None, result: MatchResult | None
    ) -> None:
        """A and B (H, W, 3) uint8 and the result whose ``anchor_logits_ab`` (``_ba``)
        (h16, w16, R * R) are shown; any may be None. B->A is offered for symmetric runs."""
        for name, rgb in (("a", rgb_a), ("b", rgb_b)):
            self._grey[name] = grey(rgb)
        self._result = result
        symmetric = has_anchors(result, "ba") and result.warp_ba is not None
        self.direction_box.blockSignals(True)
        if not symmetric:
            self.direction_box.setCurrentIndex(0)
        self.direction_box.setEnabled(symmetric)
        self.direction_box.blockSignals(False)
        self._update()

    def set_probe(self, probe: ProbeReading | None) -> None:
        self._probe = probe
        self._update()

    @property
    def direction(self) -> str:
        """ "ab" (the probe's pixel of A, over B) or "ba" (its match in B, over A)."""
        return self.direction_box.currentData()

    def set_direction(self, direction: str) -> None:
        self.direction_box.setCurrentIndex([key for key, _ in DIRECTIONS].index(direction))

    def _clear(self, text: str) -> None:
        self.label.setText(text)
        self.probs = self.inspection = None
        self.heatmap.clear()
        for item in (self.anchor_marker, self.color_bar, self.panel.marker, *self.mode_labels):
            item.hide()
        self.modes.setData([], [])
        self.neighbours.setData([], [])
        self.path_line.setData([], [])
        self.mode_table.setRowCount(0)
        self.path_table.setRowCount(0)

    def _update(self) -> None:
        result, probe, direction = self._result, self._probe, self.direction
        src, dst = direction[0], direction[1]
        title = (
            f"anchors in {dst.upper()} (○ modes, □ argmax + 4 neighbours, ● path, "
            f"⊕ {'match' if direction == 'ab' else 'probe in A'})"
        )
        if self.panel.title.text != title:  # an HTML re-layout: only when it changes
            self.panel.title.setText(title)
        grey = self._grey[dst]
        if grey is not self._shown_grey:  # a new image or direction, not every probe
            self._shown_grey = grey
            self.panel.set_image(grey)
            self.panel.show_pins(self._pins, dst)
        if result is None or grey is None or self._grey[src] is None:
            self._clear("")
        elif not has_anchors(result, direction):
            self._clear(HINT)
        elif probe is None:
            self._clear("Click a pixel of A to see its anchors in B.")
        elif direction == "ba" and not probe.has_match:
            self._clear(NO_MATCH_HINT)
        else:
            x, y = (probe.xa, probe.ya) if direction == "ab" else (probe.xb, probe.yb)
            sizes = self._grey["a"].shape[:2], self._grey["b"].shape[:2]
            self._show(inspect_anchors(result, x, y, *sizes, direction=direction), probe)

    def _show(self, inspection: AnchorInspection, probe: ProbeReading) -> None:
        self.inspection, self.probs = inspection, inspection.probs
        probs, direction = inspection.probs, inspection.direction
        height, width = self.panel.size_hw
        self.heatmap.setImage(anchor_rgba(probs), autoLevels=False, levels=(0, 255))
        self.heatmap.setRect(QRectF(-0.5, -0.5, width, height))
        top = float(probs.max())
        # hidden while set: pyqtgraph's axis picks an SI scale (x1000) for a visible label
        self.color_bar.hide()
        set_colour_bar_range(self.color_bar, (0.0, top), "probability")
        self.color_bar.show()
        argmax, *neighbours = inspection.coarse_anchors
        self.anchor_marker.setPos(QPointF(argmax.x, argmax.y))
        self.anchor_marker.show()
        self.neighbours.setData([a.x for a in neighbours], [a.y for a in neighbours])
        modes = inspection.modes
        drawn = [m for m in modes if m.probability >= MIN_DRAWN_MODE]
        self.modes.setData(
            [m.x for m in drawn],
            [m.y for m in drawn],
            size=[mode_size(m.probability) for m in drawn],
        )
        for number, label in enumerate(self.mode_labels):
            if number < len(drawn):
                mode = drawn[number]
                label.setText(f"{number + 1}: {mode.probability:.0%}")
                label.setPos(mode.x, mode.y)
                label.show()
            else:
                label.hide()
        path = inspection.path
        self.path_line.setData([s.x for s in path], [s.y for s in path])
        if direction == "ab":
            self.panel.set_marker(probe.xb, probe.yb)
        else:
            self.panel.set_marker(probe.xa, probe.ya)
        _fill(
            self.mode_table,
            [
                (str(n + 1), f"{m.probability:.3f}", f"{m.x:.1f}, {m.y:.1f}")
                for n, m in enumerate(modes)
            ],
        )
        _fill(
            self.path_table,
            [
                (
                    s.name,
                    f"{s.x:.1f}, {s.y:.1f}",
                    "–" if math.isnan(s.certainty) else f"{s.certainty:.3f}",
                )
                for s in path
            ],
        )
        self.label.setText(self._summary(inspection, probe))

    def _summary(self, inspection: AnchorInspection, probe: ProbeReading) -> str:
        probs, (cell_row, cell_col) = inspection.probs, inspection.cell
        src, dst = (s.upper() for s in inspection.direction)
        key = logits_key(self._result, inspection.direction)
        grid_h, grid_w = self._result.intermediates[key].shape[:2]
        argmax = inspection.coarse_anchors[0]
        final = inspection.path[-1] if inspection.path[-1].stage == "final" else None
        if inspection.direction == "ab" and not probe.has_match:
            final = None
        match = (
            f"final match {math.hypot(final.x - argmax.x, final.y - argmax.y):.1f} px from it"
            if final is not None
            else "no final match"
        )
        if key.startswith("matching"):  # RoMa v2: a softmax over B's cells, read by a DPT
            weights = "the matcher's DPT head"
        else:
            weights = ", ".join(
                f"{name} {a.probability:.3f}"
                for name, a in zip(NEIGHBOURS, inspection.coarse_anchors, strict=True)
            )
        modes = ", ".join(f"{m.probability:.0%}" for m in inspection.modes)
        return (
            f"{src} ({inspection.x:.1f}, {inspection.y:.1f}) → {dst}: top-1 p = {probs.max():.3f}, "
            f"entropy {entropy_bits(probs):.2f} of {math.log2(probs.size):.0f} bits, coarse cell "
            f"(row {cell_row}, col {cell_col}) of {grid_h}x{grid_w}; modes {modes}\n"
            f"top anchor at ({argmax.x:.1f}, {argmax.y:.1f}); {match}; coarse estimate "
            f"({inspection.coarse[0]:.1f}, {inspection.coarse[1]:.1f}) from {weights}"
        )
