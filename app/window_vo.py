"""The window's visual odometry (a mixin of `MainWindow`): the Visual odometry and 3D docks, a
VO run over the open sequence in the background, reopening a saved run, and the current
frame's VO keypoints in the pair view.

With a run, ``window.vo_scene`` is its `core.vo.scene.VoScene` (growing while it runs: the
worker, :mod:`app.vo_worker`, hands a snapshot every half second). The timeline's position
drives every VO view: the 3D view's highlighted camera, the Statistics dock's cursor over the
VO series, and the keypoints of frames t (over A) and of the pair's other frame (over B),
inliers green, outliers red. A click on a camera in the 3D view or on a row of the map-point
inspector moves the timeline there; a click on a map point inspects it. A run reopened without
its sequence (``--vo DIR`` where the sequence is gone) shows the VO docks alone, the timeline
over the run's frames.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from app.vo_worker import OutputOutcome, OutputRunner, VoOutcome, VoRunner
from core.errors import MatchscopeError
from core.sequence import open_sequence
from core.sequence.base import FrameInfo
from core.vo.frontend import FRONTENDS, OPTION_FRONTENDS
from core.vo.scene import SCENE_FILE, VoScene, load_scene, parse_source, save_scene, sequence_source
from widgets.vo_panel import VoPanel, summary_text

VO_DOCK, VIEW_3D_DOCK = "Visual odometry", "3D"
FIGURE_SIZE = (1600, 1200)
"""Width and height (px) of Export 3D figure…'s PNG."""


