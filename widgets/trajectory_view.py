"""`TrajectoryView`: a VO run (`core.vo.scene.VoScene`) in 3D with vispy: the estimated path,
the keyframes' camera frusta, the map points coloured by image colour, depth, uncertainty or
observation count, and the aligned ground truth coloured by its error. A click on a camera
(a frustum or a path vertex) asks for that frame, a click on a map point for that point, so the
view jumps to any past camera. Needs OpenGL (a real or virtual X display)."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget
from vispy import scene as vscene

from core.errors import InputError, MatchscopeError
from core.vo.scene import VoScene
from widgets.trajectory_visuals import (
    COLOUR_MAPS,
    FRUSTUM_VERTICES,
    UNITS,
    camera_centres,
    finite_range,
    frustum_segments,
    map_colours,
    nearest_within,
    path_extent,
    point_values,
    project_to_canvas,
    truth_line,
)

BACKGROUND = "#1b1d22"
TRACKED_RGBA = (0.35, 0.65, 1.0, 1.0)
UNTRACKED_RGBA = (0.5, 0.5, 0.5, 1.0)
KEYFRAME_RGBA = (1.0, 0.65, 0.2, 1.0)
CURRENT_RGBA = (1.0, 0.2, 0.3, 1.0)
HIGHLIGHT_RGBA = (1.0, 1.0, 1.0, 1.0)
FRUSTUM_FRACTION = 0.05
"""A frustum's depth as a fraction of the path's extent (largest side of its bounding box)."""
CURRENT_SCALE = 1.8
"""The current frame's frustum is this much bigger than a keyframe's."""
POINT_SIZE_PX, HIGHLIGHT_SIZE_PX, CURRENT_CENTRE_PX = 4.0, 13.0, 9.0
PICK_RADIUS_PX = 8.0
"""A click picks the nearest camera or map point projected within this many pixels."""
VIEW_ELEVATION_DEG = 55.0
"""The view camera starts this far above the horizontal plane of the run's first camera (VO
paths mostly lie in it, the world's y pointing down)."""
FIT_ZOOM = 0.65
"""`set_scene` fits the bounding box, then moves the camera closer by this factor (vispy's fit
leaves the box at about half the view)."""
DRAG_PX = 4.0
"""A press and release farther apart than this is a drag (it turns the camera), not a click."""


