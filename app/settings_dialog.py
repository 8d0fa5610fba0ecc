"""``Edit > Settings…`` (Ctrl+,): weight locations, device, RoMa's resolutions and the number of
samples, remembered with QSettings and applied to the state's settings of the matchers that take
them (a fresh window reads them back; options given on the command line win over them); and the
run store's memory budget (``AppState.set_run_budget``), in MiB.

A field left empty is the matcher's default (its key is removed from the state's settings).
Values are checked as the matchers check them (their ``conf_limits`` and own checks, by building
each matcher without loading weights) before the dialog closes; applying re-runs the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QWidget,
)

from app.state import KEYPOINT_MATCHERS, AppState
from core.errors import MatchscopeError
from core.run_store import DEFAULT_BUDGET_BYTES, MIB, budget_from_mib

WEIGHTS_DIR_KEY = "weights_dir"  # QSettings key of the weights folder
RUN_BUDGET_KEY = "run_budget_mib"  # QSettings key of the run store's budget (MiB; "": default)
SETTINGS_GROUP = "matcher_settings"  # QSettings group of the fields below
ROMA_MATCHERS = ("roma-outdoor", "roma", "roma-indoor")


@dataclass(frozen=True)
class Field:
    """A dialog field: the matcher option ``option`` of ``matchers``; ``kind``: "file" (a
    weights file or folder that must exist), "device", "text" or "int"."""

    label: str
    option: str
    matchers: tuple[str, ...]
    kind: str = "text"
    hint: str = ""


FIELDS = {
    "roma_outdoor_weights": Field(
        "RoMa outdoor weights", "roma_weights", ("roma-outdoor", "roma"), "file",
        "roma_outdoor.pth; empty: searched for (the weights folder, torch hub's cache)",
    ),
    "roma_indoor_weights": Field(
        "RoMa indoor weights", "roma_weights", ("roma-indoor",), "file",
        "roma_indoor.pth; empty: searched for",
    ),
    "dino_weights": Field(
        "Backbone weights", "dino_weights", ROMA_MATCHERS, "file",
        "dinov2_vitl14_pretrain.pth or a transformers folder; empty: searched for",
    ),
    "romav2_weights": Field(
        "RoMa v2 weights", "weights", ("romav2",), "file",
        "romav2.0.1.pt (DINOv3 inside); empty: searched for",
    ),
    "romav2_setting": Field(
        "RoMa v2 setting", "setting", ("romav2",), "text",
        "turbo, fast, base, precise or benchmark; empty: precise",
    ),
    "device": Field(
        "Device", "device", (*ROMA_MATCHERS, "romav2", *KEYPOINT_MATCHERS), "device",
        "auto: CUDA when torch sees one, else the CPU (RoMa, RoMa v2, the trained keypoint "
        "matchers)",
    ),
    "coarse_res": Field(
        "Coarse resolution", "coarse_res", ROMA_MATCHERS, "text",
        "RoMa's coarse pass, N or HxW, multiples of the patch size; empty: 560",
    ),
    "upsample_res": Field(
        "Upsample resolution", "upsample_res", ROMA_MATCHERS, "text",
        "RoMa's fine pass, N or HxW, sides divisible by 8, 0 for none; empty: 864",
    ),
    "num_samples": Field(
        "Samples", "num_samples", (*ROMA_MATCHERS, "romav2", "dense-flow"), "int",
        "matches drawn from a dense warp (RoMa, RoMa v2, dense-flow); empty: 5000",
    ),
}  # fmt: skip
"""QSettings key (in :data:`SETTINGS_GROUP`) -> its field."""


def remembered_values() -> dict[str, str]:
    """{field key: its text} of the fields set in QSettings (empty ones left out)."""
    settings = QSettings()
    values = {key: str(settings.value(f"{SETTINGS_GROUP}/{key}", "") or "") for key in FIELDS}
    return {key: value for key, value in values.items() if value}


def matcher_values(values: dict[str, str]) -> dict[str, dict[str, object]]:
    """{matcher: {option: typed value, or None for its default}} of field texts ``values``
    (every field; an empty one or device "auto" is None). MatchscopeError for a number that
    is not one."""
    options: dict[str, dict[str, object]] = {}
    for key, field in FIELDS.items():
        text = values.get(key, "").strip()
        default = text == "" or (field.kind == "device" and text == "auto")
        value: object = None if default else text
        if value is not None and field.kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise MatchscopeError(f"{field.label}: {text!r} is not a whole number") from None
        for name in field.matchers:
            options.setdefault(name, {})[field.option] = value
    return options


def apply_values(state: AppState, values: dict[str, str], keep: bool = False) -> None:
    """Set the state's settings of each matcher from field texts ``values`` (``keep``: the
    settings already there win, as the command line's do over the remembered ones)."""
    for name, options in matcher_values(values).items():
        state.update_settings(name, options, keep)


def apply_remembered_settings(state: AppState) -> None:
    """What the settings dialog remembered, under the settings the state already has."""
    values = remembered_values()
    if values:
        apply_values(state, values, keep=True)
    budget = str(QSettings().value(RUN_BUDGET_KEY, "") or "")
    if budget:
        try:
            state.set_run_budget(budget_from_mib(budget))
        except MatchscopeError:  # a value edited by hand outside the dialog: the default
            pass


