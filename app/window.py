"""`MainWindow`: actions, the pair view, docks for certainty, true error, warp, anchors,
attention, keypoints, the matches table, the probe and benchmarks; File > Export view… (see
`app.export_dialog`), File > Export figure… (see `app.figure_dialog`), File > Open/Save
workspace… (see `app.workspace`) and Edit > Settings… (see `app.settings_dialog`); benchmark
slots in `app.window_benchmarks`, the scale selectors in `app.window_scales`, the Probe panel in
`widgets.probe_panel`, B probes and pins in
`app.window_probes`, visual odometry (the Visual odometry and 3D docks) in `app.window_vo`.
The dock layout is remembered between runs when `remember_layout` is on
(``run_gui`` sets it).

The window only wires things together: actions change the `AppState`, the state's signals update
the views, and the `MatchRunner` reports back to the state. Nothing here blocks: matching runs in
the worker, and errors are shown in the status bar and the Probe panel, never in a modal dialog.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from app.benchmark import BenchmarkState
from app.export_dialog import ViewExporter
from app.figure_dialog import install_figure_action
from app.settings_dialog import WEIGHTS_DIR_KEY, apply_remembered_settings, install_settings_action
from app.state import KEYPOINT_MATCHERS, AppState
from app.window_benchmarks import BenchmarkActions
from app.window_compare import CompareDock
from app.window_probes import install_probe_wiring
from app.window_scales import ScaleActions
from app.window_seen import OutOfSight
from app.window_sequence import SequenceActions
from app.window_vo import VoActions
from app.worker import BenchmarkRunner, MatchRunner, Outcome
from app.workspace import install_workspace_actions, open_workspace, save_workspace
from core.matchers import matcher_names
from core.probe import ProbeReading
from core.result import MatchResult
from widgets.anchor_view import AnchorView
from widgets.attention_view import AttentionView
from widgets.benchmark_view import BenchmarkView
from widgets.compare_view import CompareView
from widgets.heatmap_view import certainty_view, error_view
from widgets.keypoint_view import KeypointView
from widgets.matches_table import MatchesTable
from widgets.pair_view import PairView
from widgets.probe_panel import ProbePanel
from widgets.uncertainty_view import UncertaintyView
from widgets.warp_view import WarpView

LAYOUT_KEYS = ("windowState", "geometry")  # QSettings keys of the remembered layout
IMAGE_FILTER = (
    "Images (*.jpg *.jpeg *.png *.ppm *.pgm *.pbm *.pnm *.tif *.tiff *.bmp *.webp);;All files (*)"
)


class MainWindow(BenchmarkActions, ScaleActions, VoActions, SequenceActions, QMainWindow):
    """Matchscope's main window; ``state`` is the model every part listens to."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        if not state.weights_dir:
            state.weights_dir = str(QSettings().value(WEIGHTS_DIR_KEY, "") or "")
        apply_remembered_settings(state)  # Edit > Settings…, under the command line's settings
        self.runner = MatchRunner(self)
        self.remember_layout = False  # run_gui: the layout is kept in QSettings on close
        self._runs_held = False  # see `holding_runs`
        self.bench_state = BenchmarkState()
        self.bench_runner = BenchmarkRunner(self)
        self.setWindowTitle("Matchscope")
        self.pair_view = PairView()
        self.setCentralWidget(self.pair_view)
        self.certainty_view = certainty_view()
        self.error_view = error_view()
        self.uncertainty_view = UncertaintyView()
        self.benchmark_view = BenchmarkView()
        offered = list(dict.fromkeys([*matcher_names(), state.matcher]))
        self.benchmark_view.set_matchers(offered, [state.matcher])
        self.warp_view = WarpView()
        self.anchor_view = AnchorView()
        self.attention_view = AttentionView()
        self.keypoint_view = KeypointView()
        self.matches_table = MatchesTable()
        self.probe_panel = ProbePanel()
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        right, bottom = (
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        probe = self._add_dock("Probe", self.probe_panel, right)
        certainty = self._add_dock("Certainty", self.certainty_view, right)
        warp = self._add_dock("Warp", self.warp_view, bottom)
        self.benchmark_dock = self._add_dock("Benchmarks", self.benchmark_view, bottom)
        self.tabifyDockWidget(warp, self.benchmark_dock)
        self.keypoint_dock = self._add_dock("Keypoints", self.keypoint_view, bottom)
        self.tabifyDockWidget(warp, self.keypoint_dock)
        self.matches_dock = self._add_dock("Matches", self.matches_table, bottom)
        self.tabifyDockWidget(warp, self.matches_dock)
        self.compare_view = CompareView()
        self.compare_dock = self._add_dock("Compare", self.compare_view, bottom)
        self.tabifyDockWidget(warp, self.compare_dock)
        # a keypoint matcher's first view below is its keypoints; any other matcher's its warp
        (self.keypoint_dock if state.matcher in KEYPOINT_MATCHERS else warp).raise_()
        self.error_dock = self._add_dock("True error", self.error_view, right)
        self.tabifyDockWidget(certainty, self.error_dock)
        self.uncertainty_dock = self._add_dock("Uncertainty", self.uncertainty_view, right)
        self.tabifyDockWidget(certainty, self.uncertainty_dock)
        for title, view in (("Anchors", self.anchor_view), ("Attention", self.attention_view)):
            self.tabifyDockWidget(certainty, self._add_dock(title, view, right))
        certainty.raise_()
        self.resizeDocks([probe], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([probe, certainty], [300, 500], Qt.Orientation.Vertical)
        self.resizeDocks([warp], [330], Qt.Orientation.Vertical)
        self._install_sequence_ui()  # the Timeline and Statistics docks, hidden until needed
        self._install_vo_ui()  # the Visual odometry dock (app.window_vo), hidden until needed
        hideable = (self.anchor_view, self.attention_view, self.keypoint_view, self.matches_table)
        self.out_of_sight = OutOfSight([view.parentWidget() for view in hideable])
        self._build_toolbar()
        self._install_scale_selectors()  # of the Certainty and Warp docks
        self._connect()
        self.compare = CompareDock(state, self.compare_dock, self.compare_view)
        self.probe_panel.show_probe(None)
        self.statusBar().showMessage(state.status)
        self.open_workspace_action, self.save_workspace_action = install_workspace_actions(self)
        self._install_sequence_menu()
        self.figure_action = install_figure_action(self)
        self.settings_action = install_settings_action(self)
        install_probe_wiring(self)  # after the File menu: the Probe menu comes second
        self._install_vo_menu()  # the Sequence menu
        # last: File > Export view… and every view's context menu (the docks made above)
        self.view_exporter = ViewExporter(self, state.set_status, state.set_error)
        self.view_exporter.install_context_menus()

    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_toolbar(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("Main")
        self.open_a_action = self._action("Open image A…", lambda: self.open_image("a"))
        self.open_b_action = self._action("Open image B…", lambda: self.open_image("b"))
        self.open_pair_action = self._action(
            "Open pair…", self.open_pair, QKeySequence(QKeySequence.StandardKey.Open)
        )
        self.run_action = self._action("Run", self.run_match, QKeySequence("Ctrl+R"))
        self.weights_action = self._action("Weights folder…", self.choose_weights_dir)
        self.weights_action.setToolTip(
            "A folder searched for model weights (roma_outdoor.pth, dinov2_vitl14_pretrain.pth)"
        )
        self.cancel_action = self._action("Cancel", self.cancel_match, QKeySequence("Escape"))
        self.cancel_action.setEnabled(False)
        self.matcher_combo = QComboBox()
        self.matcher_combo.addItems(matcher_names())
        if self.state.matcher not in matcher_names():
            self.matcher_combo.addItem(self.state.matcher)
        self.matcher_combo.setCurrentText(self.state.matcher)
        self.matcher_combo.setToolTip("Matcher (built-in, or package.module:factory)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFixedWidth(220)
        self.progress.setFormat("idle")
        self.threshold_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0.0, 1.0)
        self.threshold_slider.setSingleStep(0.01)
        self.threshold_slider.setValue(self.state.threshold)
        self.threshold_slider.setFixedWidth(220)
        self.threshold_slider.setToolTip("Draw only matches with certainty >= this threshold")
        self.intermediates_box = QCheckBox("Intermediates")
        self.intermediates_box.setChecked(self.state.keep_intermediates)
        self.intermediates_box.setToolTip(
            "RoMa keeps its anchors, attention and per-scale warps (Anchors and Attention docks); "
            "keypoint matchers their score maps and LightGlue's assignment (Keypoints dock)"
        )
        for action in (self.open_a_action, self.open_b_action, self.open_pair_action):
            toolbar.addAction(action)
        toolbar.addWidget(self._sequence_button())
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Matcher "))
        toolbar.addWidget(self.matcher_combo)
        toolbar.addAction(self.run_action)
        toolbar.addAction(self.cancel_action)
        toolbar.addWidget(self.progress)
        toolbar.addAction(self.weights_action)
        toolbar.addWidget(self.intermediates_box)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Certainty ≥ "))
        toolbar.addWidget(self.threshold_slider)

    def _action(self, text: str, slot, shortcut: QKeySequence | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _connect(self) -> None:
        state = self.state
        state.images_changed.connect(self._on_images_changed)
        state.result_changed.connect(self._on_result_changed)
        state.probe_changed.connect(self._on_probe_changed)
        state.keypoint_changed.connect(self._on_keypoint_changed)
        self.keypoint_view.clicked_a.connect(state.select_keypoint)
        self.matches_table.match_clicked.connect(state.probe_match)
        state.threshold_changed.connect(self._on_threshold_changed)
        state.keep_intermediates_changed.connect(self._on_keep_intermediates_changed)
        state.status_changed.connect(self._on_status)
        state.error_changed.connect(self.probe_panel.show_error)
        state.running_changed.connect(self._on_running_changed)
        state.progress_changed.connect(self._on_progress)
        self.runner.progress.connect(state.set_progress)
        self.runner.finished.connect(self._on_run_finished)
        state.matcher_changed.connect(self._on_matcher_changed)
        self.matcher_combo.currentTextChanged.connect(self._on_matcher_chosen)
        self.threshold_slider.valueChanged.connect(state.set_threshold)
        self.intermediates_box.toggled.connect(state.set_keep_intermediates)
        views = (self.pair_view, self.certainty_view, self.error_view, self.warp_view)
        for view in (*views, self.attention_view):
            view.clicked_a.connect(state.click_a)
        self._on_threshold_changed(state.threshold)  # the matcher's display threshold
        self._connect_benchmarks()

    # actions ------------------------------------------------------------------------------------

    def open_image(self, side: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open image {side.upper()}", "", IMAGE_FILTER)
        if path:
            self.close_sequence()
            self.state.load(side, path)

    def open_pair(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open two images (A, B)", "", IMAGE_FILTER)
        if len(paths) == 2:
            self.close_sequence()
            self.state.load_pair(*paths)
        elif paths:
            self.state.set_error(f"choose exactly two images, got {len(paths)}")

    def run_match(self) -> None:
        """Match the current pair in the worker (a running match is cancelled first)."""
        state = self.state
        if self._runs_held:
            return
        if self.sequence is not None:
            self.rematch_sequence()
            return
        if not state.has_pair:
            state.set_error("open two images first")
            return
        request_id = state.begin_request()
        self.cancel_action.setEnabled(True)  # also when a cancelling run is replaced
        self.runner.start(
            request_id,
            state.matcher,
            state.run_settings(),
            state.image_a,
            state.image_b,
            state.ground_truth,
        )

    def cancel_match(self) -> None:
        """Ask the running match to stop: "Cancelling…" at once, idle once it has stopped (or
        been abandoned, after the runner's ``abandon_after`` seconds)."""
        if self.state.set_cancelling():
            self.cancel_action.setEnabled(False)
            self.runner.cancel()

    @contextmanager
    def holding_runs(self) -> Iterator[None]:
        """Changes made inside (images, matcher, intermediates) start no match."""
        held, self._runs_held = self._runs_held, True
        try:
            yield
        finally:
            self._runs_held = held

    def open_workspace(self, path: str) -> bool:
        """Restore the workspace file ``path`` (see `app.workspace.open_workspace`)."""
        return open_workspace(self, path)

    def save_workspace(self, path: str) -> bool:
        """Save the workspace to ``path`` and the result beside it."""
        return save_workspace(self, path)

    def restore_remembered_layout(self) -> bool:
        """The dock layout and geometry kept in QSettings by the last window closed with
        `remember_layout` on; False when no geometry was restored."""
        dock_state, geometry = (QSettings().value(key) for key in LAYOUT_KEYS)
        if dock_state:
            self.restoreState(dock_state)
        return bool(geometry) and self.restoreGeometry(geometry)

    def choose_weights_dir(self) -> None:
        """Pick the folder searched for model weights; remembered in the app's settings."""
        folder = QFileDialog.getExistingDirectory(
            self, "Folder with model weights", self.state.weights_dir
        )
        if folder:
            self.state.weights_dir = folder
            QSettings().setValue(WEIGHTS_DIR_KEY, folder)
            self.state.set_status(f"Model weights are also looked for in {folder}")

    # state -> views -----------------------------------------------------------------------------

    def _on_images_changed(self) -> None:
        state = self.state
        self.runner.cancel()
        a, b = state.image_a, state.image_b
        self.pair_view.set_images(
            None if a is None else a.rgb,
            None if b is None else b.rgb,
            "" if a is None else Path(a.path).name,
            "" if b is None else Path(b.path).name,
            keep_view=self.sequence is not None,
        )
        self.certainty_view.set_data(None if a is None else a.rgb, None)
        self.error_view.set_data(None if a is None else a.rgb, None)
        rgb_a, rgb_b = None if a is None else a.rgb, None if b is None else b.rgb
        for view in (self.attention_view, self.anchor_view, self.keypoint_view):
            self.out_of_sight.update(view, "data", partial(view.set_data, rgb_a, rgb_b, None))
        if state.has_pair and self.sequence is None:
            self.run_match()

    def _on_result_changed(self, result: MatchResult | None) -> None:
        state = self.state
        self.probe_panel.show_result(result)
        errors, truth = state.truth_errors, state.ground_truth
        table = self.matches_table
        self.out_of_sight.update(
            table,
            "data",
            partial(
                table.set_result,
                result,
                None if errors is None else errors.matches,
                "true error" if truth is None else truth.error_name,
            ),
        )
        self.uncertainty_view.set_result(state.image_a.rgb if state.image_a else None, result)
        if result is None:  # new images: `_on_images_changed` shows them
            self.pair_view.set_matches(None, None)
            self.warp_view.set_data(None, None)
            self._show_scales(None)
            return
        if errors is None:
            self.pair_view.set_matches(result.matches, result.match_certainty)
            self.error_view.set_title("true error (open a pair in the Benchmarks dock)")
        else:
            self.pair_view.set_matches(
                result.matches, result.match_certainty, errors.matches, truth.error_name
            )
            sparse = " (at its matches: a sparse result)" if errors.dense is None else ""
            self.error_view.set_title(f"{truth.error_name} of A's warp{sparse}")
        rgb_a, points = state.image_a.rgb, result.matches[:, :2]
        if errors is not None and errors.dense is None:
            self.error_view.set_points(rgb_a, points, errors.matches)
        else:
            self.error_view.set_data(rgb_a, None if errors is None else errors.dense)
        if result.is_sparse:  # dots that stay visible at any zoom
            self._show_scales(result)
            self.certainty_view.set_points(rgb_a, points, result.match_certainty)
            self.warp_view.set_matches(
                result.size_a, state.image_b.rgb, result.matches, result.match_certainty
            )
        else:  # at the chosen scale (app.window_scales)
            self._show_scales(result)
        rgb_a, rgb_b = state.image_a.rgb, state.image_b.rgb
        for view in (self.anchor_view, self.attention_view, self.keypoint_view):
            self.out_of_sight.update(view, "data", partial(view.set_data, rgb_a, rgb_b, result))

    def _on_keypoint_changed(self, keypoint) -> None:
        view = self.keypoint_view
        self.out_of_sight.update(view, "keypoint", partial(view.set_keypoint, keypoint))

    def _on_probe_changed(self, probe: ProbeReading | None) -> None:
        for view in (self.certainty_view, self.error_view, self.uncertainty_view, self.warp_view):
            view.set_probe(probe)
        for view in (self.anchor_view, self.attention_view, self.matches_table):
            self.out_of_sight.update(view, "probe", partial(view.set_probe, probe))
        self.pair_view.set_probe(probe, self.state.probe_truth)
        self.probe_panel.show_probe(probe, self.state.probe_truth)

    def _on_threshold_changed(self, threshold: float) -> None:
        self.pair_view.set_threshold(threshold)
        self.warp_view.set_threshold(threshold)
        self.matches_table.set_threshold(threshold)
        if abs(self.threshold_slider.value() - threshold) > 1e-9:
            self.threshold_slider.setValue(threshold)

    def _on_keep_intermediates_changed(self, keep: bool) -> None:
        """Show the switch and re-run a model or keypoint matcher so that its result has them
        (or not)."""
        self.intermediates_box.setChecked(keep)
        if (self.state.has_pair or self.sequence is not None) and self.state.takes_intermediates:
            self.run_match()

    def _on_status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def _on_running_changed(self, running: bool) -> None:
        self.cancel_action.setEnabled(running)
        if not running:
            self.progress.setValue(0)
            self.progress.setFormat("idle")

    def _on_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(f"{stage}  %p%")

    def _on_matcher_changed(self, name: str) -> None:
        """Show the state's matcher in the combo box (without running it again)."""
        if self.matcher_combo.findText(name) < 0:
            self.matcher_combo.addItem(name)
        blocked = self.matcher_combo.blockSignals(True)
        self.matcher_combo.setCurrentText(name)
        self.matcher_combo.blockSignals(blocked)

    def _on_matcher_chosen(self, name: str) -> None:
        self.state.set_matcher(name)
        if self.state.has_pair or self.sequence is not None:
            self.run_match()

    def _on_run_finished(self, outcome: Outcome) -> None:
        if outcome.cancelled:
            self.state.set_cancelled(outcome.request_id, outcome.abandoned)
        elif outcome.error:
            self.state.set_failed(outcome.request_id, outcome.error)
        else:
            self.state.set_result(
                outcome.request_id, outcome.result, outcome.truth_errors, outcome.warp_pictures
            )

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel a running match or benchmark and wait (the runners' ``abandon_after``, 2 s, at
        most) for their threads before the window goes; a thread still busy finishes unseen."""
        self.bench_runner.shutdown()
        self.runner.shutdown()
        self.close_sequence()
        if self.remember_layout:
            layout = (self.saveState(), self.saveGeometry())
            for key, value in zip(LAYOUT_KEYS, layout, strict=True):
                QSettings().setValue(key, value)
        super().closeEvent(event)
