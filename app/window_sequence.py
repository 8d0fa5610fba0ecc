"""The window's sequences (a mixin of `MainWindow`): Open sequence (toolbar and File menu), the
Timeline and Statistics docks, background matching, tracks, and saving or reopening the results.

With a sequence open, ``window.sequence`` is its `SequenceSession` and ``window.sequence_matcher``
matches its pairs in the background. The timeline asks for positions; requests are coalesced
(one seek per pass of the event loop, the latest wins), so a fast drag never queues work and
the timeline's playback, which waits for each position to be shown, drops frames instead of
falling behind. A pair not matched yet shows its frames at once and its result when it arrives.
Run (or choosing another matcher) matches the whole sequence again with the current matcher.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton

from app.sequence_export import install_sequence_export_action
from app.sequence_state import SequenceSession
from app.sequence_worker import PairOutcome, SequenceMatcher
from core.errors import MatchscopeError
from core.run_store import run_label
from core.sequence import open_sequence
from core.sequence.results import open_results
from core.sequence.video import VIDEO_EXTENSIONS
from widgets.sequence_stats_view import SequenceStatsView
from widgets.timeline import TimelineWidget

VIDEO_FILTER = f"Videos ({' '.join('*' + ext for ext in VIDEO_EXTENSIONS)});;All files (*)"
DONE_MARKS_MS = 200
"""How often the timeline's marks of matched pairs are redrawn while results arrive."""


