"""`ProbePanel`: the probe's pixels of A and B (and which one was clicked), its certainty and
true error, the pinned probes with their readings, the result's summary and the last error
(the Probe dock)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.bench.truth import PixelTruth
from core.probe import MAX_PINS, PinnedProbe, ProbeReading
from core.result import MatchResult

PIN_COLUMNS = ("", "A", "B", "cert.", "source", "")
UNPIN_WIDTH_PX = 24


def _pixel(x: float, y: float, clicked: bool, decimals: int) -> str:
    """A clicked pixel as integers, an answer to ``decimals``, a missing one as "no match"."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return "no match"
    return f"({x:.0f}, {y:.0f})" if clicked else f"({x:.{decimals}f}, {y:.{decimals}f})"


def reading_texts(probe: ProbeReading, decimals: int = 2) -> list[str]:
    """The A pixel, B pixel, certainty and source of a reading, as the panel shows them (the
    answer's pixel to ``decimals``: 1 in the narrow pins table)."""
    clicked_a = probe.origin == "a"
    return [
        _pixel(probe.xa, probe.ya, clicked_a, decimals),
        _pixel(probe.xb, probe.yb, not clicked_a, decimals),
        f"{probe.certainty:.3f}" if probe.has_match else "–",
        probe.source,
    ]


def covariance_text(probe: ProbeReading | None) -> str:
    """The answer's covariance (RoMa v2): its entries in px^2 and the 1-sigma ellipse's axes."""
    if probe is None or not probe.has_match or probe.covariance is None:
        return "–"
    xx, xy, yy = probe.covariance
    half, root = (xx + yy) / 2, math.sqrt(((xx - yy) / 2) ** 2 + xy**2)
    major, minor = math.sqrt(max(half + root, 0.0)), math.sqrt(max(half - root, 0.0))
    return (
        f"[{xx:.3g} {xy:.3g}; {xy:.3g} {yy:.3g}] px², "
        f"σ {major:.2f} × {minor:.2f} px in {'B' if probe.origin == 'a' else 'A'}"
    )


class ProbePanel(QScrollArea):
    """The probe's A and B pixels and certainty, the pinned probes (a row each: its colour,
    readings and an unpin button), the result summary, and the last error (wrapped, and scrolled
    when the dock is too short for it). ``pin_requested``, ``unpin_requested(index)`` and
    ``clear_pins_requested`` report the buttons."""

    pin_requested = Signal()
    unpin_requested = Signal(int)
    clear_pins_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fields = {
            name: QLabel("–")
            for name in (
                "clicked in",
                "A pixel",
                "B pixel",
                "certainty",
                "source",
                "covariance",
                "true error",
                "matcher",
                "matches",
                "total time",
                "stages",
            )
        }
        form = QFormLayout()
        for name, label in self.fields.items():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # a new value never lays the dock area out again (twice per frame of a scrub)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            form.addRow(f"{name}:", label)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setStyleSheet("color: #c0392b; font-weight: bold;")
        self.message.hide()
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addLayout(self._build_pins())
        layout.addWidget(self.pins_table)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)

    def _build_pins(self) -> QHBoxLayout:
        self.pin_button = QPushButton("Pin probe (P)")
        self.pin_button.setToolTip(
            f"Keep the probe's reading, drawn in its colour (up to {MAX_PINS})"
        )
        self.pin_button.clicked.connect(self.pin_requested)
        self.clear_pins_button = QPushButton("Clear pins")
        self.clear_pins_button.clicked.connect(self.clear_pins_requested)
        self.pins_table = QTableWidget(0, len(PIN_COLUMNS))
        self.pins_table.setHorizontalHeaderLabels(list(PIN_COLUMNS))
        self.pins_table.verticalHeader().setVisible(False)
        self.pins_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.pins_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in (1, 2):  # the pixels share what the dock's width leaves
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(PIN_COLUMNS) - 1, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(len(PIN_COLUMNS) - 1, UNPIN_WIDTH_PX)
        self.pins_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = self.pins_table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.pins_table.fontMetrics().height() + 6)
        self.pins_table.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.pin_button)
        buttons.addWidget(self.clear_pins_button)
        buttons.addStretch(1)
        self.show_pins([])
        return buttons

    def show_pins(self, pins: list[PinnedProbe]) -> None:
        """A row per pin: a swatch of its colour, its readings and a button that unpins it."""
        table = self.pins_table
        table.setRowCount(len(pins))
        for row, pin in enumerate(pins):
            swatch = QTableWidgetItem("●")
            swatch.setForeground(QColor(*pin.rgb))
            swatch.setToolTip(f"pin {row + 1}, clicked in {pin.reading.origin.upper()}")
            table.setItem(row, 0, swatch)
            for col, text in enumerate(reading_texts(pin.reading, decimals=1), start=1):
                table.setItem(row, col, QTableWidgetItem(text))
            unpin = QPushButton("×")
            unpin.setToolTip("Unpin")
            unpin.clicked.connect(lambda _=False, index=row: self.unpin_requested.emit(index))
            table.setCellWidget(row, len(PIN_COLUMNS) - 1, unpin)
        table.setVisible(bool(pins))
        if pins:
            height = table.horizontalHeader().sizeHint().height() + 4
            height += len(pins) * table.verticalHeader().defaultSectionSize()
            table.setFixedHeight(height)
        self.clear_pins_button.setEnabled(bool(pins))

    def show_probe(self, probe: ProbeReading | None, truth: PixelTruth | None = None) -> None:
        """The probe, and its match's true error when the pair has ground truth."""
        if truth is None:
            self.fields["true error"].setText("–")
        elif truth.error == truth.error:  # not NaN
            self.fields["true error"].setText(f"{truth.error:.2f} px")
        else:
            self.fields["true error"].setText("unknown")
        if probe is None:
            values = ["–", "click in A or B", "–", "–", "–"]
        else:
            values = [probe.origin.upper(), *reading_texts(probe)]
        names = ("clicked in", "A pixel", "B pixel", "certainty", "source")
        for name, value in zip(names, values, strict=True):
            self.fields[name].setText(value)
        self.fields["covariance"].setText(covariance_text(probe))

    def show_result(self, result: MatchResult | None) -> None:
        if result is None:
            for name in ("matcher", "matches", "total time", "stages"):
                self.fields[name].setText("–")
            return
        stages = {k: v for k, v in result.timings.items() if k != "total"}
        self.fields["matcher"].setText(result.provenance.matcher)
        self.fields["matches"].setText(str(result.num_matches))
        self.fields["total time"].setText(f"{result.timings.get('total', 0.0):.3f} s")
        self.fields["stages"].setText(
            "\n".join(f"{stage}: {seconds * 1000:.1f} ms" for stage, seconds in stages.items())
        )

    def show_error(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))
