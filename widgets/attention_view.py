"""`AttentionView`, the DINO view: the backbone's CLS attention, token similarity and token PCA
of A and B side by side, drawn from a result's intermediates (never by running a network)."""

from __future__ import annotations

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

from core.probe import PinnedProbe, ProbeReading
from core.result import MatchResult
from core.tokens import cosine_similarity, patch_cell, pca_rgb, unit_tokens
from widgets import ImagePanel, certainty_colormap, emit_clicks, grey, set_colour_bar_range

HEATMAP_OPACITY = 0.65
MODES = ("attention", "similarity", "PCA")
HINT = (
    "Attention maps come with RoMa run with intermediates "
    "(the Intermediates switch, or --intermediates)"
)
TOKENS_HINT = "Patch tokens (backbone_a / _b) come with RoMa run with intermediates"
PROBE_HINT = "Click A: the similarity of that patch's token to every patch of A and B"


def head_names(count: int) -> list[str]:
    """Choices for attention of ``count`` heads: their mean, then each head; one head kept by
    the run is the only choice."""
    if count == 1:
        return ["the kept head"]
    return ["mean of heads", *(f"head {k}" for k in range(count))]


def block_names(count: int) -> list[str]:
    """Choices for attention of ``count`` blocks (0 is the first block); one block kept by an
    older run is the only choice."""
    if count == 1:
        return ["the kept block"]
    return [f"block {k}" for k in range(count)]


def as_blocks(attention: np.ndarray | None) -> np.ndarray | None:
    """``attention_a`` / ``_b`` as (blocks, heads, h16, w16); a result saved with one block kept,
    (heads, h16, w16), is one block."""
    if attention is None or attention.ndim == 4:
        return attention
    return attention[None]


def _combo(tooltip: str, slot, names: tuple[str, ...] = ()) -> QComboBox:
    box = QComboBox()
    box.addItems(names)
    box.setToolTip(tooltip)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    # never narrower than its longest choice, however narrow the dock
    box.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
    box.currentIndexChanged.connect(slot)
    return box


def _set_items(box: QComboBox, names: list[str], index: int | None) -> None:
    """Give ``box`` these choices (kept when the same) and select ``index`` unless None."""
    box.blockSignals(True)
    if names != [box.itemText(i) for i in range(box.count())]:
        box.clear()
        box.addItems(names)
    if index is not None:
        box.setCurrentIndex(index)
    box.blockSignals(False)
    box.setEnabled(len(names) > 1)