class TrajectoryView(QWidget):
    """The 3D view of a VO run under two rows: a check box per layer, the points' colour
    mode and "Follow camera" (the view's centre moves with the current frame); then the
    legends (the points' colour range, the ground truth's error range in metres).

    frame_clicked(position): a camera was clicked (its frustum's centre, the current
    camera, or a path vertex when the path is shown); point_clicked(index): a map point
    (index into ``scene.points``). A camera within `PICK_RADIUS_PX` wins over a map point.
    Drags turn the camera (shift: move it; right button or wheel: zoom) and never pick.
    `pick` is the click's logic; `screen_position_of_frame` / `_of_point` say where to click.
    """

    frame_clicked = Signal(int)
    point_clicked = Signal(int)
    LAYERS = ("trajectory", "frusta", "points", "truth")
    COLOUR_MODES = ("image", "depth", "uncertainty", "observations")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._scene: VoScene | None = None
        self._current: int | None = None
        self._highlighted: int | None = None
        self._follow = False
        self._colour_mode = "image"
        self._layer_visible = dict.fromkeys(self.LAYERS, True)
        self._frustum_depth = 1.0
        self._press_pos: tuple[float, float] | None = None
        """Where the mouse button went down (canvas pixels); None when it is up."""
        self._dragged = False
        """Whether the mouse moved more than `DRAG_PX` from there since."""
        self.point_colours = np.zeros((0, 4), np.float32)
        """(P, 4) float32 RGBA the map points are drawn with (the current colour mode)."""
        self.point_limits: tuple[float, float] | None = None
        """The value range of the points' colour map (None in ``image`` mode or no values)."""
        self._truth_limits: tuple[float, float] | None = None

        self.canvas = vscene.SceneCanvas(app="pyside6", keys=None, bgcolor=BACKGROUND, show=False)
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = vscene.TurntableCamera(fov=45.0, up="-y", elevation=VIEW_ELEVATION_DEG)
        parent_node = self.view.scene
        self._truth = vscene.visuals.Line(parent=parent_node, width=2.0, method="gl")
        self._trajectory = vscene.visuals.Line(parent=parent_node, width=2.0, method="gl")
        self._frusta = vscene.visuals.Line(
            parent=parent_node, connect="segments", color=KEYFRAME_RGBA, method="gl"
        )
        self._points = vscene.visuals.Markers(parent=parent_node)
        self._current_frustum = vscene.visuals.Line(
            parent=parent_node, connect="segments", color=CURRENT_RGBA, width=3.0, method="gl"
        )
        self._current_centre = vscene.visuals.Markers(parent=parent_node)
        self._highlight = vscene.visuals.Markers(parent=parent_node)
        self._layer_nodes = {
            "trajectory": [self._trajectory],
            "frusta": [self._frusta],
            "points": [self._points, self._highlight],
            "truth": [self._truth],
        }
        self._has_data = {node: False for nodes in self._layer_nodes.values() for node in nodes}
        self._has_data.update({self._current_frustum: False, self._current_centre: False})
        for node in self._has_data:
            node.visible = False
        self.canvas.events.mouse_press.connect(self._on_mouse_press)
        self.canvas.events.mouse_move.connect(self._on_mouse_move)
        self.canvas.events.mouse_release.connect(self._on_mouse_release)

        self.layer_boxes: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for layer in self.LAYERS:
            box = QCheckBox(layer.capitalize())
            box.setChecked(True)
            box.toggled.connect(lambda on, name=layer: self.set_layer_visible(name, on))
            self.layer_boxes[layer] = box
            bar.addWidget(box)
        bar.addWidget(QLabel("Points by"))
        self.colour_combo = QComboBox()
        self.colour_combo.addItems(self.COLOUR_MODES)
        self.colour_combo.currentTextChanged.connect(self.set_colour_mode)
        bar.addWidget(self.colour_combo)
        self.follow_box = QCheckBox("Follow camera")
        self.follow_box.toggled.connect(self.set_follow)
        bar.addWidget(self.follow_box)
        bar.addStretch(1)
        legends = QHBoxLayout()
        legends.setContentsMargins(4, 0, 4, 2)
        self.points_bar, self.points_legend = QLabel(), QLabel()
        self.truth_bar, self.truth_legend = QLabel(), QLabel()
        for widget in (self.points_bar, self.points_legend, self.truth_bar, self.truth_legend):
            legends.addWidget(widget)
        legends.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addLayout(legends)
        layout.addWidget(self.canvas.native, 1)
        self.canvas.native.setMinimumSize(200, 150)
        self._update_legends()

    # -- public API ---------------------------------------------------------------------

    @property
    def canvas_widget(self) -> QWidget:
        """The Qt widget the canvas draws in: the one to click, in whose pixels
        `screen_position_of_frame` and `screen_position_of_point` answer."""
        return self.canvas.native

    @property
    def scene(self) -> VoScene | None:
        return self._scene

    def set_scene(self, scene: VoScene | None) -> None:
        """Show ``scene`` (None: nothing), replacing everything, and fit the camera to it."""
        self._scene = scene
        self._highlighted = None
        if scene is not None and self._current is not None and self._current >= len(scene):
            self._current = None
        self._rebuild()
        if scene is not None:
            self._fit_camera()
        self.canvas.update()

    def update_scene(self, scene: VoScene) -> None:
        """Show ``scene``, the same run grown by more frames and points, keeping the user's
        camera (no refit) and the current frame."""
        self._scene = scene
        if self._highlighted is not None and self._highlighted >= len(scene.points):
            self._highlighted = None
        self._rebuild()
        self.canvas.update()

    def set_current(self, position: int | None) -> None:
        """Highlight frame ``position``'s camera (a bigger frustum in another colour; None:
        none); with follow on, the view's centre moves to it. Redraws only the highlight
        (and, in depth mode, the points' colours, which are distances to this camera)."""
        self._current = position
        self._draw_current()
        if self._colour_mode == "depth":
            self._colour_points()
        if self._follow and self._current_centre_position() is not None:
            self.view.camera.center = tuple(self._current_centre_position())
        self.canvas.update()

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Show or hide ``layer`` (one of `LAYERS`); its check box follows."""
        if layer not in self.LAYERS:
            raise ValueError(f"unknown layer {layer!r}; one of {', '.join(self.LAYERS)}")
        self._layer_visible[layer] = bool(visible)
        self.layer_boxes[layer].setChecked(bool(visible))
        for node in self._layer_nodes[layer]:
            node.visible = self._layer_visible[layer] and self._has_data[node]
        self._update_legends()
        self.canvas.update()

    def layer_visible(self, layer: str) -> bool:
        """Whether ``layer`` is switched on (it draws when the scene has data for it)."""
        return self._layer_visible[layer]

    def set_colour_mode(self, mode: str) -> None:
        """Colour the map points by ``mode`` (one of `COLOUR_MODES`): the image colour, depth
        (distance to the current camera), uncertainty (``point_sigma_px``) or observation
        count; the legend shows the colour map's range."""
        if mode not in self.COLOUR_MODES:
            raise ValueError(f"unknown colour mode {mode!r}; one of {', '.join(self.COLOUR_MODES)}")
        self._colour_mode = mode
        self.colour_combo.setCurrentText(mode)
        self._colour_points()
        self.canvas.update()

    @property
    def colour_mode(self) -> str:
        return self._colour_mode

    def set_follow(self, follow: bool) -> None:
        """With ``follow`` on, the view's centre moves to the current camera (now, and at
        every `set_current`)."""
        self._follow = bool(follow)
        self.follow_box.setChecked(self._follow)
        centre = self._current_centre_position()
        if self._follow and centre is not None:
            self.view.camera.center = tuple(centre)
            self.canvas.update()

    def set_highlighted_point(self, index: int | None) -> None:
        """Draw map point ``index`` larger (None: none)."""
        self._highlighted = index
        self._draw_highlight()
        self.canvas.update()

    def export_png(self, path: str | os.PathLike) -> None:
        """Write the canvas as rendered (its size, without the toolbar) to ``path`` (PNG); a
        `MatchscopeError` when there is no OpenGL (e.g. Qt's offscreen platform)."""
        if not self.canvas.native.isValid():
            raise MatchscopeError("the 3D view has no OpenGL context: nothing to export")
        image = np.ascontiguousarray(self.canvas.render(alpha=False))
        height, width = image.shape[:2]
        qimage = QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        if not qimage.save(os.fspath(path), "PNG"):
            raise InputError(path, "could not write the PNG")

    def screen_position_of_frame(self, position: int) -> tuple[float, float] | None:
        """Frame ``position``'s camera centre in `canvas_widget` pixels (None: behind the
        view camera or no scene)."""
        if self._scene is None:
            return None
        return self._one_pixel(camera_centres(self._scene.poses[position : position + 1]))

    def screen_position_of_point(self, index: int) -> tuple[float, float] | None:
        """Map point ``index`` in `canvas_widget` pixels (None: behind the view camera)."""
        if self._scene is None:
            return None
        return self._one_pixel(self._scene.points[index : index + 1])

    # -- drawing -------------------------------------------------------------------------

    def _set_node(self, node, has_data: bool, layer: str | None) -> None:
        self._has_data[node] = has_data
        node.visible = has_data and (layer is None or self._layer_visible[layer])

    def _rebuild(self) -> None:
        """Set every visual's data from the scene."""
        scene = self._scene
        if scene is None or not len(scene):
            for node in self._has_data:
                self._set_node(node, False, None)
            self.point_colours, self.point_limits = np.zeros((0, 4), np.float32), None
            self._update_legends()
            return
        centres = camera_centres(scene.poses).astype(np.float32)
        self._frustum_depth = FRUSTUM_FRACTION * path_extent(centres)
        colours = np.where(scene.tracked[:, None], TRACKED_RGBA, UNTRACKED_RGBA)
        if len(centres) >= 2:
            self._trajectory.set_data(centres, color=colours.astype(np.float32))
        self._set_node(self._trajectory, len(centres) >= 2, "trajectory")
        keyframes = np.flatnonzero(scene.keyframe)
        if len(keyframes):
            segments = frustum_segments(
                scene.poses[keyframes], scene.K, scene.image_size, self._frustum_depth
            )
            self._frusta.set_data(segments, connect="segments")
        self._set_node(self._frusta, len(keyframes) > 0, "frusta")
        has_truth, self._truth_limits = False, None
        if scene.truth is not None:
            vertices, segments, colours, limits = truth_line(scene.truth, scene.pose_error_m)
            has_truth = len(segments) > 0  # two consecutive known poses at least
            if has_truth:
                self._truth.set_data(vertices, color=colours, connect=segments)
                self._truth_limits = limits
        self._set_node(self._truth, has_truth, "truth")
        self.layer_boxes["truth"].setEnabled(has_truth)
        self._colour_points()
        self._draw_current()
        self._draw_highlight()

    def _colour_points(self) -> None:
        """Set the points' data with the colours of the current mode."""
        scene = self._scene
        if scene is None or not len(scene.points):
            self._set_node(self._points, False, "points")
            self.point_colours, self.point_limits = np.zeros((0, 4), np.float32), None
            self._update_legends()
            return
        if self._colour_mode == "image":
            colours = np.hstack([scene.colours / 255.0, np.ones((len(scene.colours), 1))])
            self.point_colours, self.point_limits = colours.astype(np.float32), None
        else:
            values = point_values(scene, self._colour_mode, self._current_centre_position())
            self.point_limits = finite_range(values)
            table = COLOUR_MAPS[self._colour_mode]
            self.point_colours = map_colours(values, table, self.point_limits)
        self._points.set_data(
            scene.points.astype(np.float32),
            face_color=self.point_colours,
            edge_width=0.0,
            size=POINT_SIZE_PX,
        )
        self._set_node(self._points, True, "points")
        self._update_legends()

    def _current_centre_position(self) -> np.ndarray | None:
        """(3,) the current frame's camera centre (the last frame's when none is current)."""
        if self._scene is None or not len(self._scene):
            return None
        position = len(self._scene) - 1 if self._current is None else self._current
        return camera_centres(self._scene.poses[position : position + 1])[0]

    def _draw_current(self) -> None:
        scene, position = self._scene, self._current
        shown = scene is not None and position is not None and 0 <= position < len(scene)
        if shown:
            pose = scene.poses[position : position + 1]
            depth = CURRENT_SCALE * self._frustum_depth
            segments = frustum_segments(pose, scene.K, scene.image_size, depth)
            assert len(segments) == FRUSTUM_VERTICES
            self._current_frustum.set_data(segments, connect="segments")
            self._current_centre.set_data(
                camera_centres(pose).astype(np.float32),
                face_color=CURRENT_RGBA,
                edge_width=0.0,
                size=CURRENT_CENTRE_PX,
            )
        self._set_node(self._current_frustum, shown, None)
        self._set_node(self._current_centre, shown, None)

    def _draw_highlight(self) -> None:
        scene, index = self._scene, self._highlighted
        shown = scene is not None and index is not None and 0 <= index < len(scene.points)
        if shown:
            self._highlight.set_data(
                scene.points[index : index + 1].astype(np.float32),
                face_color=(0, 0, 0, 0),
                edge_color=HIGHLIGHT_RGBA,
                edge_width=2.0,
                size=HIGHLIGHT_SIZE_PX,
            )
        self._set_node(self._highlight, shown, "points")

    def _fit_camera(self) -> None:
        """Centre the camera on the path and the bulk of the points, at a distance that shows
        them whole."""
        scene = self._scene
        parts = [camera_centres(scene.poses)]
        if len(scene.points) > 10:
            parts.append(np.percentile(scene.points, [5, 95], axis=0))
        corners = np.vstack(parts)
        corners = corners[np.all(np.isfinite(corners), axis=1)]
        low, high = corners.min(axis=0), corners.max(axis=0)
        pad = 0.05 * max(float((high - low).max()), 1e-6)
        low, high = low - pad, high + pad
        camera = self.view.camera
        camera.set_range(x=(low[0], high[0]), y=(low[1], high[1]), z=(low[2], high[2]))
        camera.scale_factor *= FIT_ZOOM

    def _update_legends(self) -> None:
        shown = self._colour_mode != "image" and self._layer_visible["points"]
        self._set_legend(
            self.points_bar, self.points_legend, self._colour_mode, self.point_limits, shown
        )
        truth_shown = self._layer_visible["truth"] and self._has_data.get(self._truth, False)
        self._set_legend(
            self.truth_bar, self.truth_legend, "truth", self._truth_limits, truth_shown
        )

    @staticmethod
    def _set_legend(bar: QLabel, label: QLabel, name: str, limits, shown: bool) -> None:
        bar.setVisible(shown)
        label.setVisible(shown)
        if not shown:
            return
        title = "truth error" if name == "truth" else name
        if limits is None:
            label.setText(f"{title}: none known")
        else:
            unit = f" {UNITS[name]}" if UNITS[name] else ""
            label.setText(f"{title} {limits[0]:.3g} – {limits[1]:.3g}{unit}")
        bar.setPixmap(_gradient_pixmap(COLOUR_MAPS[name]))

    # -- picking -------------------------------------------------------------------------

    def _one_pixel(self, positions: np.ndarray) -> tuple[float, float] | None:
        pixels = project_to_canvas(self._points.get_transform("visual", "canvas"), positions)
        x, y = pixels[0]
        return None if not np.isfinite(x + y) else (float(x), float(y))

    def _on_mouse_press(self, event) -> None:
        self._press_pos, self._dragged = (float(event.pos[0]), float(event.pos[1])), False

    def _moved_from_press(self, event) -> bool:
        x, y = self._press_pos
        return bool(np.hypot(event.pos[0] - x, event.pos[1] - y) > DRAG_PX)

    def _on_mouse_move(self, event) -> None:
        if self._press_pos is not None and self._moved_from_press(event):
            self._dragged = True

    def _on_mouse_release(self, event) -> None:
        if self._press_pos is None:
            return
        dragged = self._dragged or self._moved_from_press(event)
        self._press_pos = None
        if dragged or event.button != 1 or self._scene is None:
            return
        click = (float(event.pos[0]), float(event.pos[1]))
        frame, point = self.pick(click)
        if frame is not None:
            self.frame_clicked.emit(frame)
        elif point is not None:
            self.point_clicked.emit(point)

    def pick(self, click: tuple[float, float]) -> tuple[int | None, int | None]:
        """What a click at ``click`` (canvas pixels) hits: (frame position, None) for the
        nearest camera shown (a frustum's centre, the current camera, or a path vertex)
        within `PICK_RADIUS_PX`, else (None, map point index) for the nearest map point shown
        within it, else (None, None)."""
        scene = self._scene
        transform = self._points.get_transform("visual", "canvas")
        frames = np.zeros(0, np.int64)
        if self._trajectory.visible:
            frames = np.arange(len(scene))
        elif self._frusta.visible:
            frames = np.flatnonzero(scene.keyframe)
        if self._current_frustum.visible:
            frames = np.union1d(frames, [self._current])
        if len(frames):
            pixels = project_to_canvas(transform, camera_centres(scene.poses[frames]))
            hit = nearest_within(pixels, click, PICK_RADIUS_PX)
            if hit is not None:
                return int(frames[hit]), None
        if self._points.visible:
            hit = nearest_within(project_to_canvas(transform, scene.points), click, PICK_RADIUS_PX)
            if hit is not None:
                return None, hit
        return None, None


def _gradient_pixmap(table: np.ndarray, width: int = 80, height: int = 12) -> QPixmap:
    """A horizontal colour bar of the colour ``table`` (LUT_SIZE, 4), low on the left."""
    rgba = (table[np.linspace(0, len(table) - 1, width).round().astype(int)] * 255).astype(np.uint8)
    rows = np.ascontiguousarray(np.repeat(rgba[None, :, :3], height, axis=0))
    image = QImage(rows.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image)
