"""`ProbePanel`: the probe's pixels of A and B, its certainty and true error, the result's
summary and the last error, as text (the Probe dock)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from core.bench.truth import PixelTruth
from core.probe import ProbeReading
from core.result import MatchResult


class ProbePanel(QScrollArea):
    """The probe's A and B pixels and certainty, the result summary, and the last error
    (wrapped, and scrolled when the dock is too short for it)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fields = {
            name: QLabel("–")
            for name in (
                "A pixel",
                "B pixel",
                "certainty",
                "source",
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
            form.addRow(f"{name}:", label)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setStyleSheet("color: #c0392b; font-weight: bold;")
        self.message.hide()
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)

    def show_probe(self, probe: ProbeReading | None, truth: PixelTruth | None = None) -> None:
        """The probe, and its match's true error when the pair has ground truth."""
        if truth is None:
            self.fields["true error"].setText("–")
        elif truth.error == truth.error:  # not NaN
            self.fields["true error"].setText(f"{truth.error:.2f} px")
        else:
            self.fields["true error"].setText("unknown")
        if probe is None:
            values = ["click in A", "–", "–", "–"]
        else:
            b_pixel = f"({probe.xb:.2f}, {probe.yb:.2f})" if probe.has_match else "no match"
            values = [
                f"({probe.xa:.0f}, {probe.ya:.0f})",
                b_pixel,
                f"{probe.certainty:.3f}",
                probe.source,
            ]
        for name, value in zip(("A pixel", "B pixel", "certainty", "source"), values, strict=True):
            self.fields[name].setText(value)

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