class VoActions:
    """Visual odometry slots of `MainWindow` (``self`` is the window)."""

    vo_scene: VoScene | None = None

    def _install_vo_ui(self) -> None:
        """The Visual odometry and 3D docks (hidden until a sequence or a run is open), the VO
        runner and the actions (the Sequence menu: `_install_vo_menu`)."""
        from app.export_dialog import SEQUENCE_ONLY

        self.vo_scene = None
        self.vo_outcome: VoOutcome | None = None  # the last run made here (for Save VO run…)
        self.vo_frames_per_s: float | None = None
        self._vo_request = 0
        self._vo_point_id: int | None = None  # the inspected point, by tracker id
        self._vo_source = self._vo_next_source = ""  # the open sequence's `sequence_source`
        self._vo_only = False  # a reopened run without its sequence
        self._vo_folder: str | None = None  # where the shown scene is saved (Open in Open3D)
        self._vo_temp: tempfile.TemporaryDirectory | None = None  # else where it is put for it
        self._saving_scene = self._saving_folder = None  # what Save VO run… is writing
        self.open3d_process = None  # the last Open3D window's process
        self.vo_runner = VoRunner(self)
        self.save_runner = OutputRunner(self)  # Save VO run…
        self.figure_runner = OutputRunner(self)  # Export 3D figure…
        self._output_request = 0
        self.vo_panel = VoPanel(list(FRONTENDS))
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.vo_dock = self._add_dock(VO_DOCK, self.vo_panel, right)
        self.tabifyDockWidget(self.probe_panel.parentWidget(), self.vo_dock)  # a tab by Probe
        self.trajectory_view = None  # made with the first run: its OpenGL canvas costs
        self.trajectory_dock = None
        self.vo_dock.setProperty(SEQUENCE_ONLY, True)
        self.vo_dock.hide()
        self.run_vo_action = QAction("Run visual odometry", self)
        self.run_vo_action.setToolTip("Track the open sequence into camera poses and a map")
        self.run_vo_action.triggered.connect(lambda: self.run_visual_odometry())
        self.cancel_vo_action = QAction("Cancel visual odometry", self)
        self.cancel_vo_action.triggered.connect(self.cancel_visual_odometry)
        self.save_vo_action = QAction("Save VO run…", self)
        self.save_vo_action.triggered.connect(self._ask_save_vo)
        self.open_vo_action = QAction("Open VO run…", self)
        self.open_vo_action.setToolTip("Reopen a folder written by `vo --out` or Save VO run…")
        self.open_vo_action.triggered.connect(self._ask_open_vo)
        panel, runner = self.vo_panel, self.vo_runner
        panel.run_requested.connect(self.run_visual_odometry)
        panel.cancel_requested.connect(self.cancel_visual_odometry)
        panel.save_requested.connect(self._ask_save_vo)
        panel.keypoints_toggled.connect(self.pair_view.set_vo_keypoints_visible)
        panel.point_chosen.connect(self._on_vo_point_chosen)
        panel.frame_clicked.connect(self.request_position)
        panel.open3d_requested.connect(self.open_vo_in_open3d)
        panel.figure_requested.connect(self._ask_vo_figure)
        panel.open3d_button.setToolTip("The run in Open3D's own window (a process of its own)")
        panel.figure_button.setToolTip("A PNG of the run rendered by Open3D (offscreen)")
        for output in (self.save_runner, self.figure_runner):
            output.finished.connect(partial(self._on_output_finished, output))
        runner.progress.connect(self._on_vo_progress)
        runner.snapshot.connect(self._on_vo_snapshot)
        runner.finished.connect(self._on_vo_finished)
        self._update_vo_actions()

    def _install_vo_menu(self) -> None:
        """The Sequence menu: Run / Cancel visual odometry, Open / Save VO run…"""
        menu = self.menuBar().addMenu("&Sequence")
        for action in (
            self.run_vo_action,
            self.cancel_vo_action,
            self.open_vo_action,
            self.save_vo_action,
        ):
            menu.addAction(action)

    def _update_vo_actions(self) -> None:
        running = self.vo_runner.is_running
        can_run = self.sequence is not None
        self.run_vo_action.setEnabled(can_run and not running)
        self.cancel_vo_action.setEnabled(running)
        can_save = self.vo_outcome is not None and not (running or self.save_runner.is_running)
        self.save_vo_action.setEnabled(can_save)
        self.vo_panel.set_running(running, can_run)
        self.vo_panel.save_button.setEnabled(can_save)
        shown = self.vo_scene is not None
        self.vo_panel.open3d_button.setEnabled(shown)
        self.vo_panel.figure_button.setEnabled(shown and not self.figure_runner.is_running)

    # the sequence's life ------------------------------------------------------------------------

    def open_sequence(self, path, camera=None, intrinsics=None, frames=None, *args, **kwargs):
        """`SequenceActions.open_sequence`, remembering how it was opened (a VO run's
        ``source``)."""
        max_size = kwargs.get("max_size")
        self._vo_next_source = sequence_source(path, camera, intrinsics, frames, max_size)
        try:
            return super().open_sequence(path, camera, intrinsics, frames, *args, **kwargs)
        finally:
            self._vo_next_source = ""

    def open_sequence_reader(self, opener, *args, **kwargs) -> bool:
        source = self._vo_next_source
        if not super().open_sequence_reader(opener, *args, **kwargs):
            return False
        self._vo_source = source
        self.vo_dock.show()
        self.probe_panel.parentWidget().raise_()  # the VO dock waits in its tab
        self._update_vo_actions()
        return True

    def close_sequence(self) -> None:
        """Close the sequence, stop its VO run and forget the run's scene."""
        had = self.sequence is not None or self._vo_only
        super().close_sequence()
        if not had:
            return
        self.vo_runner.shutdown(0.0)  # its thread stops at its next frame, unseen
        self._vo_only = False
        self.vo_outcome = None
        self._set_vo_scene(None)
        self.vo_dock.hide()
        if self.trajectory_dock is not None:
            self.trajectory_dock.hide()
        self._update_vo_actions()

    def request_position(self, position: int) -> None:
        if self._vo_only:  # no sequence: the run's frames alone
            self.show_vo_position(position)
        else:
            super().request_position(position)

    def show_position(self, position: int) -> None:
        super().show_position(position)
        if self.sequence is not None:
            self.show_vo_position(self.sequence.position)

    # running ------------------------------------------------------------------------------------

    def run_visual_odometry(self, frontend: str | None = None) -> bool:
        """Track the open sequence with ``frontend`` (None: the dock's) in the background; a
        running run is replaced. False (the error shown) when there is nothing to track."""
        session = self.sequence
        if session is None:
            self.state.set_error("visual odometry needs a sequence: open a video or a folder")
            return False
        if session.reader.intrinsics is None:
            self.state.set_error(
                f"{session.name}: visual odometry needs the camera's intrinsics (open it with "
                "--intrinsics FILE, or a KITTI, TUM or EuRoC folder)"
            )
            return False
        frontend = frontend or self.vo_panel.frontend_combo.currentText()
        self.vo_panel.set_frontend(frontend)
        self._vo_request += 1
        self.vo_outcome, self.vo_frames_per_s = None, None
        self._set_vo_scene(None)
        self.vo_panel.set_progress(0, len(session))
        options = None  # the window's weights folder, for a front-end that loads weights
        if frontend in OPTION_FRONTENDS and self.state.weights_dir:
            options = {"settings_dir": self.state.weights_dir}
        self.vo_runner.start(
            self._vo_request,
            session.open_reader,
            frontend,
            0,
            self._vo_source,
            options,
            self.vo_panel.stereo_box.isChecked(),
        )
        self.vo_dock.show()
        self.vo_dock.raise_()
        self._update_vo_actions()
        self.state.set_status(f"Visual odometry ({frontend}) on {session.name}…")
        return True

    def cancel_visual_odometry(self) -> None:
        """Stop the run after its current frame; what it tracked stays."""
        if self.vo_runner.is_running:
            self.vo_runner.cancel()
            self.state.set_status("Cancelling visual odometry…")

    def _on_vo_progress(self, request_id: int, done: int, total: int) -> None:
        self.vo_panel.set_progress(done, total)

    def _on_vo_snapshot(self, request_id: int, scene: VoScene) -> None:
        self._set_vo_scene(scene, grown=self.vo_scene is not None)

    def _on_vo_finished(self, outcome: VoOutcome) -> None:
        self._update_vo_actions()
        if outcome.error:
            self.state.set_error(outcome.error)
            return
        if outcome.scene is None:
            self.state.set_status("Visual odometry cancelled")
            return
        self.vo_outcome = outcome
        run = outcome.run
        done = len(outcome.scene)
        self.vo_frames_per_s = done / run.seconds if run.seconds > 0 else None
        self._set_vo_scene(outcome.scene, grown=self.vo_scene is not None)
        self._update_vo_actions()
        what = f"cancelled after {done} frames" if outcome.cancelled else "done"
        text = summary_text(outcome.scene, self.vo_frames_per_s)
        self.state.set_status(f"Visual odometry {what}: {text}")

    # saving and reopening -----------------------------------------------------------------------

    def _ask_save_vo(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the VO run into")
        if folder:
            self.save_vo_run(folder)

    def save_vo_run(self, folder: str) -> bool:
        """Write the last run's output folder in the background (`core.vo.run.write_outputs`:
        trajectories, stats.csv, scene.npz, map.ply); False (the error shown) when there is no
        run. The status bar tells how it went."""
        from core.vo.run import write_outputs

        outcome = self.vo_outcome
        if outcome is None:
            self.state.set_error("no VO run to save: run visual odometry first")
            return False
        reader, run = outcome.reader, outcome.run

        def save() -> str:
            try:
                write_outputs(Path(folder), reader, run, with_eval=False)
            except OSError as exc:
                raise MatchscopeError(f"{folder}: cannot save the VO run ({exc})") from exc
            return f"Saved the VO run in {folder}"

        self._output_request += 1
        self.save_runner.start(self._output_request, "saving the VO run", save)
        self._saving_scene, self._saving_folder = self.vo_scene, folder
        self._update_vo_actions()
        self.state.set_status(f"Saving the VO run in {folder}…")
        return True

    def _ask_open_vo(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a VO run (scene.npz)")
        if folder:
            self.open_vo_run(folder)

    def open_vo_run(self, folder: str) -> bool:
        """Reopen the run saved in ``folder`` (its scene.npz) without running it: with its
        sequence when `VoScene.source` still opens to as many frames, else the VO docks alone.
        False (the error shown) when ``folder`` holds no scene."""
        try:
            scene = load_scene(Path(folder))
        except MatchscopeError as exc:
            self.state.set_error(str(exc))
            return False
        self.vo_runner.shutdown(0.0)
        source = parse_source(scene.source)
        opened = False
        if source is not None and _opens_with(source, len(scene)):
            opened = self.open_sequence(
                source["path"],
                source["camera"],
                source["intrinsics"],
                source["frames"],
                max_size=source["max_size"],
            )
        if not opened:
            self.close_sequence()
            self._vo_only = True
            self.timeline.set_frames([FrameInfo(p, p) for p in range(len(scene))])
            self.stats_view.clear()
            for dock in (self.timeline_dock, self.stats_dock):
                dock.show()
            self.setWindowTitle(f"Matchscope: {scene.name} (VO run)")
        self.vo_dock.show()
        self.vo_panel.set_frontend(scene.frontend)
        self._set_vo_scene(scene)
        self._vo_folder = folder
        self.show_vo_position(0 if self.sequence is None else self.sequence.position)
        where = "with its sequence" if opened else "without its sequence (not found)"
        self.state.set_status(f"Opened the VO run in {folder} {where}")
        return True

    def open_vo_in_open3d(self) -> bool:
        """Show the scene in Open3D's window (`core.vo.open3d_view`; it cannot live in Qt);
        False (the error shown) when there is no scene or the process cannot start."""
        from core.vo.open3d_view import launch_open3d_viewer

        if self.vo_scene is None:
            self.state.set_error("no VO run to show: run visual odometry or open a run")
            return False
        try:
            folder = self._vo_folder
            if folder is None:  # a run not saved: its scene goes to a folder of the window's
                self._vo_temp = tempfile.TemporaryDirectory(prefix="matchscope-vo-")
                folder = self._vo_temp.name
                save_scene(Path(folder) / SCENE_FILE, self.vo_scene)
                self._vo_folder = folder
            self.open3d_process = launch_open3d_viewer(Path(folder))
        except (MatchscopeError, OSError) as exc:
            self.state.set_error(f"Open3D's window could not start: {exc}")
            return False
        self.state.set_status("The VO run opens in Open3D's window")
        return True

    def _ask_vo_figure(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the 3D figure", "vo_3d.png", "PNG images (*.png)"
        )
        if path:
            self.export_vo_figure(path)

    def export_vo_figure(self, path: str, size: tuple[int, int] = FIGURE_SIZE) -> bool:
        """Render the scene's 3D figure to the PNG ``path`` in the background (Open3D's
        offscreen renderer, `core.vo.figure3d`); False when there is no scene."""
        from core.vo.figure3d import render_scene_png

        scene = self.vo_scene
        if scene is None:
            self.state.set_error("no VO run to draw: run visual odometry or open a run")
            return False

        def render() -> str:
            render_scene_png(scene, Path(path), *size)
            return f"Exported the 3D figure to {path}"

        self._output_request += 1
        self.figure_runner.start(self._output_request, "the 3D figure", render)
        self._update_vo_actions()
        self.state.set_status(f"Rendering the 3D figure to {path}…")
        return True

    def _on_output_finished(self, runner: OutputRunner, outcome: OutputOutcome) -> None:
        self._update_vo_actions()
        if outcome.error:
            self.state.set_error(outcome.error)
            return
        if runner is self.save_runner and self.vo_scene is self._saving_scene:
            self._vo_folder = self._saving_folder  # Open in Open3D reads it from there
        self.state.set_status(outcome.message)

    # showing ------------------------------------------------------------------------------------

    def _set_vo_scene(self, scene: VoScene | None, grown: bool = False) -> None:
        """Show ``scene`` (None: none) in every VO view; ``grown``: the same run with more
        frames (the 3D view keeps its camera). The inspected point stays by its tracker id."""
        if scene is not self.vo_scene and not grown:
            self._vo_folder = None  # another run: not the one saved
        self.vo_scene = scene
        point = None
        if scene is not None and self._vo_point_id is not None:
            found = (scene.point_ids == self._vo_point_id).nonzero()[0]
            point = int(found[0]) if len(found) else None
        self.vo_panel.set_scene(scene, self.vo_frames_per_s, point)
        self.stats_view.set_vo_scene(scene)
        view = self._trajectory_view() if scene is not None else self.trajectory_view
        if view is not None:
            view.update_scene(scene) if grown and scene is not None else view.set_scene(scene)
            view.set_highlighted_point(point)
            if scene is not None:
                self.trajectory_dock.show()
        self._update_vo_actions()
        position = self.sequence.position if self.sequence is not None else None
        if position is None and self._vo_only:
            position = self.timeline.position
        self.show_vo_position(position)

    def show_vo_position(self, position: int | None) -> None:
        """Show frame ``position`` in the VO views (the VO-only timeline too)."""
        scene, session = self.vo_scene, self.sequence
        if self._vo_only and position is not None:
            position = max(0, min(int(position), len(scene) - 1)) if scene is not None else 0
            self.timeline.set_position(position)
            self.stats_view.set_cursor(position)
        pair = session.current_pair() if session is not None else None
        shown = pair if pair is not None else (position, None)
        for side, frame in enumerate(shown):
            if scene is not None and session is not None and frame is not None:
                if frame < len(scene):
                    self.pair_view.set_vo_keypoints(side, *scene.frame_keypoints(frame))
                    continue
            self.pair_view.set_vo_keypoints(side, None, None)
        if self.trajectory_view is not None and scene is not None and position is not None:
            self.trajectory_view.set_current(position if position < len(scene) else None)

    def _on_vo_point_chosen(self, index: int) -> None:
        scene = self.vo_scene
        chosen = scene is not None and 0 <= index < len(scene.points)
        self._vo_point_id = int(scene.point_ids[index]) if chosen else None
        if self.trajectory_view is not None:
            self.trajectory_view.set_highlighted_point(index if chosen else None)

    def _trajectory_view(self):
        """The 3D view and its dock, made on first use."""
        if self.trajectory_view is None:
            from app.export_dialog import SEQUENCE_ONLY
            from widgets.trajectory_view import TrajectoryView

            self.trajectory_view = view = TrajectoryView()
            self.trajectory_dock = self._add_dock(
                VIEW_3D_DOCK, view, Qt.DockWidgetArea.RightDockWidgetArea
            )
            self.trajectory_dock.setProperty(SEQUENCE_ONLY, True)
            view.frame_clicked.connect(self.request_position)
            view.point_clicked.connect(self.vo_panel.choose_point)
        return self.trajectory_view


def _opens_with(source: dict, frames: int) -> bool:
    """Whether the sequence ``source`` names opens, with ``frames`` frames."""
    try:
        reader = open_sequence(
            source["path"],
            source["camera"],
            source["intrinsics"],
            source["frames"],
            source["max_size"],
        )
    except MatchscopeError:
        return False
    try:
        return len(reader) == frames
    finally:
        reader.close()
