"""File > Export figure… and the headless ``--export-figure PATH [--figure-views ...]``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QDialog

from app.cli_window import run_window
from app.export_dialog import file_menu
from app.figure_dialog import FIGURE_TEXT, FigureDialog, FigureRequest, figure_inputs
from app.gui import run_gui
from core.errors import MatchscopeError
from core.figure_compose import DEFAULT_PANELS, available_panels, compose_figure
from core.figure_panels import PIN_GID, pin_colour
from tests.app import test_export_views

pair, window = test_export_views.pair, test_export_views.window  # the fixtures


def test_the_file_menu_offers_export_figure_and_the_dialog_writes_the_file(
    window, tmp_path, monkeypatch
):
    assert FIGURE_TEXT in [action.text() for action in file_menu(window).actions()]
    path = tmp_path / "figure.png"
    shown = []

    def choose(dialog: FigureDialog) -> QDialog.DialogCode:
        shown.append(list(dialog.boxes))
        for key, box in dialog.boxes.items():
            box.setChecked(key in ("a", "certainty", "warp"))
        dialog.width_box.setValue(3.5)
        dialog.dpi_box.setValue(120)
        dialog.path_edit.setText(str(path))
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(FigureDialog, "exec", choose)
    window.figure_action.trigger()
    # a dense result without intermediates or ground truth: these panels, nothing else
    assert shown == [["matches", "a", "b", "certainty", "warp", "grid"]]
    picture = np.asarray(Image.open(path).convert("RGB"))
    assert picture.shape[1] == 420 and picture.std() > 10
    assert window.state.status == f"Exported the figure to {path}"


def test_the_dialog_refuses_no_panel_and_a_wrong_format(window, tmp_path):
    inputs = figure_inputs(window)
    dialog = FigureDialog(available_panels(inputs), str(tmp_path), window)
    checked = [key for key, box in dialog.boxes.items() if box.isChecked()]
    assert checked == [key for key in dialog.boxes if key in DEFAULT_PANELS]
    assert dialog.request().path == str(tmp_path / "figure.pdf")
    for box in dialog.boxes.values():
        box.setChecked(False)
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.message.text() == "choose at least one panel"
    dialog.boxes["a"].setChecked(True)
    dialog.path_edit.setText(str(tmp_path / "figure.jpg"))
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted and ".png, .svg or .pdf" in (
        dialog.message.text()
    )
    dialog.path_edit.setText(str(tmp_path / "figure.svg"))
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_the_figure_has_the_states_pins_and_scale(window, monkeypatch):
    state = window.state
    assert state.pin_pixel(30.0, 20.0) and state.pin_pixel(150.0, 100.0)
    inputs = figure_inputs(window)
    assert inputs.pins == tuple(state.pinned) and inputs.scale == "final"
    composed = compose_figure(inputs, ["a", "grid"])
    colours = [
        line.get_markeredgecolor() for line in composed.panels["grid"].lines
        if line.get_gid() == PIN_GID
    ]  # fmt: skip
    assert colours == [pin_colour(pin) for pin in state.pinned]
    monkeypatch.setattr(state, "scale", "coarse_s8")  # as the scale selector sets it
    assert figure_inputs(window).scale == "coarse_s8"


def test_headless_export_figure_writes_the_figure_and_exits_0(pair, tmp_path):
    path = tmp_path / "figure.svg"
    request = FigureRequest(str(path), ("matches", "a", "b"), 3.5, 100)
    assert run_gui(*pair, "sift", {}, figure=request, probe=(60.0, 50.0)) == 0
    root = ET.parse(path).getroot()
    texts = ["".join(e.itertext()) for e in root.iter() if e.tag.endswith("text")]
    assert any(text.startswith("(b) A: a.png") for text in texts)
    assert any(text.startswith("Matcher: sift") for text in texts)


def test_headless_export_figure_of_a_missing_panel_exits_2_with_one_line(pair, tmp_path, capsys):
    path = tmp_path / "figure.png"
    request = FigureRequest(str(path), ("warp",), 3.5, 100)
    assert run_gui(*pair, "sift", {}, figure=request) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [
        "matchscope: error: figure panel 'warp' needs a dense result (a warp); this result "
        "offers: matches, a, b, certainty"
    ]
    assert not path.exists()


def test_the_command_line_checks_the_figure_options_before_the_window(pair, tmp_path):
    with pytest.raises(MatchscopeError, match=r"\.png, \.svg or \.pdf"):
        run_window([*pair, "--matcher", "sift", "--export-figure", str(tmp_path / "f.jpg")])
    with pytest.raises(MatchscopeError, match="--figure-views needs --export-figure"):
        run_window([*pair, "--figure-views", "a,b"])
    with pytest.raises(MatchscopeError, match="figure width 1 in"):
        run_window([*pair, "--export-figure", "f.png", "--figure-width", "1"])


def test_export_figure_on_the_command_line(pair, tmp_path):
    path = tmp_path / "figure.png"
    argv = [*pair, "--matcher", "dense-flow", "--export-figure", str(path)]
    argv += ["--figure-views", "certainty,warp", "--figure-width", "3.5", "--figure-dpi", "100"]
    assert run_window(argv) == 0
    assert Image.open(path).width == 350