def check_values(
    state: AppState, values: dict[str, str], weights_dir: str, budget_mib: str = ""
) -> None:
    """MatchscopeError (one line) for a value a matcher would refuse, a weights file or folder
    that does not exist, or a run budget (MiB) out of range."""
    if weights_dir and not Path(weights_dir).is_dir():
        raise MatchscopeError(f"Weights folder {weights_dir}: no such folder")
    if budget_mib:
        budget_from_mib(budget_mib)
    for key, field in FIELDS.items():
        text = values.get(key, "").strip()
        if field.kind == "file" and text and not Path(text).exists():
            raise MatchscopeError(f"{field.label} {text}: no such file or folder")
    from core.matchers import check_matcher

    for name, options in matcher_values(values).items():
        settings = {**state.settings_for(name), **options}
        settings = {key: value for key, value in settings.items() if value is not None}
        check_matcher(name, settings)


def install_settings_action(window: QMainWindow) -> QAction:
    """``Edit > Settings…`` (Ctrl+,) in ``window``: the dialog; on OK the values are remembered,
    applied to the state and the pair is matched again."""
    action = QAction("Settings…", window)
    action.setShortcut(QKeySequence("Ctrl+,"))
    action.setToolTip("Weight locations, device, resolutions, samples and the run memory budget")

    def open_dialog() -> None:
        dialog = SettingsDialog(window.state, window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            dialog.apply()
            window.state.set_status("Settings applied")
            if window.state.has_pair:
                window.run_match()

    action.triggered.connect(open_dialog)
    window.addAction(action)
    edit_menu(window).addAction(action)
    return action


def edit_menu(window: QMainWindow):
    """The window's Edit menu (made when it has none)."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "Edit":
            return action.menu()
    return window.menuBar().addMenu("&Edit")


class SettingsDialog(QDialog):
    """The fields of :data:`FIELDS` and the weights folder, filled from QSettings; OK checks
    them (a refused value is a message in the dialog, which stays open)."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.state = state
        remembered = remembered_values()
        form = QFormLayout(self)
        self.weights_dir_edit = QLineEdit(state.weights_dir)
        self.weights_dir_edit.setToolTip("A folder searched for model weights")
        form.addRow("Weights folder", self._with_browse(self.weights_dir_edit, folder=True))
        self.edits: dict[str, QLineEdit] = {}
        for key, field in FIELDS.items():
            if field.kind == "device":
                combo = QComboBox()
                combo.setEditable(True)
                combo.addItems(["auto", "cpu", "cuda"])
                combo.setCurrentText(remembered.get(key, "auto"))
                edit, row = combo.lineEdit(), combo
            else:
                edit = QLineEdit(remembered.get(key, ""))
                edit.setPlaceholderText("default")
                row = self._with_browse(edit) if field.kind == "file" else edit
            edit.setToolTip(field.hint)
            row.setToolTip(field.hint)
            self.edits[key] = edit
            form.addRow(field.label, row)
        self.budget_edit = QLineEdit(str(QSettings().value(RUN_BUDGET_KEY, "") or ""))
        self.budget_edit.setPlaceholderText(f"{DEFAULT_BUDGET_BYTES // MIB} (default)")
        self.budget_edit.setToolTip(
            "MiB that this session's runs (kept for Compare) may hold; the least recently used "
            "runs beyond it are dropped. 64 MiB up to the machine's memory"
        )
        form.addRow("Run memory budget (MiB)", self.budget_edit)
        self.message = QLabel("")
        self.message.setStyleSheet("color: #b00020")
        self.message.setWordWrap(True)
        form.addRow(self.message)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        """{field key: its text}."""
        return {key: edit.text().strip() for key, edit in self.edits.items()}

    def accept(self) -> None:
        try:
            check_values(
                self.state,
                self.values(),
                self.weights_dir_edit.text().strip(),
                self.budget_edit.text().strip(),
            )
        except MatchscopeError as exc:
            self.message.setText(str(exc))
            return
        super().accept()

    def apply(self) -> None:
        """Remember the values in QSettings and set them in the state."""
        settings, values = QSettings(), self.values()
        folder = self.weights_dir_edit.text().strip()
        settings.setValue(WEIGHTS_DIR_KEY, folder)
        for key, value in values.items():
            settings.setValue(f"{SETTINGS_GROUP}/{key}", value)
        self.state.weights_dir = folder
        apply_values(self.state, values)
        budget = self.budget_edit.text().strip()
        settings.setValue(RUN_BUDGET_KEY, budget)
        self.state.set_run_budget(budget_from_mib(budget) if budget else DEFAULT_BUDGET_BYTES)

    def _with_browse(self, edit: QLineEdit, folder: bool = False) -> QWidget:
        def browse() -> None:
            if folder:
                path = QFileDialog.getExistingDirectory(self, "Folder with weights", edit.text())
            else:
                path, _ = QFileDialog.getOpenFileName(self, "Weights", edit.text())
            if path:
                edit.setText(path)

        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        layout.addWidget(button)
        return row
