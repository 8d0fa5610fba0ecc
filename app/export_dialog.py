"""Export the window's views: ``File > Export view…``, "Export view…" in every view's context
menu, and the headless ``--screenshot-views`` (every view as its own PNG).

A view is the pair view (the central widget) or the widget of a dock; its file name is its
slug (``pair_view``, ``certainty``, ``true_error``, ...). Docks added to the window later are
found when the menu is used, not when it is made.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QCursor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QSpinBox,
    QWidget,
)

from core.errors import MatchscopeError
from widgets.export import DEFAULT_DPI, FORMATS, export_canvas, export_size, export_view

PAIR_VIEW = "pair_view"
SEQUENCE_ONLY = "sequence_only"
"""A dock property: the dock is a sequence's (hidden, and no view, without one)."""
EXPORT_TEXT = "Export view…"


def view_slug(title: str) -> str:
    """A dock title as a file name: "True error" -> "true_error"."""
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "view"


class ViewExporter(QObject):
    """The export actions of ``window``: a File menu entry, the views' context menus, and
    :meth:`save_views` for the headless screenshots. Errors go to ``report_error`` (one line),
    successes to ``report_status``; nothing raises into Qt."""

    def __init__(self, window: QMainWindow, report_status, report_error):
        super().__init__(window)  # the window is found as the parent: no reference cycle
        self.report_status, self.report_error = report_status, report_error
        self.folder = ""  # the last folder exported to
        self.menu_action = QAction(EXPORT_TEXT, window)
        self.menu_action.setToolTip("Save a view as PNG, SVG or PDF at a chosen DPI")
        self.menu_action.triggered.connect(lambda: self.open_dialog(self.current_view()))
        file_menu(window).addAction(self.menu_action)

    def views(self) -> dict[str, tuple[str, QWidget]]:
        """slug -> (title, widget) of the pair view, then of every dock by title."""
        views = {PAIR_VIEW: ("Pair view", self.parent().centralWidget())}
        docks = self.parent().findChildren(QDockWidget)
        for dock in sorted(docks, key=lambda dock: dock.windowTitle()):
            if dock.property(SEQUENCE_ONLY) and dock.isHidden():
                continue  # the Timeline and Statistics without a sequence
            if dock.widget() is not None:
                views[view_slug(dock.windowTitle())] = (dock.windowTitle(), dock.widget())
        return views

    def install_context_menus(self) -> None:
        """ "Export view…" in the context menu of every view: a pyqtgraph canvas's (in place of
        pyqtgraph's own "Export...", which exports one item at a time), else the widget's."""
        for name, (_, widget) in self.views().items():
            action = QAction(EXPORT_TEXT, widget)
            action.triggered.connect(lambda _=False, name=name: self.open_dialog(name))
            canvas = export_canvas(widget)
            if canvas is not None:
                canvas.scene().contextMenu = [action]
            else:
                widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
                widget.addAction(action)

    def current_view(self) -> str:
        """The view under the mouse, else the one holding the keyboard focus, else the pair
        view: what ``File > Export view…`` offers first."""
        for widget in (QApplication.widgetAt(QCursor.pos()), self.parent().focusWidget()):
            for name, (_, view) in self.views().items():
                if widget is not None and (widget is view or view.isAncestorOf(widget)):
                    return name
        return PAIR_VIEW

    def open_dialog(self, name: str) -> None:
        dialog = ExportDialog(self.views(), name, self.folder, self.parent())
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export(*dialog.choice())

    def export(self, name: str, path: str, dpi: float, width_in: float | None) -> bool:
        """Export view ``name`` to ``path``; True when written (see :func:`export_view`)."""
        views = self.views()
        if name not in views:
            self.report_error(f"no view named {name!r}: {', '.join(views)}")
            return False
        title, widget = views[name]
        try:
            written = export_view(widget, path, dpi, width_in)
        except MatchscopeError as exc:
            self.report_error(f"Export of {title}: {exc}")
            return False
        self.folder = str(written.parent)
        self.report_status(f"Exported {title} to {written}")
        return True

    def save_views(self, folder: str | Path) -> list[str]:
        """Raise each dock in turn and save what it shows (controls included, as on screen) as
        ``folder/SLUG.png``; returns the errors (one line each), empty when all were written."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return [f"{folder}: cannot create the folder ({exc.strerror or exc})"]
        errors = []
        for name, (_, widget) in self.views().items():
            dock = widget.parentWidget()
            if isinstance(dock, QDockWidget):
                dock.show()
                dock.raise_()
            for _ in range(3):  # the raised tab's resize, layouts, then its paint
                QApplication.processEvents()
            path = folder / f"{name}.png"
            if not widget.grab().save(str(path)):
                errors.append(f"cannot write the screenshot {path}")
        return errors


def file_menu(window: QMainWindow) -> QMenu:
    """The window's File menu (made when it has none)."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "File":
            return action.menu()
    return window.menuBar().addMenu("&File")


