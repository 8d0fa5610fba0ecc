"""`KeypointView`: a keypoint matcher's keypoints and score maps over A and B, and for a selected
keypoint of A its LightGlue assignment scores over B's keypoints (the sparse Anchors view)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.figures import certainty_lut
from core.keypoint_probe import (
    TOP_K,
    KeypointReading,
    active_at,
    has_keypoints,
    layer_count,
)
from core.probe import PinnedProbe
from core.result import MatchResult
from widgets import (
    ImagePanel,
    NearestPoints,
    certainty_colormap,
    emit_clicks,
    grey,
    set_colour_bar_range,
)

POINT_SIZE_PX = 6
"""Diameter (screen pixels) of a keypoint's dot."""
INACTIVE_SIZE_PX = 3
COLOR_BINS = 64
MAP_OPACITY = 0.75
"""Alpha of a score map where it is 1; it fades to transparent at 0, so A shows through."""
POINT_PEN = pg.mkPen((0, 0, 0, 200), width=1)
UNKNOWN_BRUSH = pg.mkBrush(160, 160, 160, 220)
"""Dots without a value (no detector score, or a pruned keypoint's P_ij)."""
INACTIVE_BRUSH = pg.mkBrush(200, 200, 200, 90)
"""Dots of keypoints no longer active at the slider's LightGlue layer."""
RANK_COLOR = (255, 255, 255)
SIDE_WIDTH_PX = 330
"""Width of the readouts beside the images."""
TOP_PEN = pg.mkPen((255, 255, 255), width=2)
DENSE_HINT = (
    "The Keypoints dock shows keypoint matchers' results (sift, aliked-lightglue, "
    "disk-lightglue, xfeat, xfeat-star); this result is dense."
)
NO_KEYPOINTS_HINT = "This sparse result lists only its matches, no keypoints."
SCORES_HINT = (
    "No detector scores or score maps: trained keypoint matchers keep them with intermediates "
    "(the Intermediates switch, or --intermediates)."
)
LIGHTGLUE_HINT = (
    "No assignment scores or layers: LightGlue matchers (aliked-lightglue, disk-lightglue) keep "
    "them with intermediates."
)
LAYERS_HINT = "layers: LightGlue matchers only"


def score_rgba(score_map: np.ndarray) -> np.ndarray:
    """(h, w) scores in [0, 1] -> (h, w, 4) uint8: viridis colours with alpha
    ``MAP_OPACITY * score``, so low scores leave the image visible (NaN: transparent)."""
    values = np.clip(np.nan_to_num(np.asarray(score_map, np.float32)), 0.0, 1.0)
    rgba = np.empty((*values.shape, 4), np.uint8)
    rgba[..., :3] = certainty_lut()[np.round(values * 255).astype(np.uint8)]
    rgba[..., 3] = np.round(values * MAP_OPACITY * 255).astype(np.uint8)
    return rgba


def value_brushes(values: np.ndarray, levels: tuple[float, float]) -> list:
    """A viridis brush for each of the (K,) ``values`` on ``levels`` (NaN: grey), in
    ``COLOR_BINS`` steps so that few symbols are rendered."""
    low, high = levels
    values = np.asarray(values, np.float64)
    scaled = np.clip((np.nan_to_num(values) - low) / max(high - low, 1e-12), 0.0, 1.0)
    bins = np.where(np.isfinite(values), np.round(scaled * (COLOR_BINS - 1)), COLOR_BINS)
    colors = certainty_colormap().map(np.linspace(0.0, 1.0, COLOR_BINS), mode="byte")
    palette = [pg.mkBrush(*color) for color in colors.tolist()] + [UNKNOWN_BRUSH]
    return [palette[index] for index in bins.astype(int)]


def score_levels(scores: np.ndarray | None) -> tuple[float, float]:
    """0..1 for scores within it (and when there are none), else their finite range."""
    finite = np.empty(0) if scores is None else scores[np.isfinite(scores)]
    if finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0):
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return low, max(high, low + 1e-9)


