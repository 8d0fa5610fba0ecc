"""`MatchesTable`: every match of a result in a table (positions, certainty and, with ground
truth, the true error), sortable by any column, filtered by a minimum certainty, linked to the
probe, and saved to CSV.

The rows live in a `MatchesModel` that sorts and filters with numpy (an index array of the rows
shown), so 20 000 matches sort in milliseconds: a `QSortFilterProxyModel` would call back into
Python for every comparison and every row. Only the visible cells are ever formatted.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.matches_csv import matches_table, save_matches_csv
from core.probe import ProbeReading
from core.result import MatchResult

POSITION_COLUMNS = ("xA", "yA", "xB", "yB")
MATCH_TOLERANCE_PX = 1e-3
"""A probe is a row's match when all four of its coordinates are this close to the row's."""
_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class MatchesModel(QAbstractTableModel):
    """The matches as rows ``#, xA, yA, xB, yB, certainty[, error]``; ``rows`` holds the match
    index of each row shown (those with certainty >= ``min_certainty``, in the sort order)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._values = np.zeros((0, 6))  # (N, C): index, positions, certainty[, error]
        self._headers = ["#", *POSITION_COLUMNS, "certainty"]
        self.min_certainty = 0.0
        self.sort_column, self.sort_order = 0, Qt.SortOrder.AscendingOrder
        self.rows = np.zeros(0, np.int64)

    @property
    def total(self) -> int:
        """How many matches the result has (shown or not)."""
        return len(self._values)

    @property
    def has_errors(self) -> bool:
        return len(self._headers) == 7

    def set_matches(self, table: np.ndarray, error_name: str | None = None) -> None:
        """(N, 5) ``[xA, yA, xB, yB, certainty]`` or (N, 6) with the true error in px (then
        ``error_name`` heads its column)."""
        self.beginResetModel()
        self._values = np.column_stack([np.arange(len(table)), table])
        self._headers = ["#", *POSITION_COLUMNS, "certainty"]
        if table.shape[1] == 6:
            self._headers.append(f"{error_name or 'true error'} (px)")
        self._update_rows()
        self.endResetModel()

    def set_min_certainty(self, value: float) -> None:
        self.beginResetModel()
        self.min_certainty = float(value)
        self._update_rows()
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` (stable; unknown errors last in either order)."""
        self.beginResetModel()
        self.sort_column, self.sort_order = column, order
        self._update_rows()
        self.endResetModel()

    def _update_rows(self) -> None:
        keep = np.flatnonzero(self._values[:, 5] >= self.min_certainty)
        column = min(self.sort_column, self._values.shape[1] - 1)
        values = self._values[keep, column]
        if self.sort_order == Qt.SortOrder.DescendingOrder:
            values = -values  # NaN stays NaN: last either way
        self.rows = keep[np.argsort(values, kind="stable")]

    def row_of(self, match: int) -> int | None:
        """The row showing match ``match``, or None when it is filtered out."""
        hits = np.flatnonzero(self.rows == match)
        return int(hits[0]) if hits.size else None

    def match_at(self, row: int) -> int:
        return int(self.rows[row])

    def value(self, row: int, column: int) -> float:
        return float(self._values[self.rows[row], column])

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._headers)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        column = index.column()
        value = self.value(index.row(), column)
        if column == 0:
            return str(int(value))
        if column == 5:
            return f"{value:.3f}"
        if column == 6 and value != value:  # NaN
            return "unknown"
        return f"{value:.2f}"

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        if role == Qt.ItemDataRole.InitialSortOrderRole and section >= 5:
            return Qt.SortOrder.DescendingOrder  # the surest, or the worst, matches first
        return None


class MatchesTable(QWidget):
    """The result's matches; a click (or the arrow keys) on a row emits
    ``match_clicked(index)``, the match's index in the result; `set_probe` selects the row of
    the probed match. The minimum certainty follows `set_threshold` (the window's slider) and
    can be changed here for the table alone."""

    match_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = MatchesModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row measuring
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.min_box = QDoubleSpinBox()
        self.min_box.setRange(0.0, 1.0)
        self.min_box.setDecimals(3)
        self.min_box.setSingleStep(0.01)
        self.min_box.setToolTip(
            "Show only matches with certainty >= this (follows the toolbar's slider)"
        )
        self.count_label = QLabel("no result")
        self.message = QLabel()
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("Save CSV…")
        self.save_button.setToolTip("Write every match as xA,yA,xB,yB,certainty[,error]")
        self.save_button.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Certainty ≥"))
        top.addWidget(self.min_box)
        top.addWidget(self.count_label)
        top.addStretch(1)
        top.addWidget(self.message)
        top.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._result: MatchResult | None = None
        self._errors: np.ndarray | None = None
        self._probed: int | None = None  # the probed match's index in the result
        self._syncing = False  # selecting the probed row: not a user's choice
        self.min_box.valueChanged.connect(self._on_min_certainty)
        self.model.modelReset.connect(self._after_reset)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.save_button.clicked.connect(self._choose_csv)

    def set_result(
        self,
        result: MatchResult | None,
        errors: np.ndarray | None = None,
        error_name: str = "true error",
    ) -> None:
        """Show ``result``'s matches (None clears the table), with the (N,) true ``errors`` in
        px (NaN unknown) as a last column named ``error_name`` when the pair has ground truth."""
        self._result, self._errors, self._probed = result, errors, None
        self.message.setText("")
        if result is None:
            self.model.set_matches(np.zeros((0, 5)))
        else:
            self.model.set_matches(matches_table(result, errors), error_name)
        self.save_button.setEnabled(result is not None)
        self._size_columns()

    def set_threshold(self, threshold: float) -> None:
        """The minimum certainty of the rows shown (the window's slider)."""
        self.min_box.setValue(threshold)

    def set_probe(self, probe: ProbeReading | None) -> None:
        """Select and scroll to the row of the match the probe is at (A and B ends within
        ``MATCH_TOLERANCE_PX``); no row is selected when the probe is at no match."""
        self._probed = self._match_of(probe)
        self._select_probed()

    def save_csv(self, path: str) -> bool:
        """Write the result's matches (all of them, in the result's order, with the error
        column when there is ground truth) to ``path``; False (and a message) on failure."""
        if self._result is None:
            return False
        try:
            save_matches_csv(self._result, path, self._errors)
        except OSError as exc:
            self.message.setText(f"cannot write {path}: {exc.strerror or exc}")
            return False
        self.message.setText(f"Wrote {path}")
        return True

    @property
    def probed_match(self) -> int | None:
        """The index in the result of the match the probe is at, if any."""
        return self._probed

    def _match_of(self, probe: ProbeReading | None) -> int | None:
        result = self._result
        if probe is None or not probe.has_match or result is None or not result.num_matches:
            return None
        matches = result.matches
        candidates = np.flatnonzero(np.abs(matches[:, 0] - probe.xa) <= MATCH_TOLERANCE_PX)
        target = np.array([probe.xa, probe.ya, probe.xb, probe.yb])
        close = np.all(np.abs(matches[candidates] - target) <= MATCH_TOLERANCE_PX, axis=1)
        return int(candidates[close][0]) if close.any() else None

    def _select_probed(self) -> None:
        selection = self.table.selectionModel()
        row = None if self._probed is None else self.model.row_of(self._probed)
        self._syncing = True
        try:
            if row is None:
                selection.clear()  # also the current row, so that a click on it probes again
            else:
                index = self.model.index(row, 0)
                flags = (
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows
                )
                selection.setCurrentIndex(index, flags)
                self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._syncing = False

    def _on_current_row(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        match = self.model.match_at(current.row())
        if match != self._probed:
            self.match_clicked.emit(match)

    def _on_min_certainty(self, value: float) -> None:
        self.model.set_min_certainty(value)

    def _after_reset(self) -> None:
        """Rows were sorted or filtered: count them and keep the probed one selected."""
        total, shown = self.model.total, self.model.rowCount()
        if self._result is None:
            self.count_label.setText("no result")
        else:
            self.count_label.setText(f"{shown} of {total} matches")
        self._select_probed()

    def _size_columns(self) -> None:
        """Widths from the font for sample values (measuring 20 000 rows would be slow)."""
        metrics, header = self.fontMetrics(), self.table.horizontalHeader()
        samples = ["000000", *["00000.00"] * 4, "0.000 "]
        for column, sample in enumerate(samples):
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal))
            width = max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(title))
            header.resizeSection(column, width + 24)

    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save matches as CSV", "matches.csv", "CSV (*.csv);;All files (*)"
        )
        if path:
            self.save_csv(path)
