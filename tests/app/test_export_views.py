"""Exporting the window's views: File > Export view…, the views' context menus, and
`run_gui(screenshot_views=...)` (``--screenshot-views DIR [--probe X,Y]``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMenu

from app.export_dialog import EXPORT_TEXT, ExportDialog, file_menu
from app.gui import run_gui
from app.state import AppState
from app.window import MainWindow
from widgets.export import export_canvas

SHIFT = "tests.app.plugins:ShiftMatcher"  # a dense result, instantly
VIEWS = [
    "pair_view",
    "anchors",
    "attention",
    "benchmarks",
    "certainty",
    "compare",
    "keypoints",
    "matches",
    "probe",
    "true_error",
    "uncertainty",
    "warp",
]


@pytest.fixture
def pair(tmp_path):
    """A 200 x 160 smooth random texture and a copy shifted by (6, 4) pixels, as PNG files."""
    rng = np.random.default_rng(7)
    noise = rng.uniform(0, 255, (200, 240, 3)).astype(np.float32)
    texture = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
    texture = texture.astype(np.uint8)
    a, b = texture[20:180, 20:220], texture[16:176, 14:214]
    paths = tmp_path / "a.png", tmp_path / "b.png"
    for path, image in zip(paths, (a, b), strict=True):
        cv2.imwrite(str(path), image)
    return tuple(str(path) for path in paths)


@pytest.fixture
def window(qtbot, pair):
    """The window with a dense result of the pair."""
    window = MainWindow(AppState(SHIFT))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.state.run_finished, timeout=10_000):
        assert window.state.load_pair(*pair)
    window.state.click_a(100.0, 80.0)
    return window


def test_every_view_is_offered_and_has_the_context_menu_entry(window):
    exporter = window.view_exporter
    assert list(exporter.views()) == VIEWS
    for name, (_, widget) in exporter.views().items():
        canvas = export_canvas(widget)
        actions = canvas.scene().contextMenu if canvas is not None else widget.actions()
        assert [a.text() for a in actions] == [EXPORT_TEXT], name
    assert EXPORT_TEXT in [a.text() for a in file_menu(window).actions()]


def test_a_right_click_on_a_view_offers_export_view(qtbot, window):
    view = window.certainty_view
    view.canvas.viewport().repaint()
    centre = view.panel.view.mapViewToScene(QPointF(100.0, 80.0))
    shown = []

    def read_menu() -> None:
        menu = QApplication.activePopupWidget()
        if isinstance(menu, QMenu):
            shown.extend(action.text() for action in menu.actions())
            menu.close()

    QTimer.singleShot(200, read_menu)
    position = view.canvas.mapFromScene(centre)
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.RightButton, pos=position)
    qtbot.waitUntil(lambda: bool(shown), timeout=3000)
    assert EXPORT_TEXT in shown


@pytest.mark.parametrize("kind", ["png", "svg", "pdf"])
def test_the_window_exports_a_view_in_each_format(window, tmp_path, kind):
    path = tmp_path / f"pair_view.{kind}"
    assert window.view_exporter.export("pair_view", str(path), 100, 5.0)
    assert path.stat().st_size > 1000
    assert str(path) in window.state.status
    if kind == "png":
        image = np.asarray(Image.open(path).convert("RGB"))
        assert image.shape[1] == 500 and image.std() > 10


def test_an_unwritable_path_is_a_message_not_a_crash(window, tmp_path):
    path = tmp_path / "no" / "such" / "folder" / "certainty.png"
    assert not window.view_exporter.export("certainty", str(path), 300, None)
    assert window.state.error.startswith("Export of Certainty: ") and "cannot write" in (
        window.state.error
    )


def test_the_dialog_names_the_file_after_the_view_and_format(window, tmp_path):
    dialog = ExportDialog(window.view_exporter.views(), "true_error", str(tmp_path), window)
    assert dialog.choice() == ("true_error", str(tmp_path / "true_error.png"), 300, None)
    dialog.format_combo.setCurrentText("PDF")
    dialog.width_box.setValue(3.5)
    dialog.view_combo.setCurrentIndex(dialog.view_combo.findData("warp"))
    assert dialog.choice() == ("warp", str(tmp_path / "warp.pdf"), 300, 3.5)


def test_screenshot_views_saves_every_view_with_the_probe(qtbot, pair, tmp_path, monkeypatch):
    probes = []
    click_a = AppState.click_a
    monkeypatch.setattr(
        AppState, "click_a", lambda self, *args: (probes.append(args), click_a(self, *args))
    )
    folder = tmp_path / "views"
    code = run_gui(*pair, "sift", {}, screenshot_views=str(folder), probe=(60.0, 50.0))
    assert code == 0
    assert probes[-1] == (60.0, 50.0)  # after the default probe at the centre of A
    assert sorted(p.stem for p in folder.iterdir()) == sorted(VIEWS)
    for name in VIEWS:
        image = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"), np.float32)
        assert image.shape[0] > 50 and image.shape[1] > 100, name
        assert image.std() > 5, name  # not a blank frame


def test_screenshot_views_failures_are_one_line(pair, tmp_path, capsys):
    folder = tmp_path / "views"
    assert run_gui(pair[0], str(tmp_path / "nope.png"), screenshot_views=str(folder)) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "nope.png: no such file" in errors[0]