class _Side:
    """One image of the pair: its panel, score map, active and inactive dots and colour bar."""

    def __init__(self, canvas: pg.GraphicsLayoutWidget, col: int, title: str):
        self.panel = ImagePanel(canvas, 0, col, title)
        self.score_map = pg.ImageItem(axisOrder="row-major")
        self.panel.view.addItem(self.score_map)
        self.inactive = pg.ScatterPlotItem(
            pxMode=True, size=INACTIVE_SIZE_PX, pen=None, brush=INACTIVE_BRUSH
        )
        self.inactive.setZValue(4)
        self.points = pg.ScatterPlotItem(pxMode=True, size=POINT_SIZE_PX, pen=POINT_PEN)
        self.points.setZValue(5)  # over the map, under the markers
        for item in (self.inactive, self.points):
            self.panel.view.addItem(item)
        self.color_bar = pg.ColorBarItem(  # labelled by set_colour_bar_range
            values=(0, 1), colorMap=certainty_colormap(), interactive=False
        )
        canvas.addItem(self.color_bar, row=1, col=col + 1)
        self.size_hw: tuple[int, int] | None = None

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.panel.set_image(grey(rgb))
        self.size_hw = None if rgb is None else rgb.shape[:2]

    def set_score_map(self, score_map: np.ndarray | None, visible: bool) -> None:
        """Stretch the (h, w) map over the whole image (pixel centres aligned)."""
        if score_map is None or self.size_hw is None or not visible:
            self.score_map.clear()
            return
        height, width = self.size_hw
        self.score_map.setImage(score_rgba(score_map), autoLevels=False, levels=(0, 255))
        self.score_map.setRect(QRectF(-0.5, -0.5, width, height))

    def set_points(
        self,
        keypoints: np.ndarray,
        values: np.ndarray | None,
        levels: tuple[float, float],
        active: np.ndarray | None,
        label: str,
    ) -> None:
        """Dots at the (K, 2) ``keypoints`` coloured by (K,) ``values`` (None: grey) on
        ``levels``; those not ``active`` (K,) bool are drawn small and faint instead."""
        keep = np.ones(len(keypoints), bool) if active is None else active
        shown = np.asarray(keypoints, np.float64).reshape(-1, 2)
        values = np.full(len(shown), np.nan) if values is None else values
        self.points.setData(pos=shown[keep], brush=value_brushes(values[keep], levels))
        self.inactive.setData(pos=shown[~keep])
        set_colour_bar_range(self.color_bar, levels, label)
        self.color_bar.show()

    def clear(self) -> None:
        self.score_map.clear()
        self.points.clear()
        self.inactive.clear()
        self.color_bar.hide()
        self.panel.marker.hide()

    @property
    def shown_count(self) -> int:
        """Dots drawn as active."""
        return len(self.points.data)


