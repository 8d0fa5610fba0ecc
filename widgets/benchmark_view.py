"""`BenchmarkView`: the Benchmarks dock: a dataset, matchers, a run with progress, the
comparison table and every pair's error; a click on a pair asks to open it."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.bench import report

PAIR_ERROR_TITLES = {"pose": "pose error °", "homography": "corner error px", "flow": "EPE px"}
"""What a pair's error is, by dataset kind (see :class:`core.bench.pairs.PairScore`)."""
FAILURE_CHARS = 48
"""A failed pair's cell shows at most this many characters of its message."""
INDEX_ROLE = Qt.ItemDataRole.UserRole  # the pair's index in the plan, on each row's first item


class BenchmarkView(QWidget):
    """Choose a dataset folder and matchers, run, read the tables, click a pair to open it.

    run_requested(dataset, matchers, max_pairs, ransac_runs): ``max_pairs`` / ``ransac_runs``
    None for all pairs / the protocol's runs. cancel_requested(). save_requested(folder).
    pair_activated(matcher, index): a click on pair ``index`` (in the column of ``matcher``,
    or elsewhere in the row: the matcher chosen in the summary table, else the first).
    """

    run_requested = Signal(str, list, object, object)
    cancel_requested = Signal()
    save_requested = Signal(str)
    pair_activated = Signal(str, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText(
            "a dataset folder: pairs_with_gt.txt, KITTI, Oxford/HPatches, Middlebury, "
            "MegaDepth/ScanNet-1500"
        )
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.matcher_list = QListWidget()
        self.matcher_list.setFlow(QListWidget.Flow.LeftToRight)
        self.matcher_list.setWrapping(True)
        self.matcher_list.setMaximumHeight(60)
        self.matcher_list.setToolTip("Matchers to compare (checked ones run, in this order)")
        self.max_pairs_box = QSpinBox()
        self.max_pairs_box.setRange(0, 1_000_000)
        self.max_pairs_box.setSpecialValueText("all")
        self.max_pairs_box.setToolTip("Only the first N pairs")
        self.ransac_box = QSpinBox()
        self.ransac_box.setRange(0, 100)
        self.ransac_box.setSpecialValueText("protocol")
        self.ransac_box.setToolTip("RANSAC runs per pose pair (default: the dataset's protocol)")
        self.run_button = QPushButton("Run benchmark")
        self.run_button.clicked.connect(self._request_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.save_button = QPushButton("Save report…")
        self.save_button.setEnabled(False)
        self.save_button.setToolTip("report.md with the table and plots, and results.json")
        self.save_button.clicked.connect(self._request_save)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header_label = QLabel()
        self.header_label.setWordWrap(True)
        self.header_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header_label.setStyleSheet("color: #666;")
        self.sequence_combo = QComboBox()
        self.sequence_combo.setToolTip("The metrics and pairs of one sequence")
        self.sequence_combo.currentIndexChanged.connect(self._on_sequence_chosen)
        self.sequence_combo.hide()
        self._results: dict | None = None
        self.summary_table = _table()
        self.pairs_table = _table()
        self.pairs_table.cellClicked.connect(self._on_pair_clicked)
        self._matchers: list[str] = []
        self._error_columns: dict[str, int] = {}

        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.dataset_edit, 1)
        top.addWidget(self.browse_button)
        options = QHBoxLayout()
        options.addWidget(QLabel("Matchers"))
        options.addWidget(self.matcher_list, 1)
        options.addWidget(QLabel("Pairs"))
        options.addWidget(self.max_pairs_box)
        options.addWidget(QLabel("RANSAC runs"))
        options.addWidget(self.ransac_box)
        actions = QHBoxLayout()
        for widget in (self.run_button, self.cancel_button):
            actions.addWidget(widget)
        actions.addWidget(self.progress, 1)
        actions.addWidget(self.sequence_combo)
        actions.addWidget(self.save_button)
        tables = QSplitter(Qt.Orientation.Vertical)
        tables.addWidget(self.summary_table)
        tables.addWidget(self.pairs_table)
        tables.setSizes([120, 300])
        layout = QVBoxLayout(self)
        for row in (top, options, actions):
            layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.header_label)
        layout.addWidget(tables, 1)

    # inputs -------------------------------------------------------------------------------------

    def set_matchers(self, names: list[str], checked: list[str]) -> None:
        """Offer ``names``; ``checked`` ones are ticked."""
        self.matcher_list.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked
            )
            self.matcher_list.addItem(item)

    def checked_matchers(self) -> list[str]:
        items = (self.matcher_list.item(row) for row in range(self.matcher_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Benchmark dataset folder", self.dataset_edit.text()
        )
        if folder:
            self.dataset_edit.setText(folder)

    def _request_run(self) -> None:
        max_pairs = self.max_pairs_box.value() or None
        runs = self.ransac_box.value() or None
        self.run_requested.emit(
            self.dataset_edit.text().strip(), self.checked_matchers(), max_pairs, runs
        )

    def _request_save(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for report.md and results.json")
        if folder:
            self.save_requested.emit(folder)

    # outputs ------------------------------------------------------------------------------------

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:  # the tables belong to the previous run until the new one is planned
            self.save_button.setEnabled(False)
            self.sequence_combo.hide()
            self._results = None
            for table in (self.summary_table, self.pairs_table):
                table.setSortingEnabled(False)
                table.clear()
                table.setRowCount(0)
                table.setColumnCount(0)
            self.header_label.clear()
        else:
            self.progress.setValue(0)
            self.progress.setFormat("idle")

    def set_progress(self, text: str, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(f"{text}  %p%")

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b; font-weight: bold;" if error else "")

    def show_plan(self, header: list[str], kind: str, pairs: list, matchers: list[str]) -> None:
        """A new benchmark: its header lines, and a row per pair (``pairs``: objects with
        ``sequence``, ``name_a``, ``name_b``) with an empty error column per matcher."""
        self.header_label.setText("\n".join(header))
        self._matchers = list(matchers)
        with_sequences = any(pair.sequence for pair in pairs)
        titles = (["sequence"] if with_sequences else []) + ["A", "B"]
        self._error_columns = {name: len(titles) + i for i, name in enumerate(matchers)}
        titles += [f"{name}: {PAIR_ERROR_TITLES[kind]}" for name in matchers]
        table = self.pairs_table  # cleared, unsorted, by set_running(True)
        table.setColumnCount(len(titles))
        table.setHorizontalHeaderLabels(titles)
        table.setRowCount(len(pairs))
        for row, pair in enumerate(pairs):
            texts = ([pair.sequence] if with_sequences else []) + [pair.name_a, pair.name_b]
            for column, text in enumerate(texts):
                table.setItem(row, column, QTableWidgetItem(text))
            table.item(row, 0).setData(INDEX_ROLE, row)
            for column in self._error_columns.values():
                table.setItem(row, column, QTableWidgetItem("…"))

    def set_pair_error(self, matcher: str, index: int, error: float, failure: str = "") -> None:
        """Pair ``index``'s error for ``matcher`` (``inf``: the matcher failed on it, with the
        one-line ``failure``: shown, shortened, and whole in the tooltip)."""
        item = QTableWidgetItem()
        if math.isfinite(error):
            item.setData(Qt.ItemDataRole.DisplayRole, round(error, 3))
        else:
            text = f"failed: {failure}" if failure else "failed"
            item.setText(text if len(text) <= FAILURE_CHARS else text[: FAILURE_CHARS - 1] + "…")
            item.setToolTip(failure)
        self.pairs_table.setItem(index, self._error_columns[matcher], item)

    def show_results(self, results: dict) -> None:
        """The comparison table (as ``bench pairs`` prints it), a sequence filter for folders
        of sequences; the pair table becomes sortable."""
        self._results = results
        sequences = list(dict.fromkeys(row[0] for row in report.sequence_rows(results)[1:]))
        blocked = self.sequence_combo.blockSignals(True)
        self.sequence_combo.clear()
        self.sequence_combo.addItems(["all sequences", *sequences])
        self.sequence_combo.blockSignals(blocked)
        self.sequence_combo.setVisible(bool(sequences))
        self._fill_summary(report.table_rows(results))
        for name, entry in results["matchers"].items():
            if "skipped" in entry and name in self._error_columns:
                for row in range(self.pairs_table.rowCount()):
                    item = QTableWidgetItem("skipped")
                    item.setToolTip(entry["skipped"])
                    self.pairs_table.setItem(row, self._error_columns[name], item)
        self.pairs_table.setSortingEnabled(True)
        self.save_button.setEnabled(True)

    def show_sequence(self, sequence: str | None) -> None:
        """Only ``sequence``'s metrics and pairs (None: all of them)."""
        index = 0 if sequence is None else self.sequence_combo.findText(sequence)
        self.sequence_combo.setCurrentIndex(max(index, 0))

    def _on_sequence_chosen(self, index: int) -> None:
        if self._results is None:
            return
        sequence = self.sequence_combo.itemText(index) if index > 0 else None
        if sequence is None:
            rows = report.table_rows(self._results)
        else:
            every = report.sequence_rows(self._results)
            rows = [every[0][1:]] + [row[1:] for row in every[1:] if row[0] == sequence]
        self._fill_summary(rows)
        table = self.pairs_table
        for row in range(table.rowCount()):
            hidden = sequence is not None and table.item(row, 0).text() != sequence
            table.setRowHidden(row, hidden)

    def _fill_summary(self, rows: list[list[str]]) -> None:
        """Header row, then one row per matcher."""
        table = self.summary_table
        table.clear()
        table.setColumnCount(len(rows[0]))
        table.setHorizontalHeaderLabels(rows[0])
        table.setRowCount(len(rows) - 1)
        for row, cells in enumerate(rows[1:]):
            for column, text in enumerate(cells):
                table.setItem(row, column, QTableWidgetItem(text))
        if table.rowCount():
            table.selectRow(0)

    def _on_pair_clicked(self, row: int, column: int) -> None:
        index = self.pairs_table.item(row, 0).data(INDEX_ROLE)
        by_column = {column: name for name, column in self._error_columns.items()}
        matcher = by_column.get(column)
        if matcher is None:
            chosen = self.summary_table.selectedItems()
            names = [self.summary_table.item(item.row(), 0).text() for item in chosen]
            matcher = names[0] if names else (self._matchers[0] if self._matchers else None)
        if matcher is not None and index is not None:
            self.pair_activated.emit(matcher, int(index))


def _table() -> QTableWidget:
    table = QTableWidget()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.verticalHeader().setVisible(False)
    return table
