"""Workspaces: File > Save workspace… then Open workspace… in a new window gives back the same
images, matcher, settings, probe and layout, with the saved result when it still fits."""

from __future__ import annotations

import json

import cv2
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog

from app.export_dialog import file_menu
from core.probe import SNAP_RADIUS_PX
from core.workspace import read_workspace, result_path
from tests.app.test_window import click_pixel, make_window, open_pair, pair  # noqa: F401

SIFT = {"max_keypoints": 500, "ratio": 0.85}


def docks(window) -> dict[str, tuple]:
    """title -> (area, visible, floating, the open docks tabbed with it in tab order) of every
    dock."""
    return {
        dock.windowTitle(): (
            window.dockWidgetArea(dock),
            dock.isVisible(),
            dock.isFloating(),
            [] if dock.isHidden() else [d.windowTitle() for d in open_tabs(window, dock)],
        )
        for dock in window.findChildren(QDockWidget)
    }


def raised(window) -> list[str]:
    """The docks on screen: of a tab group, only the raised one."""
    QApplication.processEvents()
    docks = window.findChildren(QDockWidget)
    return sorted(d.windowTitle() for d in docks if not d.widget().visibleRegion().isEmpty())


def open_tabs(window, dock) -> list[QDockWidget]:
    return [other for other in window.tabifiedDockWidgets(dock) if not other.isHidden()]


def never_runs(window, monkeypatch) -> list:
    starts = []
    monkeypatch.setattr(window.runner, "start", lambda *args: starts.append(args))
    return starts


def choose_file(monkeypatch, method: str, path) -> None:
    """QFileDialog's ``method`` answers ``path``."""
    monkeypatch.setattr(QFileDialog, method, staticmethod(lambda *args, **kw: (str(path), "")))


@pytest.fixture
def saved(qtbot, pair, tmp_path, monkeypatch):  # noqa: F811
    """A workspace saved from File > Save workspace… after a sift run, a click at (60, 50), the
    Attention dock raised and the Benchmarks dock closed; returns (its path, the window)."""
    window = make_window(qtbot, "sift", SIFT)
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=10_000)
    click_pixel(qtbot, window, 60, 50)
    window.findChild(QDockWidget, "Attention").raise_()
    window.benchmark_dock.close()
    path = tmp_path / "ws.json"
    choose_file(monkeypatch, "getSaveFileName", path)
    menu = [action.text() for action in file_menu(window).actions()]
    assert menu[:2] == ["Open workspace…", "Save workspace…"]
    window.save_workspace_action.trigger()
    assert path.is_file(), window.state.error
    return path, window


def test_a_saved_workspace_reopens_with_its_saved_result(qtbot, saved, monkeypatch):
    path, first = saved
    assert result_path(path).is_file() and result_path(path).name == "ws.result.npz"
    workspace = read_workspace(path)
    assert workspace.probe == (first.state.probe.xa, first.state.probe.ya)
    assert workspace.weights == {} and workspace.pinned_probes == []

    window = make_window(qtbot, "dense-flow")
    starts = never_runs(window, monkeypatch)
    choose_file(monkeypatch, "getOpenFileName", path)
    window.open_workspace_action.trigger()
    state, before = window.state, first.state
    assert state.error == ""
    assert starts == []  # the saved result: no run
    assert [state.image_a.path, state.image_b.path] == [before.image_a.path, before.image_b.path]
    assert (state.matcher, state.settings) == ("sift", SIFT)
    assert window.matcher_combo.currentText() == "sift"
    assert state.result.timings == before.result.timings
    assert state.result.num_matches == before.result.num_matches
    assert (state.probe.xa, state.probe.ya) == (before.probe.xa, before.probe.ya)
    assert (state.probe.xb, state.probe.yb) == (before.probe.xb, before.probe.yb)
    assert docks(window) == docks(first)
    assert raised(window) == raised(first)
    assert "Attention" in raised(first) and "Certainty" not in raised(first)
    assert not window.benchmark_dock.isVisible()
    assert "saved result" in window.statusBar().currentMessage()


def test_a_result_of_other_images_is_not_reused(qtbot, saved, monkeypatch):
    path, first = saved
    image_b = first.state.image_b.path
    cv2.imwrite(image_b, cv2.imread(image_b)[:150])  # B changed size since
    window = make_window(qtbot, "dense-flow")
    assert window.open_workspace(str(path)), window.state.error
    assert window.state.running  # matched again
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=10_000)
    assert window.state.result.size_b == (150, 200)
    saved_x, saved_y = read_workspace(path).probe
    probe = window.state.probe  # at the saved probe (snapped to a match near it), not A's centre
    assert abs(probe.xa - saved_x) <= SNAP_RADIUS_PX and abs(probe.ya - saved_y) <= SNAP_RADIUS_PX


def test_a_missing_image_or_weights_is_named(qtbot, saved, tmp_path, monkeypatch):
    path, first = saved
    data = json.loads(path.read_text())
    data["images"]["a"] = str(tmp_path / "gone.png")
    path.write_text(json.dumps(data))
    window = make_window(qtbot, "dense-flow")
    starts = never_runs(window, monkeypatch)
    assert not window.open_workspace(str(path))
    assert f"missing image {tmp_path / 'gone.png'}" in window.state.error
    assert window.probe_panel.message.text() == window.state.error and starts == []

    monkeypatch.delenv("MATCHSCOPE_WEIGHTS", raising=False)
    data["images"]["a"] = first.state.image_a.path
    data.update(matcher="roma", settings={})
    data["weights"] = {"roma_outdoor": {"path": "/nowhere/roma_outdoor.pth", "sha256": "0"}}
    path.write_text(json.dumps(data))
    assert not window.open_workspace(str(path))
    assert "missing weights roma_outdoor (saved at /nowhere/roma_outdoor.pth)" in window.state.error


def test_a_malformed_workspace_is_one_message(qtbot, tmp_path):
    path = tmp_path / "ws.json"
    path.write_text('{"version": 1, "images": ')
    window = make_window(qtbot, "dense-flow")
    assert not window.open_workspace(str(path))
    assert window.state.error.startswith(f"{path}: not a workspace: malformed JSON")


def test_the_layout_is_remembered_between_runs(qtbot, tmp_path):
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    for key in ("windowState", "geometry"):
        QSettings().remove(key)
    window = make_window(qtbot, "dense-flow")
    assert not window.restore_remembered_layout()  # nothing kept yet
    window.remember_layout = True
    window.keypoint_dock.close()
    window.findChild(QDockWidget, "Probe").setFloating(True)
    expected = docks(window)
    window.close()
    again = make_window(qtbot, "dense-flow")
    assert again.restore_remembered_layout()
    assert docks(again) == expected