class KeypointView(QWidget):
    """The keypoints of A and B side by side (dots coloured by the detector's score) over their
    score maps, with a LightGlue layer slider: keypoints no longer active at that layer are faint.

    ``set_keypoint`` shows a selected keypoint of A (the red target): B's keypoints coloured
    by its assignment scores P_ij (from 0 to the largest), the top ``TOP_K`` numbered and
    listed in the table (the best also marked with a white square), its match in B (red
    target), its unmatched probability and where it was pruned.

    ``clicked_a(x, y, snap_radius)`` reports a left click on A (see :func:`widgets.emit_clicks`);
    the app selects the keypoint nearest to it. Hovering shows the score map's value under the
    cursor and the nearest keypoint's score.
    """

    clicked_a = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.map_box = QCheckBox("score maps")
        self.map_box.setChecked(True)
        self.map_box.setToolTip("Show the detector's dense score map under the keypoints")
        self.map_box.toggled.connect(self._update)
        self.layer_slider = QSlider(Qt.Orientation.Horizontal)
        self.layer_slider.setToolTip("LightGlue layer: keypoints pruned before it are faint")
        self.layer_slider.valueChanged.connect(self._update)
        self.layer_label = QLabel(LAYERS_HINT)
        self.layer_label.setWordWrap(True)
        self.canvas = pg.GraphicsLayoutWidget()
        self.side_a = _Side(self.canvas, 0, "keypoints of A (click one)")
        self.side_b = _Side(self.canvas, 2, "keypoints of B")
        self.top_marker = pg.TargetItem(
            size=14, symbol="s", movable=False, pen=TOP_PEN, brush=(0, 0, 0, 0)
        )
        self.top_marker.setZValue(9)
        self.side_b.panel.view.addItem(self.top_marker)
        self.rank_labels = [pg.TextItem(str(rank + 1), color=RANK_COLOR) for rank in range(TOP_K)]
        for label in self.rank_labels:
            label.setZValue(11)
            self.side_b.panel.view.addItem(label)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["B keypoint", "position", "P_ij"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        row_height = self.table.fontMetrics().height() + 6
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        self.table.setFixedHeight(row_height * (TOP_K + 1) + 6)
        side = QVBoxLayout()  # the readouts, right of the images
        for widget in (self.summary, self.map_box, self.layer_slider, self.layer_label):
            side.addWidget(widget)
        side.addWidget(self.details)
        side.addWidget(self.table)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(SIDE_WIDTH_PX)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(panel)
        emit_clicks(self.canvas, [self.side_a.panel], self.clicked_a)
        for side, name in ((self.side_a, "a"), (self.side_b, "b")):
            side.panel.set_readout(self._readout, name)
        self._result: MatchResult | None = None
        self._nearest: dict[str, NearestPoints] = {}  # the result's keypoints, for readouts
        self._keypoint: KeypointReading | None = None
        self._set_layers(0)
        self._update()

    def set_data(
        self, rgb_a: np.ndarray | None, rgb_b: np.ndarray | None, result: MatchResult | None
    ) -> None:
        """A and B (H, W, 3) uint8 and the result whose keypoints are shown (any may be None);
        the selection is cleared and the slider goes to the last layer."""
        self.side_a.set_image(rgb_a)
        self.side_b.set_image(rgb_b)
        self._result, self._keypoint = result, None
        self._nearest = {
            name: NearestPoints(getattr(result, f"keypoints_{name}"))
            for name in "ab"
            if result is not None and has_keypoints(result)
        }
        self._set_layers(0 if result is None else layer_count(result))
        self._update()

    def set_keypoint(self, keypoint: KeypointReading | None) -> None:
        """Show the selected keypoint of A (None: no selection)."""
        self._keypoint = keypoint
        self._update()

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        self.side_a.panel.show_pins(pins, "a")
        self.side_b.panel.show_pins(pins, "b")

    def _readout(self, name: str, x: float, y: float) -> str | None:
        """Image ``name``'s score map value at pixel (x, y) (its cell, the map stretched over
        the image) and the score of the keypoint nearest within the snap radius."""
        side = self.side_a if name == "a" else self.side_b
        result = self._result
        if result is None or side.size_hw is None or not has_keypoints(result):
            return None
        parts = []
        score_map = result.intermediates.get(f"score_map_{name}")
        if score_map is not None:
            (height, width), (rows, cols) = side.size_hw, score_map.shape[:2]
            row = min(max(int((y + 0.5) * rows / height), 0), rows - 1)
            col = min(max(int((x + 0.5) * cols / width), 0), cols - 1)
            parts.append(f"score map {score_map[row, col]:.3f}")
        nearest = self._nearest[name].nearest(x, y, side.panel.snap_radius())
        if nearest is not None:
            scores = result.intermediates.get(f"keypoint_scores_{name}")
            score = "" if scores is None else f" score {scores[nearest]:.3f}"
            parts.append(f"keypoint {nearest}{score}")
        return f"{name.upper()} ({x:.0f}, {y:.0f})" + "".join(f"\n{part}" for part in parts)

    @property
    def layer(self) -> int | None:
        """The LightGlue layer the slider shows (None without layers)."""
        return self.layer_slider.value() if self.layer_slider.isEnabled() else None

    def shown_counts(self) -> tuple[int, int]:
        """Keypoints of A and of B drawn as active now."""
        return self.side_a.shown_count, self.side_b.shown_count

    def _set_layers(self, count: int) -> None:
        self.layer_slider.blockSignals(True)
        self.layer_slider.setRange(0, max(count - 1, 0))
        self.layer_slider.setValue(max(count - 1, 0))
        self.layer_slider.setEnabled(count > 0)
        self.layer_slider.blockSignals(False)

    def _update(self) -> None:
        result = self._result
        self.side_a.clear()
        self.side_b.clear()
        self._show_selection(None)
        if result is None or self.side_a.size_hw is None or self.side_b.size_hw is None:
            self.summary.setText("")
            self.layer_label.setText(LAYERS_HINT)
            return
        if not result.is_sparse:
            self.summary.setText(DENSE_HINT)
            self.layer_label.setText(LAYERS_HINT)
            return
        if not has_keypoints(result):
            self.summary.setText(NO_KEYPOINTS_HINT)
            self.layer_label.setText(LAYERS_HINT)
            return
        self._draw_keypoints(result)
        self._show_selection(self._keypoint)

    def _draw_keypoints(self, result: MatchResult) -> None:
        inter = result.intermediates
        layer = self.layer
        notes = [
            f"A: {len(result.keypoints_a)} keypoints, B: {len(result.keypoints_b)}; "
            f"{result.num_matches} matches."
        ]
        if not any(f"{name}_a" in inter for name in ("keypoint_scores", "score_map")):
            notes.append(SCORES_HINT)
        if "assignment" not in inter or layer is None:
            notes.append(LIGHTGLUE_HINT)
        notes.append("Click a keypoint of A to see its assignment in B.")
        self.summary.setText(" ".join(notes))
        counts = []
        for side, name in ((self.side_a, "a"), (self.side_b, "b")):
            keypoints = getattr(result, f"keypoints_{name}")
            scores = inter.get(f"keypoint_scores_{name}")
            active = None if layer is None else active_at(result, name, layer)
            side.set_score_map(inter.get(f"score_map_{name}"), self.map_box.isChecked())
            side.set_points(keypoints, scores, score_levels(scores), active, "score")
            total = len(keypoints)
            counts.append(f"{total if active is None else int(active.sum())}/{total}")
        if layer is None:
            self.layer_label.setText(LAYERS_HINT)
        else:
            self.layer_label.setText(
                f"layer {layer} of 0–{self.layer_slider.maximum()}: "
                f"active A {counts[0]}, B {counts[1]}"
            )

    def _show_selection(self, keypoint: KeypointReading | None) -> None:
        result = self._result
        self.top_marker.hide()
        for label in self.rank_labels:
            label.hide()
        self.table.setRowCount(0)
        if keypoint is None or result is None:
            self.details.setText("")
            return
        self.side_a.panel.set_marker(keypoint.x, keypoint.y)
        keypoints_b = result.keypoints_b
        if keypoint.match is not None:
            self.side_b.panel.set_marker(*(float(v) for v in keypoints_b[keypoint.match]))
        assignment = result.intermediates.get("assignment")
        if assignment is not None:
            row = np.asarray(assignment[keypoint.index], np.float64)
            finite = row[np.isfinite(row)]
            high = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
            layer = self.layer
            active = None if layer is None else active_at(result, "b", layer)
            self.side_b.set_points(keypoints_b, row, (0.0, high), active, "P_ij")
        self._show_top(keypoint, keypoints_b)
        self.details.setText(self._describe(keypoint, assignment is not None, self.layer))

    def _show_top(self, keypoint: KeypointReading, keypoints_b: np.ndarray) -> None:
        self.table.setRowCount(len(keypoint.top_b))
        for rank, (j, p) in enumerate(zip(keypoint.top_b, keypoint.top_p, strict=True)):
            x, y = (float(v) for v in keypoints_b[j])
            cells = (str(j), f"({x:.1f}, {y:.1f})", f"{p:.4f}")
            for col, text in enumerate(cells):
                self.table.setItem(rank, col, QTableWidgetItem(text))
            self.rank_labels[rank].setPos(QPointF(x, y))
            self.rank_labels[rank].show()
            if rank == 0:
                self.top_marker.setPos(QPointF(x, y))
                self.top_marker.show()

    @staticmethod
    def _describe(keypoint: KeypointReading, has_assignment: bool, layer: int | None) -> str:
        lines = [f"keypoint {keypoint.index} of A at ({keypoint.x:.1f}, {keypoint.y:.1f})"]
        if keypoint.score == keypoint.score:  # not NaN
            lines[0] += f", score {keypoint.score:.3f}"
        if keypoint.match is None:
            lines.append("no match in B")
        else:
            lines.append(
                f"matched to keypoint {keypoint.match} of B (⊕, certainty "
                f"{keypoint.match_certainty:.3f})"
            )
        if keypoint.unmatched == keypoint.unmatched:
            lines.append(f"unmatched probability {keypoint.unmatched:.4f}")
        if keypoint.pruning:
            lines.append(keypoint.pruning)
        if layer is not None and layer < len(keypoint.matchability):
            value = keypoint.matchability[layer]
            lines[-1] += f"; matchability at layer {layer}: " + (
                "– (inactive)" if value != value else f"{value:.3f}"
            )
        if has_assignment and not keypoint.top_b:
            lines.append("no assignment scores: pruned before the last layer")
        elif keypoint.top_b:
            lines.append(f"top {len(keypoint.top_b)} of B by P_ij: numbered, □ the best")
        return "\n".join(lines)
