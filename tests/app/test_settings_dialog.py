"""Edit > Settings…: weight locations, device, resolutions and samples, remembered with
QSettings, applied to the matchers that take them, read back by a fresh window; refused values."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog

from app.settings_dialog import (
    FIELDS,
    RUN_BUDGET_KEY,
    SETTINGS_GROUP,
    WEIGHTS_DIR_KEY,
    SettingsDialog,
    edit_menu,
)
from core.matchers import BUILTIN_MATCHERS, matcher_class
from core.run_store import DEFAULT_BUDGET_BYTES, MIB, machine_memory_bytes
from tests.app import test_export_views
from tests.app.plugins import shift_result
from tests.app.test_window import make_window

pair = test_export_views.pair  # the fixture


@pytest.fixture
def app_settings(tmp_path):
    """QSettings in a folder of the test, emptied of the dialog's keys afterwards."""
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    yield QSettings()
    for key in (SETTINGS_GROUP, WEIGHTS_DIR_KEY, RUN_BUDGET_KEY):
        QSettings().remove(key)


def test_each_field_goes_to_every_built_in_matcher_with_its_option():
    for option in {field.option for field in FIELDS.values()}:
        takers = {name for f in FIELDS.values() if f.option == option for name in f.matchers}
        expected = {n for n in BUILTIN_MATCHERS if option in matcher_class(n).default_conf}
        assert takers == expected, option


def fill(dialog: SettingsDialog, folder: str = "", **values: str) -> None:
    dialog.weights_dir_edit.setText(folder)
    for key, edit in dialog.edits.items():
        edit.setText(values.get(key, ""))


def test_ok_remembers_applies_and_runs_the_pair_again(qtbot, app_settings, pair, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    window = make_window(qtbot, "dense-flow")
    with qtbot.waitSignal(window.state.run_finished, timeout=20_000):
        window.state.load_pair(*pair)
    assert "Settings…" in [action.text() for action in edit_menu(window).actions()]
    assert window.settings_action.shortcut().toString() == "Ctrl+,"
    values = {"device": "cpu", "coarse_res": "448", "upsample_res": "0", "num_samples": "800"}

    def choose(dialog: SettingsDialog) -> QDialog.DialogCode:
        fill(dialog, str(folder), **values)
        dialog.accept()
        return dialog.result()

    with pytest.MonkeyPatch.context() as patch, qtbot.waitSignal(window.state.run_finished):
        patch.setattr(SettingsDialog, "exec", choose)
        window.settings_action.trigger()  # OK: the pair is matched again
    assert window.state.result.num_matches == 800
    for key, value in values.items():
        assert app_settings.value(f"{SETTINGS_GROUP}/{key}") == value
    assert app_settings.value(WEIGHTS_DIR_KEY) == str(folder)
    state = window.state
    assert state.settings_for("roma-indoor") == {
        "device": "cpu", "coarse_res": "448", "upsample_res": "0", "num_samples": 800,
        "settings_dir": str(folder),
    }  # fmt: skip
    assert state.run_settings() == {"num_samples": 800}  # dense-flow takes only the samples
    assert state.settings_for("xfeat") == {"device": "cpu"}
    assert state.settings_for("sift") == {}

    fresh = make_window(qtbot, "roma", {"coarse_res": "560"})  # the command line's wins
    assert fresh.state.run_settings() == {
        "device": "cpu", "coarse_res": "560", "upsample_res": "0", "num_samples": 800,
        "settings_dir": str(folder),
    }  # fmt: skip
    dialog = SettingsDialog(fresh.state, fresh)
    assert dialog.values()["num_samples"] == "800" and dialog.values()["device"] == "cpu"
    fill(dialog, str(folder), device="auto")  # emptied fields: the matchers' defaults again
    dialog.accept()
    dialog.apply()
    assert fresh.state.settings_for("roma") == {"settings_dir": str(folder)}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"coarse_res": "450"}, "multiples of the patch size 14"),
        ({"upsample_res": "900"}, "upsample_res 900: sides must divide by 8"),
        ({"num_samples": "-5"}, "num_samples must be >= 0, not -5"),
        ({"num_samples": "many"}, "Samples: 'many' is not a whole number"),
        ({"device": "tpu"}, "device 'tpu': use auto, cpu or cuda"),
        ({"dino_weights": "/no/such/dinov2.pth"}, "Backbone weights /no/such/dinov2.pth: no such"),
    ],
)
def test_invalid_values_are_refused_with_a_message(qtbot, app_settings, values, message):
    window = make_window(qtbot, "sift")
    dialog = SettingsDialog(window.state, window)
    fill(dialog, **values)
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert message in dialog.message.text()
    assert app_settings.value(f"{SETTINGS_GROUP}/coarse_res") is None  # nothing remembered


def add_runs(state, count: int, mib: int) -> None:
    """``count`` runs of about ``mib`` MiB each (untouched zeros: no real memory)."""
    for _ in range(count):
        result = shift_result(16, 20, 1.0, 0.0)
        result.intermediates["padding"] = np.zeros(mib * MIB, np.uint8)
        state.runs.add(result, "sift", "pair")


def test_the_run_budget_is_remembered_applied_and_read_back(qtbot, app_settings):
    window = make_window(qtbot, "sift")
    state = window.state
    assert state.runs.budget == DEFAULT_BUDGET_BYTES
    add_runs(state, 3, 40)
    dialog = SettingsDialog(state, window)
    assert dialog.budget_edit.placeholderText() == "2048 (default)"
    dialog.budget_edit.setText("100")
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    changes = []
    state.runs_changed.connect(lambda: changes.append(len(state.runs)))
    dialog.apply()
    assert state.runs.budget == 100 * MIB and len(state.runs) == 2 and changes == [2]
    assert state.runs.nbytes <= 100 * MIB  # the oldest 40 MiB run went
    assert app_settings.value(RUN_BUDGET_KEY) == "100"

    fresh = make_window(qtbot, "sift")  # a new window starts with it
    assert fresh.state.runs.budget == 100 * MIB
    assert SettingsDialog(fresh.state, fresh).budget_edit.text() == "100"
    dialog = SettingsDialog(fresh.state, fresh)
    dialog.budget_edit.setText("")  # emptied: the default again
    dialog.accept()
    dialog.apply()
    assert fresh.state.runs.budget == DEFAULT_BUDGET_BYTES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("32", "Run memory budget 32 MiB: use 64 MiB to"),
        ("lots", "Run memory budget: 'lots' is not a whole number of MiB"),
        ("1.5", "not a whole number"),
        (None, "(this machine's memory)"),  # one MiB more than the machine has
    ],
)
def test_a_run_budget_out_of_range_is_refused(qtbot, app_settings, text, message):
    window = make_window(qtbot, "sift")
    dialog = SettingsDialog(window.state, window)
    if text is None:
        text = str(machine_memory_bytes() // MIB + 1)
    dialog.budget_edit.setText(text)
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert message in dialog.message.text()
    assert window.state.runs.budget == DEFAULT_BUDGET_BYTES
    app_settings.setValue(RUN_BUDGET_KEY, text)  # edited by hand: a new window ignores it
    assert make_window(qtbot, "sift").state.runs.budget == DEFAULT_BUDGET_BYTES