class AttentionView(QWidget):
    """The DINO view: A and B side by side (in grey, one cell per coarse patch), in one of
    :data:`MODES`:

    * attention: CLS -> patch attention (``attention_a`` / ``_b``, (blocks, heads, h16, w16)) of
      the chosen block and head (or the mean of the heads); the run's ``attention_block`` /
      ``attention_head`` settings are the starting choice;
    * similarity: cosine similarity of the probe's patch token in A (``backbone_a``,
      (h16, w16, C)) to every patch token of A and of B;
    * PCA: the first 3 principal components of A's and B's tokens together, as RGB.

    Attention and similarity share one colour bar over A and B in their own units.
    ``clicked_a(x, y, snap_radius)`` reports a left click on A in A's pixel coordinates
    (see :func:`widgets.emit_clicks`), ``clicked_b`` one on B in B's. Hovering shows the
    value at the patch under the cursor.
    """

    clicked_a = Signal(float, float, float)
    clicked_b = Signal(float, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.panel = ImagePanel(self.canvas, 0, 0, "A")
        self.panel_b = ImagePanel(self.canvas, 0, 1, "B")
        # per image: a scalar map on the colour bar, and the PCA's RGB image
        self.heatmap, self.pca_a = self._overlays(self.panel)
        self.heatmap_b, self.pca_b = self._overlays(self.panel_b)
        self.color_bar = pg.ColorBarItem(
            values=(0, 1), colorMap=certainty_colormap(), interactive=False
        )
        self.color_bar.setImageItem([self.heatmap, self.heatmap_b])
        self.canvas.addItem(self.color_bar, row=1, col=2)
        self.mode_box = _combo(
            "CLS attention of a block, token similarity to the probe, or the tokens' PCA",
            self._update,
            MODES,
        )
        self.block_box = _combo("The backbone block whose CLS attention is shown", self._update)
        self.head_box = _combo("Show the mean over the heads or one head", self._update)
        self.label = QLabel()
        self.label.setWordWrap(True)
        header = QHBoxLayout()
        for box in (self.mode_box, self.block_box, self.head_box):
            header.addWidget(box)
        header.addWidget(self.label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        emit_clicks(self.canvas, [self.panel], self.clicked_a)
        emit_clicks(self.canvas, [self.panel_b], self.clicked_b)
        self.panel.set_readout(self._readout, "a")
        self.panel_b.set_readout(self._readout, "b")
        self._shown: dict[str, np.ndarray | None] = {"a": None, "b": None}  # scalar maps drawn
        self._shown_unit = ""
        self._result: MatchResult | None = None
        self._attention: dict[str, np.ndarray | None] = {"a": None, "b": None}
        self._units: dict[str, np.ndarray | None] = {"a": None, "b": None}  # unit tokens
        self._pca: tuple[np.ndarray, np.ndarray] | None = None
        self._sizes: dict[str, tuple[int, int] | None] = {"a": None, "b": None}
        self._start: tuple | None = None  # the shapes and settings the choice started from
        self._probe: ProbeReading | None = None

    @staticmethod
    def _overlays(panel: ImagePanel) -> tuple[pg.ImageItem, pg.ImageItem]:
        items = pg.ImageItem(axisOrder="row-major"), pg.ImageItem(axisOrder="row-major")
        for item in items:
            item.setOpacity(HEATMAP_OPACITY)
            panel.view.addItem(item)
        return items

    # -- data -----------------------------------------------------------------------------

    def set_data(
        self, rgb_a: np.ndarray | None, rgb_b: np.ndarray | None, result: MatchResult | None
    ) -> None:
        """A and B (H, W, 3) uint8 and the result whose intermediates are shown; any may be None.

        The chosen block and head start at the run's ``attention_block`` / ``attention_head`` and
        stay for a new result of the same shapes and settings.
        """
        for key, panel, rgb in (("a", self.panel, rgb_a), ("b", self.panel_b, rgb_b)):
            panel.set_image(grey(rgb))
            self._sizes[key] = None if rgb is None else rgb.shape[:2]
        self._result = result
        inter = {} if result is None else result.intermediates
        self._attention = {k: as_blocks(inter.get(f"attention_{k}")) for k in "ab"}
        self._units = {
            k: None if inter.get(f"backbone_{k}") is None else unit_tokens(inter[f"backbone_{k}"])
            for k in "ab"
        }
        self._pca = None
        attention = self._attention["a"]
        blocks, heads = (0, 0) if attention is None else attention.shape[:2]
        settings = {} if result is None else result.provenance.settings
        start = (blocks, heads, settings.get("attention_block"), settings.get("attention_head"))
        block_index = head_index = None
        if start != self._start:
            self._start = start
            block, head = start[2], start[3]
            in_range = block is not None and -blocks <= block < blocks
            block_index = block % blocks if in_range else blocks - 1
            head_index = head + 1 if head is not None and 0 <= head < heads and heads > 1 else 0
        _set_items(self.block_box, block_names(blocks), block_index)
        _set_items(self.head_box, head_names(heads) if heads else [], head_index)
        self._update()

    def set_probe(self, probe: ProbeReading | None) -> None:
        """Mark the probe in A (and its match in B); the similarity map follows it."""
        self._probe = probe
        self.panel.show_probe_a(probe)
        nan = float("nan")
        has_match = probe is not None and probe.has_match
        self.panel_b.set_marker(*((probe.xb, probe.yb) if has_match else (nan, nan)))
        if self.mode_box.currentText() == "similarity":
            self._update()

    def set_pins(self, pins: list[PinnedProbe]) -> None:
        self.panel.show_pins(pins, "a")
        self.panel_b.show_pins(pins, "b")

    def _readout(self, key: str, x: float, y: float) -> str | None:
        """The patch of image ``key`` under pixel (x, y) and the drawn map's value there."""
        grid = self._shown[key]
        if grid is None and self._units[key] is not None:
            grid = self._units[key][..., 0]  # PCA or no map: the patch only
        if grid is None or self._sizes[key] is None:
            return None
        row, col = patch_cell(x, y, self._sizes[key], grid.shape[:2])
        text = f"{key.upper()} patch (row {row}, col {col})"
        if self._shown[key] is not None:
            text += f": {self._shown_unit} {grid[row, col]:.4g}"
        return text

    # -- drawing --------------------------------------------------------------------------

    def _update(self) -> None:
        mode = self.mode_box.currentText()
        self.block_box.setVisible(mode == "attention")
        self.head_box.setVisible(mode == "attention")
        for item in (self.heatmap, self.heatmap_b, self.pca_a, self.pca_b):
            item.clear()
        self._shown = {"a": None, "b": None}
        self.color_bar.setVisible(mode != "PCA")
        if self._result is None or self._sizes["a"] is None:
            self.label.setText("")
            return
        if mode == "attention":
            self._draw_attention()
        elif self._units["a"] is None:
            self.label.setText(TOKENS_HINT)
        elif mode == "similarity":
            self._draw_similarity()
        else:
            self._draw_pca()

    def _draw_attention(self) -> None:
        if self._attention["a"] is None:
            self.label.setText(HINT)
            return
        block, head = self.block_box.currentIndex(), self.head_box.currentIndex()

        def pick(attention: np.ndarray) -> np.ndarray:
            chosen = attention[max(block, 0)]
            return chosen.mean(axis=0) if head <= 0 else chosen[head - 1]

        maps = {k: None if a is None else pick(a) for k, a in self._attention.items()}
        low, high = self._show_scalar(maps, "attention")
        which = self.block_box.currentText() + ", " + self.head_box.currentText()
        self.label.setText(f"{which}: min {low:.3g}, max {high:.3g}")

    def _draw_similarity(self) -> None:
        probe, units = self._probe, self._units
        if probe is None:
            self.label.setText(PROBE_HINT)
            return
        row, col = patch_cell(probe.xa, probe.ya, self._sizes["a"], units["a"].shape[:2])
        query = units["a"][row, col]
        maps = {k: None if u is None else cosine_similarity(u, query) for k, u in units.items()}
        low, high = self._show_scalar(maps, "cosine similarity")
        self.label.setText(
            f"cosine similarity to A's patch (row {row}, col {col}): min {low:.3g}, max {high:.3g}"
        )

    def _draw_pca(self) -> None:
        units = self._units
        if self._pca is None:
            tokens_b = units["b"] if units["b"] is not None else units["a"][:0]
            self._pca = pca_rgb(units["a"], tokens_b)
        for key, item, rgb in (("a", self.pca_a, self._pca[0]), ("b", self.pca_b, self._pca[1])):
            if self._sizes[key] is not None and rgb.size:
                item.setImage(rgb, autoLevels=False, levels=(0.0, 1.0))
                item.setRect(self._rect(key))
        self.label.setText(
            "the first 3 principal components of A's and B's patch tokens (unit length) as RGB"
        )

    def _show_scalar(self, maps: dict[str, np.ndarray | None], unit: str) -> tuple[float, float]:
        """Draw A's and B's maps on one colour scale, their joint min to max; returns it."""
        shown = [m for k, m in maps.items() if m is not None and self._sizes[k] is not None]
        low = min(float(m.min()) for m in shown)
        high = max(float(m.max()) for m in shown)
        levels = (low, max(high, low + 1e-9))
        for key, item in (("a", self.heatmap), ("b", self.heatmap_b)):
            if maps[key] is not None and self._sizes[key] is not None:
                item.setImage(maps[key], autoLevels=False, levels=levels)
                item.setRect(self._rect(key))
                self._shown[key] = maps[key]
        self._shown_unit = unit
        set_colour_bar_range(self.color_bar, levels, unit)
        return low, high

    def _rect(self, key: str) -> QRectF:
        height, width = self._sizes[key]
        return QRectF(-0.5, -0.5, width, height)
