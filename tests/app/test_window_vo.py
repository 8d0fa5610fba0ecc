"""Visual odometry in the window: a run in the background (progress, a growing scene, Cancel
keeping the tracked part, the event loop running throughout), the map-point inspector, the 3D
view's clicks and the timeline, the VO keypoints in the pair view, the Statistics dock's VO
series, Save VO run… and ``python main.py --vo DIR``."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.cli import main
from core.vo.scene import KEYPOINT_INLIER, KEYPOINT_OUTLIER, load_scene
from tests.app.test_window import make_window

FRAMES = 20
MATCHER = "tests.app.plugins:ShiftMatcher"  # the sequence's pairs, matched at once


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """20 frames of the synthetic room at 240x320 as a KITTI folder (intrinsics, poses)."""
    from core.vo.synthetic import SyntheticSequence, write_kitti_layout

    folder = tmp_path_factory.mktemp("vo") / "room"
    return write_kitti_layout(folder, SyntheticSequence(FRAMES, (240, 320)))


@pytest.fixture
def slow_frames(monkeypatch):
    """Every frame of a VO run takes 50 ms more: a run lasts a second or two."""
    from core.vo.tracker import VisualOdometry

    process = VisualOdometry.process_detected

    def slow_process(self, position, detection, right=None):
        time.sleep(0.05)
        return process(self, position, detection, right)

    monkeypatch.setattr(VisualOdometry, "process_detected", slow_process)


def open_room(qtbot, room):
    """A window on the room; ``window.statuses``: every status line from here on."""
    window = make_window(qtbot, MATCHER)
    assert window.open_sequence(str(room))
    window.statuses = []
    window.state.status_changed.connect(window.statuses.append)
    return window


def said(window, text: str) -> bool:
    """Whether a status line since `open_room` held ``text`` (the sequence's matching writes
    its own lines too)."""
    return any(text in line for line in window.statuses)


def run_to_the_end(qtbot, window) -> None:
    window.vo_dock.raise_()  # its tab, beside Probe's
    qtbot.mouseClick(window.vo_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.vo_outcome is not None, timeout=60000)


def test_run_in_the_window_reports_progress_grows_the_scene_and_finishes(
    qtbot, room, monkeypatch, slow_frames
):
    monkeypatch.setattr("app.vo_worker.SNAPSHOT_S", 0.2)
    window = open_room(qtbot, room)
    probe_dock = window.probe_panel.parentWidget()
    assert window.vo_dock in window.tabifiedDockWidgets(probe_dock)  # a tab beside Probe
    assert probe_dock.isVisible() and window.vo_panel.run_button.isEnabled()
    progress, sizes, moved = [], [], []
    window.vo_dock.raise_()
    window.vo_runner.progress.connect(lambda _id, done, total: progress.append((done, total)))
    window.vo_runner.snapshot.connect(lambda _id, scene: sizes.append(len(scene)))
    window.sequence.position_changed.connect(
        lambda position: moved.append((position, window.vo_runner.is_running))
    )
    qtbot.mouseClick(window.vo_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(progress) >= 3)
    qtbot.keyClick(window, Qt.Key.Key_Right)  # the window answers while the run goes on
    qtbot.waitUntil(lambda: (1, True) in moved, timeout=5000)  # moved while running
    qtbot.waitUntil(lambda: window.vo_outcome is not None, timeout=60000)
    assert progress[-1] == (FRAMES, FRAMES) and len(progress) == FRAMES
    assert len(sizes) >= 3 and sizes == sorted(sizes) and sizes[-1] < FRAMES  # it grew
    scene = window.vo_scene
    assert len(scene) == FRAMES and scene.tracked.all() and len(scene.points) > 100
    assert not window.vo_outcome.cancelled
    summary = window.vo_panel.summary.text()
    assert f"{FRAMES} of {FRAMES} frames tracked" in summary and "ATE" in summary
    assert "frames/s" in summary and said(window, "Visual odometry done")
    assert window.trajectory_dock.isVisible() and window.trajectory_view.scene is scene


def test_cancel_mid_run_keeps_what_was_tracked(qtbot, room, slow_frames):
    window = open_room(qtbot, room)

    def cancel_at_8(_id: int, done: int, _total: int) -> None:
        if done == 8:
            qtbot.mouseClick(window.vo_panel.cancel_button, Qt.MouseButton.LeftButton)

    window.vo_runner.progress.connect(cancel_at_8)
    run_to_the_end(qtbot, window)
    outcome = window.vo_outcome
    assert outcome.cancelled and 8 <= len(outcome.scene) < FRAMES
    assert window.vo_scene is outcome.scene and outcome.scene.tracked.sum() >= 6
    assert said(window, "cancelled after")
    assert window.vo_panel.run_button.isEnabled() and not window.vo_panel.cancel_button.isEnabled()


def test_a_stereo_start_in_the_window_gives_metres_or_says_why_not(qtbot, room, tmp_path):
    from core.vo.evaluation import trajectory_length_m
    from core.vo.synthetic import SyntheticSequence, write_kitti_layout

    window = open_room(qtbot, room)  # no right camera
    window.vo_dock.raise_()
    box = window.vo_panel.stereo_box
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert window.vo_panel.stereo_box.isChecked()
    window.vo_dock.raise_()
    qtbot.mouseClick(window.vo_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: said(window, "--stereo needs the right camera"))
    assert window.vo_outcome is None and not window.vo_runner.is_running
    folder = write_kitti_layout(tmp_path / "stereo", SyntheticSequence(12, (240, 320)), 0.3)
    assert window.open_sequence(str(folder))
    run_to_the_end(qtbot, window)
    scene = window.vo_scene
    assert scene.tracked.all()
    truth = window.sequence.reader.poses
    scale = trajectory_length_m(scene.poses) / trajectory_length_m(truth)
    assert scale == pytest.approx(1.0, abs=0.15)  # metres, no alignment


def test_no_intrinsics_is_a_clear_message(qtbot, room, tmp_path):
    window = make_window(qtbot, MATCHER)
    images = tmp_path / "images"
    shutil.copytree(room / "image_0", images)  # a plain image folder: no camera
    assert window.open_sequence(str(images))
    assert not window.run_visual_odometry("orb")
    assert "needs the camera's intrinsics" in window.state.status
    assert not window.vo_runner.is_running


def test_inspector_3d_clicks_keypoints_and_statistics_follow_the_timeline(qtbot, room, monkeypatch):
    window = open_room(qtbot, room)
    run_to_the_end(qtbot, window)
    scene, panel = window.vo_scene, window.vo_panel
    current = []
    view = window.trajectory_view
    monkeypatch.setattr(view, "set_current", lambda p, set_current=view.set_current: (
        current.append(p), set_current(p)))  # fmt: skip
    # the Statistics dock gains the VO series, a value per frame
    for field in ("vo_inliers", "vo_reprojection_error_px", "vo_pose_error_m"):
        assert len(window.stats_view.vo_series(field)[0]) == FRAMES
    inliers = window.stats_view.vo_series("vo_inliers")[1]
    np.testing.assert_array_equal(inliers, scene.stats["inliers"])
    assert all(plot.isVisible() for plot in window.stats_view.vo_plots)
    # a map point seen by several keyframes: its frames with the reprojection error in each
    index = int(np.argmax(scene.observation_counts))
    window.trajectory_view.point_clicked.emit(index)
    positions, _, errors = scene.reprojection(index)
    assert panel.chosen_point == index and panel.table.rowCount() == len(positions) >= 2
    assert [int(panel.table.item(r, 0).text()) for r in range(len(positions))] == list(positions)
    assert float(panel.table.item(1, 1).text()) == pytest.approx(errors[1], abs=0.01)
    row = len(positions) - 1
    rect = panel.table.visualItemRect(panel.table.item(row, 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.sequence.position == positions[row])
    assert window.timeline.position == positions[row]
    # a camera clicked in the 3D view moves the timeline; its keypoints are drawn over A
    window.trajectory_view.frame_clicked.emit(5)
    qtbot.waitUntil(lambda: window.sequence.position == 5)
    keypoints, status = scene.frame_keypoints(5)
    layer = window.pair_view.vo_keypoints[0]
    counts = (
        int((status == 0).sum()),
        int((status == KEYPOINT_INLIER).sum()),
        int((status == KEYPOINT_OUTLIER).sum()),
    )
    assert layer.counts == counts and counts[1] > 30
    inliers = layer.scatters[KEYPOINT_INLIER]
    np.testing.assert_allclose(
        np.column_stack(inliers.getData()), keypoints[status == KEYPOINT_INLIER]
    )
    assert inliers.opts["brush"].color().getRgb()[:3] == (40, 230, 90)  # green
    outliers = layer.scatters[KEYPOINT_OUTLIER].opts["brush"].color().getRgb()[:3]
    assert outliers == (255, 60, 60)  # red
    assert window.pair_view.vo_keypoints[1].counts[1] > 0  # frame 6 over B
    assert current[-1] == 5  # the 3D view's highlighted camera
    panel.keypoints_box.click()  # the layer's toggle
    assert not layer.isVisible()


def test_saved_run_reopens_with_its_sequence_or_alone(qtbot, room, tmp_path, capsys, monkeypatch):
    window = open_room(qtbot, room)
    run_to_the_end(qtbot, window)
    out = tmp_path / "run"
    with qtbot.waitSignal(window.save_runner.finished, timeout=20000) as saved_signal:
        assert window.save_vo_run(str(out))  # in the background: Open3D writes map.ply
    assert not saved_signal.args[0].error and (out / "map.ply").is_file()
    saved = load_scene(out)
    assert len(saved) == FRAMES and str(room) in saved.source
    again = make_window(qtbot, MATCHER)
    assert again.open_vo_run(str(out))
    assert again.sequence is not None and len(again.sequence) == FRAMES
    assert len(again.vo_scene.points) == len(window.vo_scene.points)
    # Open in Open3D: its own process on the run's folder; Export 3D figure…: in the background
    launched, rendered = [], []
    monkeypatch.setattr(
        "core.vo.open3d_view.launch_open3d_viewer", lambda folder: launched.append(folder)
    )

    def render(scene, path, width, height):
        time.sleep(0.3)
        rendered.append((len(scene), width, height))
        path.write_bytes(b"png")

    monkeypatch.setattr("core.vo.figure3d.render_scene_png", render)  # Open3D takes seconds
    qtbot.mouseClick(again.vo_panel.open3d_button, Qt.MouseButton.LeftButton)
    assert launched == [out]
    with qtbot.waitSignal(again.figure_runner.finished, timeout=10000) as finished:
        assert again.export_vo_figure(str(tmp_path / "figure.png"))
        assert not again.vo_panel.figure_button.isEnabled()  # while it renders: never blocking
    assert finished.args[0].message == f"Exported the 3D figure to {tmp_path / 'figure.png'}"
    assert rendered == [(FRAMES, 1600, 1200)] and (tmp_path / "figure.png").is_file()
    shot = tmp_path / "shot.png"
    assert main(["--vo", str(out), "--matcher", MATCHER, "--screenshot", str(shot)]) == 0
    assert shot.is_file()
    # the sequence is gone: the VO docks alone, the timeline over the run's frames
    saved.source = saved.source.replace(str(room), str(tmp_path / "gone"))
    from core.vo.scene import save_scene

    save_scene(out / "scene.npz", saved)
    alone = make_window(qtbot, MATCHER)
    assert alone.open_vo_run(str(out))
    assert alone.sequence is None and alone.vo_dock.isVisible()
    assert alone.timeline_dock.isVisible() and alone.stats_view.vo_plots[0].isVisible()
    alone.trajectory_view.frame_clicked.emit(7)
    assert alone.timeline.position == 7 and alone.stats_view.vo_cursors[0].value() == 7
    assert "without its sequence" in alone.state.status
    # a folder without a scene: exit status 2, one line
    capsys.readouterr()
    assert main(["--vo", str(tmp_path / "nothing")]) == 2
    error = capsys.readouterr().err.strip()
    assert "no VO scene here" in error and "\n" not in error


def test_the_weights_folder_reaches_a_front_end_that_loads_weights(qtbot, room, monkeypatch):
    window = open_room(qtbot, room)
    starts = []
    monkeypatch.setattr(window.vo_runner, "start", lambda *args: starts.append(args))
    window.state.weights_dir = "/models"
    assert window.run_visual_odometry("dino") and window.run_visual_odometry("orb")
    assert [args[5] for args in starts] == [{"settings_dir": "/models"}, None]
