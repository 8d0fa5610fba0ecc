"""``File > Export figure…`` and the headless ``--export-figure PATH``: the window's result for
the current probe composed into one paper figure (see :mod:`core.figure_compose`), read from the
state (result, images, probe, pinned probes, ground-truth errors, threshold, the chosen scale) and
the Attention view's block and head; no model runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.export_dialog import file_menu
from core.errors import MatchscopeError
from core.figure_compose import (
    DEFAULT_PANELS,
    DPI_RANGE,
    PANELS,
    WIDTH_RANGE_IN,
    FigureInputs,
    available_panels,
    check_figure_path,
    check_figure_size,
    export_figure,
)

FIGURE_TEXT = "Export figure…"


def figure_inputs(window: QMainWindow) -> FigureInputs:
    """What the window shows now, as a figure's inputs; MatchscopeError without a result."""
    state = window.state
    if state.result is None or state.image_a is None or state.image_b is None:
        raise MatchscopeError("no result to make a figure of: match a pair first")
    view = window.attention_view
    block, head = view.block_box.currentIndex(), view.head_box.currentIndex()
    return FigureInputs(
        state.result,
        state.image_a.rgb,
        state.image_b.rgb,
        state.probe,
        state.truth_errors,
        "true error" if state.ground_truth is None else state.ground_truth.error_name,
        (Path(state.image_a.path).name, Path(state.image_b.path).name),
        state.threshold,
        block if block >= 0 else None,
        head - 1 if head >= 0 else None,  # the head box's first entry is the mean of the heads
        state.scale,  # "final" unless chosen in the Certainty/Warp docks or by a workspace
        tuple(state.pinned),
    )


@dataclass(frozen=True)
class FigureRequest:
    """A figure to export: ``panels`` None = the default ones that the result has."""

    path: str
    panels: tuple[str, ...] | None = None
    width_in: float = 7.0
    dpi: float = 300.0

    def export(self, window: QMainWindow) -> Path:
        """Write the window's figure; MatchscopeError (one line) when it cannot be made."""
        inputs = figure_inputs(window)
        panels = self.panels
        if panels is None:
            panels = [key for key in DEFAULT_PANELS if key in available_panels(inputs)]
        return export_figure(inputs, self.path, panels, self.width_in, self.dpi)


def install_figure_action(window: QMainWindow) -> QAction:
    """``File > Export figure…`` in ``window``'s File menu; what it writes is reported in the
    status bar, what fails as the state's error."""
    action = QAction(FIGURE_TEXT, window)
    action.setToolTip("Compose the chosen views for the probe into one figure (PNG, SVG, PDF)")
    folder = [""]  # the last folder exported to

    def open_dialog() -> None:
        try:
            available = available_panels(figure_inputs(window))
        except MatchscopeError as exc:
            window.state.set_error(str(exc))
            return
        dialog = FigureDialog(available, folder[0], window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            written = export_window_figure(window, dialog.request())
            if written is not None:
                folder[0] = str(written.parent)

    action.triggered.connect(open_dialog)
    file_menu(window).addAction(action)
    return action


def export_window_figure(window: QMainWindow, request: FigureRequest) -> Path | None:
    """Export ``request``; the written path, or None with the error shown."""
    try:
        written = request.export(window)
    except MatchscopeError as exc:
        window.state.set_error(f"Export figure: {exc}")
        return None
    window.state.set_status(f"Exported the figure to {written}")
    return written


class FigureDialog(QDialog):
    """Choose the panels (those the result has), the width in inches, the DPI and the file (its
    suffix is the format). Refuses (with a message) no panel or a wrong suffix."""

    def __init__(self, available: list[str], folder: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export figure")
        self.boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        for index, key in enumerate(available):
            box = QCheckBox(PANELS[key])
            box.setChecked(key in DEFAULT_PANELS)
            self.boxes[key] = box
            grid.addWidget(box, index // 2, index % 2)
        self.width_box = QDoubleSpinBox()
        self.width_box.setRange(*WIDTH_RANGE_IN)
        self.width_box.setDecimals(2)
        self.width_box.setSingleStep(0.5)
        self.width_box.setValue(7.0)
        self.width_box.setSuffix(" in")
        self.width_box.setToolTip("7.0 in: a paper's double column; 3.5 in: a single column")
        self.dpi_box = QSpinBox()
        self.dpi_box.setRange(*DPI_RANGE)
        self.dpi_box.setValue(300)
        self.dpi_box.setSuffix(" dpi")
        self.path_edit = QLineEdit(str(Path(folder or Path.cwd()) / "figure.pdf"))
        self.path_edit.setToolTip("The format is the file's suffix: .png, .svg or .pdf")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.message = QLabel("")
        self.message.setStyleSheet("color: #b00020")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Panels", grid)
        form.addRow("Width", self.width_box)
        form.addRow("Resolution", self.dpi_box)
        form.addRow("File", path_row)
        form.addRow(self.message)
        form.addRow(buttons)

    def request(self) -> FigureRequest:
        panels = tuple(key for key, box in self.boxes.items() if box.isChecked())
        return FigureRequest(
            self.path_edit.text(), panels, self.width_box.value(), self.dpi_box.value()
        )

    def accept(self) -> None:
        """Close only with at least one panel and a .png, .svg or .pdf file."""
        request = self.request()
        try:
            if not request.panels:
                raise MatchscopeError("choose at least one panel")
            check_figure_path(request.path)
            check_figure_size(request.width_in, request.dpi)
        except MatchscopeError as exc:
            self.message.setText(str(exc))
            return
        super().accept()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export figure", self.path_edit.text(), "PDF, SVG or PNG (*.pdf *.svg *.png)"
        )
        if path:
            self.path_edit.setText(path)
