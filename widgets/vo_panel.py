"""`VoPanel`: the Visual odometry dock's contents: the front-end, Run / Cancel, progress, a
summary of the run (`core.vo.scene.VoScene`) and the map-point inspector (the keyframes that
observe a point, with its reprojection error in each)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # the widgets do not import the VO engine
    from core.vo.scene import VoScene

INSPECTOR_COLUMNS = ("frame", "error (px)", "observed (x, y)", "projected (x, y)")
NO_RUN_TEXT = "No run: open a sequence with intrinsics and press Run"


class VoPanel(QWidget):
    """Controls and read-outs of a VO run: the window gives it the scene to show (`set_scene`).

    run_requested(frontend); cancel_requested(); save_requested(); open3d_requested();
    figure_requested(); keypoints_toggled(shown): the VO keypoint layer of the 2D views;
    point_chosen(index): the user chose the inspector's point (-1: none); frame_clicked(position):
    a row of the inspector's table was clicked.
    """

    run_requested = Signal(str)
    cancel_requested = Signal()
    save_requested = Signal()
    open3d_requested = Signal()
    figure_requested = Signal()
    keypoints_toggled = Signal(bool)
    point_chosen = Signal(int)
    frame_clicked = Signal(int)

    def __init__(self, frontends: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.frontend_combo = QComboBox()
        self.frontend_combo.addItems(frontends)
        self.frontend_combo.setToolTip("The VO front-end: its features and their matching")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Track the open sequence (Sequence > Run visual odometry)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current frame, keeping what was tracked")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.summary = QLabel(NO_RUN_TEXT)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stereo_box = QCheckBox("Stereo start")
        self.stereo_box.setToolTip(
            "Start the map from a KITTI stereo pair (image_1 beside image_0): metric scale"
        )
        self.keypoints_box = QCheckBox("Keypoints in the 2D views")
        self.keypoints_box.setToolTip("The current frame's VO keypoints: inlier green, outlier red")
        self.keypoints_box.setChecked(True)
        self.save_button = QPushButton("Save VO run…")
        self.open3d_button = QPushButton("Open in Open3D")
        self.figure_button = QPushButton("Export 3D figure…")
        self.point_box = QSpinBox()
        self.point_box.setRange(-1, -1)
        self.point_box.setSpecialValueText("none")
        self.point_box.setToolTip("A map point (or click one in the 3D view)")
        self.point_label = QLabel()
        self.table = QTableWidget(0, len(INSPECTOR_COLUMNS))
        self.table.setHorizontalHeaderLabels(INSPECTOR_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setToolTip("The keyframes that observe the point; click one to go there")

        controls = QGridLayout()
        controls.addWidget(QLabel("Front-end"), 0, 0)
        controls.addWidget(self.frontend_combo, 0, 1)
        controls.addWidget(self.run_button, 0, 2)
        controls.addWidget(self.cancel_button, 0, 3)
        controls.addWidget(self.stereo_box, 1, 0, 1, 4)
        controls.addWidget(self.progress, 2, 0, 1, 4)
        outputs = QHBoxLayout()
        for button in (self.save_button, self.open3d_button, self.figure_button):
            outputs.addWidget(button)
        point = QHBoxLayout()
        point.addWidget(QLabel("Map point"))
        point.addWidget(self.point_box)
        point.addWidget(self.point_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.summary)
        layout.addWidget(self.keypoints_box)
        layout.addLayout(outputs)
        layout.addLayout(point)
        layout.addWidget(self.table, 1)

        self.run_button.clicked.connect(
            lambda: self.run_requested.emit(self.frontend_combo.currentText())
        )
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.open3d_button.clicked.connect(self.open3d_requested)
        self.figure_button.clicked.connect(self.figure_requested)
        self.keypoints_box.toggled.connect(self.keypoints_toggled)
        self.point_box.valueChanged.connect(self._on_point_box)
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.scene: VoScene | None = None
        self._positions = np.zeros(0, np.int64)  # the table's rows' frames
        self.set_scene(None)

    # inputs -------------------------------------------------------------------------------------

    def set_running(self, running: bool, can_run: bool = True) -> None:
        """Run enabled when ``can_run`` and idle; Cancel while ``running``."""
        self.run_button.setEnabled(can_run and not running)
        self.frontend_combo.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if not running:
            self.progress.setFormat("idle" if self.progress.value() == 0 else "%v / %m frames")

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat("%v / %m frames")

    def set_scene(
        self, scene: VoScene | None, frames_per_s: float | None = None, point: int | None = None
    ) -> None:
        """Summarise ``scene`` (None: no run) and inspect its map point ``point`` (None: none);
        point_chosen is not emitted."""
        self.scene = scene
        count = 0 if scene is None else len(scene.points)
        blocked = self.point_box.blockSignals(True)
        self.point_box.setRange(-1, count - 1)
        self.point_box.setValue(-1 if point is None else point)
        self.point_box.blockSignals(blocked)
        self.summary.setText(NO_RUN_TEXT if scene is None else summary_text(scene, frames_per_s))
        self._show_point(self.chosen_point)

    @property
    def chosen_point(self) -> int | None:
        """The inspector's map point (an index into the scene's points), or None."""
        value = self.point_box.value()
        return None if value < 0 else value

    def set_frontend(self, name: str) -> None:
        if self.frontend_combo.findText(name) < 0:
            self.frontend_combo.addItem(name)
        self.frontend_combo.setCurrentText(name)

    def choose_point(self, index: int | None) -> None:
        """Inspect map point ``index`` (None: none) as the spin box would (point_chosen)."""
        self.point_box.setValue(-1 if index is None else index)

    def _on_point_box(self, value: int) -> None:
        self._show_point(self.chosen_point)
        self.point_chosen.emit(value)

    def _show_point(self, index: int | None) -> None:
        """The inspector's table: the keyframes that observe point ``index`` of the scene with
        its reprojection error in each (empty for None)."""
        scene = self.scene
        self.table.setRowCount(0)
        self._positions = np.zeros(0, np.int64)
        if scene is None or index is None or not 0 <= index < len(scene.points):
            self.point_label.setText("")
            return
        positions, projected, errors = scene.reprojection(index)
        observed = scene.point_observations(index)[1]
        x, y, z = scene.points[index]
        self.point_label.setText(
            f"id {scene.point_ids[index]} at ({x:.2f}, {y:.2f}, {z:.2f}), "
            f"seen by {len(positions)} keyframes"
        )
        self._positions = positions
        self.table.setRowCount(len(positions))
        for row, cells in enumerate(zip(positions, errors, observed, projected, strict=True)):
            position, error, seen, where = cells
            texts = (
                str(int(position)),
                f"{error:.2f}",
                f"{seen[0]:.1f}, {seen[1]:.1f}",
                f"{where[0]:.1f}, {where[1]:.1f}",
            )
            for column, text in enumerate(texts):
                self.table.setItem(row, column, QTableWidgetItem(text))

    def _on_cell_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._positions):
            self.frame_clicked.emit(int(self._positions[row]))


def summary_text(scene: VoScene, frames_per_s: float | None = None) -> str:
    """ "T of N frames tracked · P map points · F frames/s · ATE A m" (ATE: the RMSE of the
    position error after Sim(3) alignment, when the scene has ground truth)."""
    text = (
        f"{scene.frontend}: {int(scene.tracked.sum())} of {len(scene)} frames tracked · "
        f"{len(scene.points)} map points · {int(scene.keyframe.sum())} keyframes"
    )
    if frames_per_s is not None:
        text += f" · {frames_per_s:.1f} frames/s"
    if scene.pose_error_m is not None and np.isfinite(scene.pose_error_m).any():
        errors = scene.pose_error_m[np.isfinite(scene.pose_error_m)]
        text += f" · ATE {np.sqrt(np.mean(errors**2)):.3f} m"
    return text