class ExportDialog(QDialog):
    """Choose a view, a format, a DPI, a width in inches (0: as on screen) and a file."""

    def __init__(self, views: dict[str, tuple[str, QWidget]], name: str, folder: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export view")
        self._views, self._folder = views, folder
        self.view_combo = QComboBox()
        for slug, (title, _) in views.items():
            self.view_combo.addItem(title, slug)
        self.view_combo.setCurrentIndex(max(self.view_combo.findData(name), 0))
        self.format_combo = QComboBox()
        self.format_combo.addItems([kind.upper() for kind in FORMATS])
        self.dpi_box = QSpinBox()
        self.dpi_box.setRange(30, 2400)
        self.dpi_box.setValue(DEFAULT_DPI)
        self.dpi_box.setSuffix(" dpi")
        self.dpi_box.setToolTip("PNG pixels per inch (SVG and PDF are vector)")
        self.width_box = QDoubleSpinBox()
        self.width_box.setRange(0.0, 100.0)
        self.width_box.setDecimals(2)
        self.width_box.setSingleStep(0.5)
        self.width_box.setSpecialValueText("as on screen")
        self.width_box.setSuffix(" in")
        self.width_box.setToolTip("Width of the figure (3.5 in: one column of a paper)")
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("View", self.view_combo)
        form.addRow("Format", self.format_combo)
        form.addRow("Resolution", self.dpi_box)
        form.addRow("Width", self.width_box)
        form.addRow("File", path_row)
        form.addRow(buttons)
        self.view_combo.currentIndexChanged.connect(self._update_path)
        self.format_combo.currentIndexChanged.connect(self._update_path)
        self.width_box.valueChanged.connect(self._update_size_hint)
        self.dpi_box.valueChanged.connect(self._update_size_hint)
        self._update_path()

    def choice(self) -> tuple[str, str, float, float | None]:
        """(view slug, path, dpi, width in inches or None for as on screen)."""
        width = self.width_box.value() or None
        return self.view_combo.currentData(), self.path_edit.text(), self.dpi_box.value(), width

    def _suffix(self) -> str:
        return FORMATS[self.format_combo.currentIndex()]

    def _update_path(self) -> None:
        """The file: the view's name with the format's suffix, in the current path's folder."""
        current = Path(self.path_edit.text()) if self.path_edit.text() else None
        folder = current.parent if current is not None else Path(self._folder or Path.cwd())
        self.path_edit.setText(str(folder / f"{self.view_combo.currentData()}.{self._suffix()}"))
        self._update_size_hint()

    def _update_size_hint(self) -> None:
        _, widget = self._views[self.view_combo.currentData()]
        width, height = export_size(widget, self.width_box.value() or None)
        dpi = self.dpi_box.value()
        pixels = (
            f", {round(width * dpi)} x {round(height * dpi)} px" if self._suffix() == "png" else ""
        )
        self.width_box.setToolTip(f"{width:.2f} x {height:.2f} in{pixels}")

    def _browse(self) -> None:
        kind = self._suffix()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export view", self.path_edit.text(), f"{kind.upper()} (*.{kind})"
        )
        if path:
            self.path_edit.setText(path if path.lower().endswith(f".{kind}") else f"{path}.{kind}")