class SequenceActions:
    """Sequence slots of `MainWindow` (``self`` is the window)."""

    sequence: SequenceSession | None = None

    def _install_sequence_ui(self) -> None:
        """The Timeline and Statistics docks (hidden until a sequence opens), the sequence
        actions and the matcher (the File menu: `_install_sequence_menu`; the toolbar's
        button: `_sequence_button`)."""
        from app.export_dialog import SEQUENCE_ONLY

        self.sequence = None
        self.sequence_matcher = SequenceMatcher(self)
        self.timeline = TimelineWidget()
        self.timeline_dock = self._add_dock(
            "Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.stats_view = SequenceStatsView()
        self.stats_dock = self._add_dock(
            "Statistics", self.stats_view, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        for dock in (self.timeline_dock, self.stats_dock):
            dock.setProperty(SEQUENCE_ONLY, True)
            dock.hide()
        self.timeline.install_shortcuts(self)
        self.open_video_action = QAction("Open video…", self)
        self.open_video_action.triggered.connect(self._ask_video)
        self.open_folder_action = QAction("Open sequence folder…", self)
        self.open_folder_action.setToolTip(
            "A folder of images, or a KITTI odometry, TUM RGB-D or EuRoC MAV sequence"
        )
        self.open_folder_action.triggered.connect(self._ask_folder)
        self.open_results_action = QAction("Open sequence results…", self)
        self.open_results_action.setToolTip(
            "Reopen results saved with Save sequence results… or written by match-sequence"
        )
        self.open_results_action.triggered.connect(self._ask_results)
        self.save_results_action = QAction("Save sequence results…", self)
        self.save_results_action.triggered.connect(self._ask_save_results)
        self._pending_position: int | None = None
        self._done_marks = QTimer(self)
        self._done_marks.setSingleShot(True)
        self._done_marks.setInterval(DONE_MARKS_MS)
        self._done_marks.timeout.connect(self._show_done_marks)
        self.timeline.position_requested.connect(self.request_position)
        self.timeline.pairing_changed.connect(self.set_sequence_pairing)
        self.stats_view.frame_clicked.connect(self.request_position)
        self.stats_view.error.connect(self.state.set_error)
        matcher = self.sequence_matcher
        matcher.pair_done.connect(self._on_pair_done)
        matcher.frame_bad.connect(self._on_frame_bad)
        matcher.pair_failed.connect(self._on_pair_failed)
        matcher.failed.connect(self.state.set_error)
        matcher.idle.connect(self._on_sequence_idle)
        self.pair_view.trail_options_changed.connect(lambda *_: self._show_trails())
        self.pair_view.track_clicked.connect(self._on_track_click)

    def _install_sequence_menu(self) -> None:
        """File > Open video…, Open sequence folder…, Open/Save sequence results… and Export
        sequence view… (after the workspace's entries)."""
        from app.export_dialog import file_menu

        self.export_sequence_action = install_sequence_export_action(self)
        file = file_menu(self)
        for action in (
            self.open_video_action,
            self.open_folder_action,
            self.open_results_action,
            self.save_results_action,
        ):
            file.insertAction(self.export_sequence_action, action)
        self._update_sequence_actions()

    def _sequence_button(self) -> QToolButton:
        """The toolbar's Open sequence… button: a menu of Open video… and Open sequence
        folder…"""
        button = QToolButton()
        button.setText("Open sequence…")
        button.setToolTip("Open a video or a sequence folder (images, KITTI, TUM, EuRoC)")
        menu = QMenu(button)
        menu.addAction(self.open_video_action)
        menu.addAction(self.open_folder_action)
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.open_sequence_button = button
        return button

    # opening and closing ------------------------------------------------------------------------

    def open_sequence(
        self,
        path: str,
        camera: str | None = None,
        intrinsics: str | None = None,
        frames: str | None = None,
        results: str | None = None,
        step: int = 1,
        reference: int | None = None,
        max_size: int | None = None,
    ) -> bool:
        """Open the video or sequence folder ``path`` (``camera``, ``intrinsics``, ``frames``,
        ``step``, ``reference``, ``max_size``: as on the command line; ``results``: a folder of
        saved results to reopen, whose pairing then wins) and start matching it; False (the
        error shown) when it cannot be opened."""
        opener = partial(open_sequence, path, camera, intrinsics, frames, max_size)
        return self.open_sequence_reader(opener, results, step, reference)

    def open_sequence_reader(
        self,
        opener,
        results: str | None = None,
        step: int = 1,
        reference: int | None = None,
    ) -> bool:
        """`open_sequence` of any reader: ``opener()`` makes one (called here and by the
        matching thread)."""
        try:
            reader = opener()
            saved = None
            if results:
                saved = open_results(results, reader, self.state.runs.budget)
        except MatchscopeError as exc:
            self.state.set_error(str(exc))
            return False
        if len(reader) < 2:
            reader.close()
            self.state.set_error(f"{reader.name}: a sequence needs two frames or more")
            return False
        self.close_sequence()
        self.sequence = session = SequenceSession(self.state, opener, reader, saved)
        self.out_of_sight.holding = True
        session.frame_bad.connect(self._on_session_bad)
        session.pair_added.connect(self._on_pair_added)
        session.results_reset.connect(self._on_results_reset)
        if saved is None or saved.pairing is None:
            mode = "step" if reference is None else "reference"
            session.set_pairing(mode, step, reference or 0)
        self.timeline.set_frames(reader.frames)
        self.timeline.set_pairing(session.mode, session.step, session.reference)
        self.stats_view.set_rows(session.stats_rows())
        for dock in (self.timeline_dock, self.stats_dock):
            dock.show()
        self.timeline_dock.raise_()
        self.setWindowTitle(f"Matchscope: {session.name}")
        self._update_sequence_actions()
        self.request_position(0)
        self._start_sequence_matching()
        if saved is not None and saved.unmatched_rows:
            self.state.set_status(
                f"{saved.unmatched_rows} rows of {results}/stats.csv name frames this sequence "
                "does not have: ignored"
            )
        return True

    def close_sequence(self) -> None:
        """Stop matching and close the open sequence (the window goes back to pairs)."""
        if self.sequence is None:
            return
        self.sequence_matcher.stop()
        self.sequence.close()
        self.sequence = None
        self.out_of_sight.holding = False
        self.out_of_sight.flush()  # the docks out of sight show the state's pair too
        self.timeline.pause()
        self.timeline.set_frames([])
        self.stats_view.clear()
        self.pair_view.set_trails(None)
        for dock in (self.timeline_dock, self.stats_dock):
            dock.hide()
        self.setWindowTitle("Matchscope")
        self._update_sequence_actions()

    def _update_sequence_actions(self) -> None:
        for action in (
            self.save_results_action,
            self.open_results_action,
            self.export_sequence_action,
        ):
            action.setEnabled(self.sequence is not None)

    def _ask_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_sequence(path)

    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open sequence folder")
        if path:
            self.open_sequence(path)

    def _ask_results(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open sequence results (stats.csv)")
        if folder:
            self.open_sequence_results(folder)

    def open_sequence_results(self, folder: str) -> bool:
        """Reopen results saved for the open sequence (its matching goes on from there)."""
        session = self.sequence
        if session is None:
            return False
        try:
            saved = open_results(folder, session.reader, self.state.runs.budget)
        except MatchscopeError as exc:
            self.state.set_error(str(exc))
            return False
        self.sequence_matcher.stop()
        session.results = saved
        if saved.pairing is not None:
            mode, value = saved.pairing
            step, reference = (value, session.reference) if mode == "step" else (1, value)
            session.mode, session.step, session.reference = mode, step, reference
            self.timeline.set_pairing(mode, step, reference)
        self.stats_view.set_rows(session.stats_rows())
        self._show_done_marks()
        self.request_position(session.position)
        self._start_sequence_matching()
        return True

    def _ask_save_results(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save sequence results into")
        if folder:
            self.save_sequence_results(folder)

    def save_sequence_results(self, folder: str) -> bool:
        """Write the sequence's results (``stats.csv``, ``results/A_B.npz``) into ``folder``."""
        if self.sequence is None:
            return False
        try:
            count = self.sequence.results.save(folder)
        except MatchscopeError as exc:
            self.state.set_error(str(exc))
            return False
        self.state.set_status(f"Saved {count} results and stats.csv in {folder}")
        return True

    # matching -----------------------------------------------------------------------------------

    def _start_sequence_matching(self) -> None:
        """Match the pairs that have no statistics yet, around the cursor first."""
        session, state = self.sequence, self.state
        settings = state.run_settings()
        label = run_label(state.matcher, settings)
        if session.results.label and session.results.label != label and len(session.results):
            session.reset_results(label)
        session.results.label = label
        done = {(e.position_a, e.position_b) for e in session.results.entries()}
        self.sequence_matcher.start(
            session.open_reader, state.matcher, settings, session.pairs(), done, session.position
        )

    def rematch_sequence(self) -> None:
        """Run (or another matcher chosen): match every pair again with the current matcher."""
        session = self.sequence
        session.reset_results(run_label(self.state.matcher, self.state.run_settings()))
        self._start_sequence_matching()
        self.request_position(session.position)

    def set_sequence_pairing(self, mode: str, step: int, reference: int) -> None:
        """Show frame t with t + ``step`` (``mode`` "step") or with position ``reference``
        ("reference"); a change matches the sequence's new pairs."""
        session = self.sequence
        if session is not None and session.set_pairing(mode, step, reference):
            self.timeline.set_pairing(session.mode, session.step, session.reference)
            self._start_sequence_matching()
            self.request_position(session.position)

    def _on_pair_done(self, outcome: PairOutcome) -> None:
        if self.sequence is not None:
            self.sequence.add_outcome(outcome)
            if (outcome.position_a, outcome.position_b) == self.sequence.current_pair():
                self._show_trails()

    def _on_pair_added(self, position_a: int, stats) -> None:
        self.stats_view.add_row(position_a, stats)
        if not self._done_marks.isActive():
            self._done_marks.start()

    def _on_results_reset(self) -> None:
        self.stats_view.clear()
        self.timeline.set_done_pairs(set())

    def _show_done_marks(self) -> None:
        if self.sequence is not None:
            self.timeline.set_done_pairs(self.sequence.results.done_positions())

    def _on_frame_bad(self, position: int, reason: str) -> None:
        if self.sequence is not None:
            self.sequence.mark_bad(position, reason)

    def _on_session_bad(self, position: int, reason: str) -> None:
        session = self.sequence
        self.timeline.set_bad_frames(set(session.bad))
        frame = session.reader.frames[position].frame_id
        self.state.set_status(f"Frame {frame} (position {position}) skipped: {reason}")

    def _on_pair_failed(self, position_a: int, position_b: int, message: str) -> None:
        if self.sequence is not None:
            frames = self.sequence.reader.frames
            ids = frames[position_a].frame_id, frames[position_b].frame_id
            self.state.set_status(f"Pair {ids[0]} -> {ids[1]} failed: {message}")

    def _on_sequence_idle(self) -> None:
        session = self.sequence
        if session is not None:
            self.state.set_status(
                f"Matched {len(session.results)} pairs of {session.name}"
                + (f"; {len(session.bad)} frames could not be decoded" if session.bad else "")
            )

    # the cursor ---------------------------------------------------------------------------------

    def request_position(self, position: int) -> None:
        """Show the pair at ``position`` at the next pass of the event loop (the latest request
        wins)."""
        if self.sequence is None:
            return
        first = self._pending_position is None
        self._pending_position = int(position)
        if first:
            QTimer.singleShot(0, self._apply_position)

    def _apply_position(self) -> None:
        position, self._pending_position = self._pending_position, None
        if position is not None:
            self.show_position(position)

    def show_position(self, position: int) -> None:
        """Show the pair at ``position`` now (its result when it has one; a result that was
        dropped from the cache is matched again first)."""
        session = self.sequence
        if session is None:
            return
        pair = session.seek(position)
        self.sequence_matcher.set_cursor(session.position)
        if (
            pair is not None
            and session.results.has(*pair)
            and not session.results.has_result(*pair)
        ):
            self.sequence_matcher.request(pair)  # its result was dropped: match it again now
        self.timeline.set_position(session.position)
        self.stats_view.set_cursor(session.position)
        self._show_trails()

    # tracks -------------------------------------------------------------------------------------

    def _show_trails(self) -> None:
        """The tracks ending at the current frame, in the pair view (sparse matchers, k = 1)."""
        session = self.sequence
        if session is None or session.mode != "step" or session.step != 1:
            self.pair_view.set_trails(None)
            return
        trails = session.tracks.trails(session.position, self.pair_view.trail_length)
        self.pair_view.set_trails(trails if len(trails) else None)

    def _on_track_click(self, x: float, y: float, snap_radius: float) -> None:
        """With tracks shown, a click on A picks the track nearest it: drawn whole, its frames in
        the status bar."""
        session = self.sequence
        if session is None:
            return
        track_id = session.tracks.track_at(session.position, x, y, snap_radius)
        if track_id is None:
            self.pair_view.highlight_track(None)
            return
        track = session.tracks.track(track_id)
        self.pair_view.highlight_track(track.points)
        ids = [session.reader.frames[p].frame_id for p in track.positions]
        self.state.set_status(
            f"Track {track_id}: {len(ids)} frames, {ids[0]} … {ids[-1]} "
            f"(positions {track.positions[0]}..{track.positions[-1]})"
        )
