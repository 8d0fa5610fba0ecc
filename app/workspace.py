"""Save and open the window's workspace (File > Save workspace… / Open workspace…, and
``--workspace FILE``): images, matcher and settings, weights and their SHA-256, the probe and the
pinned probes, the attention head and scale shown, and the dock layout; the file format is
:mod:`core.workspace`'s.

Opening never raises into Qt: what is missing (an image, the weights) or malformed is one
message in the status bar and the Probe panel.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMainWindow

from core.errors import MatchscopeError
from core.matchers import matcher_weights
from core.probe import ProbeReading
from core.result import save_result
from core.weights import cached_sha256
from core.workspace import (
    Workspace,
    missing_images,
    read_workspace,
    result_path,
    reusable_result,
    weight_hashes,
    write_workspace,
)

WORKSPACE_FILTER = "Matchscope workspaces (*.json);;All files (*)"


def install_workspace_actions(window: QMainWindow) -> tuple[QAction, QAction]:
    """File > Open workspace… and Save workspace… (each asks for a file)."""
    from app.export_dialog import file_menu

    open_action = QAction("Open workspace…", window)
    open_action.triggered.connect(lambda: _ask_and_open(window))
    save_action = QAction("Save workspace…", window)
    save_action.setToolTip("Save the images, matcher, settings, probe and layout (and the result)")
    save_action.triggered.connect(lambda: _ask_and_save(window))
    menu = file_menu(window)
    menu.addAction(open_action)
    menu.addAction(save_action)
    return open_action, save_action


def _ask_and_open(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open workspace", "", WORKSPACE_FILTER)
    if path:
        open_workspace(window, path)


def _ask_and_save(window) -> None:
    path, _ = QFileDialog.getSaveFileName(
        window, "Save workspace", "workspace.json", WORKSPACE_FILTER
    )
    if path:
        save_workspace(window, path)


def capture(window) -> Workspace:
    """The window's state as a workspace (the pair must be open)."""
    state = window.state
    found = matcher_weights(state.matcher, state.run_settings())
    weights = {
        name: {"path": str(Path(place).resolve()), "sha256": cached_sha256(place)}
        for name, place in found.items()
        if not isinstance(place, MatchscopeError)
    }
    probe = None if state.probe is None else _clicked(state.probe)
    head = window.attention_view.head_box.currentText()
    views = {"attention_head": head} if head else {}
    views["scale"] = state.scale  # of the Certainty and Warp docks (core.scales)
    return Workspace(
        image_a=os.path.abspath(state.image_a.path),
        image_b=os.path.abspath(state.image_b.path),
        matcher=state.matcher,
        settings=state.settings,
        keep_intermediates=state.keep_intermediates,
        threshold=state.threshold,
        weights_dir=state.weights_dir,
        weights=weights,
        probe=probe,
        pinned_probes=[list(_clicked(pin.reading)) for pin in state.pinned],
        views=views,
        layout={
            "state": bytes(window.saveState().toBase64()).decode("ascii"),
            "geometry": bytes(window.saveGeometry().toBase64()).decode("ascii"),
        },
    )


def save_workspace(window, path: str | os.PathLike) -> bool:
    """Write the workspace to ``path`` and the result beside it (``name.result.npz``; a stale
    one is removed when there is no result); False (with the error shown) when it cannot."""
    state = window.state
    if not state.has_pair:
        state.set_error("open two images before saving a workspace")
        return False
    saved = result_path(path)
    try:
        workspace = capture(window)
        write_workspace(workspace, path)
        if state.result is not None and not state.running:
            prov = dataclasses.replace(
                state.result.provenance, image_a=workspace.image_a, image_b=workspace.image_b
            )
            save_result(dataclasses.replace(state.result, provenance=prov), saved)
        else:
            saved.unlink(missing_ok=True)
    except (MatchscopeError, OSError) as exc:
        state.set_error(f"cannot save the workspace: {exc}")
        return False
    state.set_status(f"Saved the workspace {path}")
    return True


def open_workspace(window, path: str | os.PathLike) -> bool:
    """Restore the workspace in ``path``: the layout, the matcher and settings, the images,
    then the saved result when it still fits (else a new run), then the pins, the probe, the
    scale and the attention head. False, with a message naming what is missing, when it cannot be
    opened."""
    state = window.state
    try:
        workspace = read_workspace(path)
    except MatchscopeError as exc:
        state.set_error(str(exc))
        return False
    restore_layout(window, workspace.layout)
    if workspace.weights_dir and not state.weights_dir:
        state.weights_dir = workspace.weights_dir
    with window.holding_runs():
        state.set_matcher(workspace.matcher, workspace.settings)
        state.set_keep_intermediates(workspace.keep_intermediates)
        state.set_threshold(workspace.threshold)
    found = matcher_weights(state.matcher, state.run_settings())
    missing = [f"image {p}" for p in missing_images(workspace)]
    for name, place in found.items():
        if isinstance(place, MatchscopeError):
            was = workspace.weights.get(name, {}).get("path")
            missing.append(f"weights {name}" + (f" (saved at {was})" if was else ""))
    if missing:
        state.set_error(f"workspace {path}: missing {', '.join(missing)}")
        return False
    with window.holding_runs():
        if not state.load_pair(workspace.image_a, workspace.image_b):
            return False
    _after_result(window, workspace)
    sizes = (state.image_a.size_hw, state.image_b.size_hw)
    result = reusable_result(path, workspace, weight_hashes(found), sizes)
    if result is None:
        window.run_match()
    else:
        state.set_result(state.begin_request(), result)
        state.set_status(f"Opened the workspace {path} with its saved result")
    return True


def _after_result(window, workspace: Workspace) -> None:
    """Once the next run (or the saved result) ends well: the probe, the scale and the
    attention head."""
    state = window.state
    pending = getattr(window, "_workspace_restore", None)
    if pending is not None:  # an earlier workspace whose run never ended
        state.run_finished.disconnect(pending)

    def restore(outcome: str) -> None:
        state.run_finished.disconnect(restore)
        window._workspace_restore = None
        if outcome != "ok":
            return
        for pin in workspace.pinned_probes:
            state.pin_pixel(*pin)
        if workspace.probe is not None:
            x, y, *origin = workspace.probe
            (state.click_b if origin == ["b"] else state.click_a)(x, y)
        state.set_scale(str(workspace.views.get("scale", "final")))  # when the result has it
        box = window.attention_view.head_box
        index = box.findText(workspace.views.get("attention_head", ""))
        if index >= 0:
            box.setCurrentIndex(index)

    window._workspace_restore = restore
    state.run_finished.connect(restore)


def _clicked(probe: ProbeReading) -> tuple:
    """A probe's clicked pixel as the workspace keeps it: (x, y) of A, or (x, y, "b")."""
    return probe.clicked if probe.origin == "a" else (*probe.clicked, "b")


def restore_layout(window: QMainWindow, layout: dict) -> None:
    """Docks and toolbar from ``layout["state"]``, size and place from ``layout["geometry"]``
    (base64 text of ``saveState()`` and ``saveGeometry()``); what is absent or unreadable stays
    as it is."""
    geometry, dock_state = layout.get("geometry"), layout.get("state")
    if isinstance(geometry, str):
        window.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
    if isinstance(dock_state, str):
        window.restoreState(QByteArray.fromBase64(dock_state.encode("ascii")))
