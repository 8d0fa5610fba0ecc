"""Export a view over a range of a sequence: File > Export sequence view… and the headless
``--export-sequence`` (an MP4 through PyAV, or a folder of PNGs; see
:mod:`core.sequence.export`).

For each position of the range the window shows the pair there (the timeline moves with it),
waits, when asked, for the pair's result (it is matched at once if it is not yet), and grabs the
view as on screen. The wait runs Qt's event loop, so the window stays responsive; a progress
dialog's Cancel stops the export and the file written so far stays playable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.export_dialog import PAIR_VIEW, file_menu
from core.errors import MatchscopeError
from core.sequence.export import open_frame_writer

EXPORT_SEQUENCE_TEXT = "Export sequence view…"
DEFAULT_FPS = 10.0
RESULT_POLL_S = 0.01


@dataclass(frozen=True)
class SequenceExport:
    """What to export: view ``view`` (a slug of `ViewExporter.views`), positions ``start`` to
    ``stop`` (inclusive), to ``path`` (``.mp4``/``.mkv``/``.mov``/``.avi``: a video; else a
    folder of PNGs) at ``fps`` frames per second; ``wait``: each pair's result first."""

    view: str
    start: int
    stop: int
    path: str
    fps: float = DEFAULT_FPS
    wait: bool = True


def grab_rgb(widget: QWidget) -> np.ndarray:
    """(H, W, 3) uint8 RGB of ``widget`` as it is on screen (device pixels)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = image.height(), image.width(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def export_sequence_view(window, request: SequenceExport, progress=None) -> int:
    """Write ``request``'s frames; returns how many were written. ``progress(done, total)``
    returns False to stop. :class:`MatchscopeError` (one line) for a view that does not exist,
    a range outside the sequence or a file that cannot be written."""
    session = window.sequence
    if session is None:
        raise MatchscopeError("open a sequence first")
    views = window.view_exporter.views()
    if request.view not in views:
        raise MatchscopeError(f"no view named {request.view!r}: {', '.join(views)}")
    if not 0 <= request.start <= request.stop < len(session):
        raise MatchscopeError(
            f"frames {request.start}..{request.stop}: the sequence has positions "
            f"0..{len(session) - 1}"
        )
    widget = views[request.view][1]
    positions = [p for p in range(request.start, request.stop + 1) if p not in session.bad]
    written = 0
    with window.out_of_sight.suspended(), open_frame_writer(request.path, request.fps) as writer:
        for index, position in enumerate(positions):
            if progress is not None and progress(index, len(positions)) is False:
                break
            window.show_position(position)
            if request.wait:
                _wait_for_result(window, progress, index, len(positions))
            QApplication.processEvents()
            writer.write(grab_rgb(widget))
            written += 1
    return written


def _wait_for_result(window, progress, index: int, total: int) -> None:
    """Run the event loop until the shown pair has its result (or cannot have one)."""
    session, state = window.sequence, window.state
    pair = session.current_pair()
    if pair is None or state.result is not None:
        return
    window.sequence_matcher.request(pair)
    while state.result is None and window.sequence is session:
        if any(position in session.bad for position in pair):
            return
        if session.results.has(*pair) and not session.results.has_result(*pair):
            return  # it failed (the status says why)
        if progress is not None and progress(index, total) is False:
            return
        QApplication.processEvents()
        time.sleep(RESULT_POLL_S)


class SequenceExportDialog(QDialog):
    """Choose the view, the range, the frame rate, whether to wait for results, and the file."""

    def __init__(self, views: dict, length: int, position: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export sequence view")
        self.view_box = QComboBox()
        for name, (title, _) in views.items():
            self.view_box.addItem(title, name)
        self.view_box.setCurrentIndex(max(self.view_box.findData(PAIR_VIEW), 0))
        self.start_box, self.stop_box = QSpinBox(), QSpinBox()
        for box, value in ((self.start_box, position), (self.stop_box, length - 1)):
            box.setRange(0, length - 1)
            box.setValue(value)
        self.fps_box = QDoubleSpinBox()
        self.fps_box.setRange(0.5, 120.0)
        self.fps_box.setValue(DEFAULT_FPS)
        self.wait_box = QCheckBox("Wait for each pair's result")
        self.wait_box.setChecked(True)
        self.path_edit = QLineEdit("sequence.mp4")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("View", self.view_box)
        form.addRow("From position", self.start_box)
        form.addRow("To position", self.stop_box)
        form.addRow("Frames per second", self.fps_box)
        form.addRow("", self.wait_box)
        form.addRow("File (.mp4) or folder (PNGs)", path_row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.path_edit.text(), "MP4 video (*.mp4);;PNG folder (*)"
        )
        if path:
            self.path_edit.setText(path)

    def choice(self) -> SequenceExport:
        return SequenceExport(
            self.view_box.currentData(),
            self.start_box.value(),
            self.stop_box.value(),
            self.path_edit.text().strip(),
            self.fps_box.value(),
            self.wait_box.isChecked(),
        )


def install_sequence_export_action(window) -> QAction:
    """File > Export sequence view… (enabled with a sequence open)."""
    action = QAction(EXPORT_SEQUENCE_TEXT, window)
    action.setToolTip("Save a view over a range of frames as an MP4 video or PNG images")
    action.triggered.connect(lambda: ask_and_export(window))
    file_menu(window).addAction(action)
    return action


def ask_and_export(window) -> None:
    session = window.sequence
    if session is None:
        window.state.set_error("open a sequence first")
        return
    views = window.view_exporter.views()
    dialog = SequenceExportDialog(views, len(session), session.position, window)
    if dialog.exec() == QDialog.DialogCode.Accepted:
        run_export(window, dialog.choice())


def run_export(window, request: SequenceExport) -> bool:
    """Export with a progress dialog (Cancel stops); the outcome goes to the status bar."""
    dialog = QProgressDialog("Exporting…", "Cancel", 0, 1, window)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)

    def progress(done: int, total: int) -> bool:
        dialog.setMaximum(total)
        dialog.setValue(done)
        return not dialog.wasCanceled()

    try:
        count = export_sequence_view(window, request, progress)
    except MatchscopeError as exc:
        window.state.set_error(f"Export: {exc}")
        return False
    finally:
        dialog.close()
    window.state.set_status(f"Exported {count} frames of the {request.view} to {request.path}")
    return True
