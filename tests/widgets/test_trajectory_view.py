"""`TrajectoryView`: picking a past camera or a map point with a real click, layers, colour
modes, the current camera and follow, PNG export, a growing scene. OpenGL: run under xvfb by
`test_opengl_views.py` (see `tests.widgets.opengl`)."""

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.widgets.opengl import SKIP_REASON, has_opengl
from tests.widgets.vo_scenes import circle_scene, grown

pytestmark = pytest.mark.xvfb
if not has_opengl:
    pytest.skip(SKIP_REASON, allow_module_level=True)

CANVAS_SIZE = (640, 480)


@pytest.fixture
def view(qtbot):
    from widgets.trajectory_view import TrajectoryView

    widget = TrajectoryView()
    qtbot.addWidget(widget)
    widget.canvas_widget.setFixedSize(*CANVAS_SIZE)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_scene(circle_scene())
    qtbot.wait(50)
    return widget


def click(qtbot, widget, pixel):
    qtbot.mouseClick(
        widget, Qt.MouseButton.LeftButton, pos=QPoint(round(pixel[0]), round(pixel[1]))
    )


def free_point(view) -> int:
    """A map point on screen that no camera is within 20 px of."""
    frames = np.array([view.screen_position_of_frame(i) for i in range(len(view.scene))])
    for index in range(len(view.scene.points)):
        pixel = np.array(view.screen_position_of_point(index))
        inside = (pixel > 10).all() and (pixel < np.array(CANVAS_SIZE) - 10).all()
        if inside and np.hypot(*(frames - pixel).T).min() > 20:
            return index
    raise AssertionError("every point is near a camera")


def test_clicking_a_past_camera_emits_its_frame(view, qtbot):
    pixel = view.screen_position_of_frame(12)
    assert 0 < pixel[0] < CANVAS_SIZE[0] and 0 < pixel[1] < CANVAS_SIZE[1]
    with qtbot.waitSignal(view.frame_clicked, timeout=1000) as signal:
        click(qtbot, view.canvas_widget, pixel)
    assert signal.args == [12]
    # a keyframe's frustum with the path hidden still picks
    view.set_layer_visible("trajectory", False)
    with qtbot.waitSignal(view.frame_clicked, timeout=1000) as signal:
        click(qtbot, view.canvas_widget, view.screen_position_of_frame(9))
    assert signal.args == [9]


def test_clicking_a_map_point_emits_its_index(view, qtbot):
    index = free_point(view)
    frames, points = [], []
    view.frame_clicked.connect(frames.append)
    view.point_clicked.connect(points.append)
    click(qtbot, view.canvas_widget, view.screen_position_of_point(index))
    assert points == [index] and frames == []
    view.set_layer_visible("points", False)  # a hidden point is not picked
    click(qtbot, view.canvas_widget, view.screen_position_of_point(index))
    assert points == [index] and frames == []


def drag(widget, *pixels):
    """A left-button drag: a press at the first of ``pixels``, a move to each of the others,
    a release at the last; sent straight to ``widget`` (QTest's queued moves get merged), 15 ms
    apart (vispy drops a move within 10 ms of the one before)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    steps = [(QEvent.Type.MouseButtonPress, left, left, pixels[0])]
    steps += [(QEvent.Type.MouseMove, none, left, pixel) for pixel in pixels[1:]]
    steps += [(QEvent.Type.MouseButtonRelease, left, none, pixels[-1])]
    for kind, button, held, pixel in steps:
        local = QPointF(*pixel)
        event = QMouseEvent(kind, local, widget.mapToGlobal(local), button, held, Qt.NoModifier)
        QApplication.sendEvent(widget, event)
        time.sleep(0.015)


def test_a_drag_emits_nothing(view, qtbot):
    emitted = []
    view.frame_clicked.connect(emitted.append)
    view.point_clicked.connect(emitted.append)
    start = view.screen_position_of_frame(12)
    end = (start[0] + 40, start[1] + 10)
    canvas, azimuth = view.canvas_widget, view.view.camera.azimuth
    drag(canvas, start, end)  # a press on a camera released away from it
    drag(canvas, (start[0] + 100, start[1]), start)  # and one released on a camera
    assert emitted == []
    assert view.view.camera.azimuth != azimuth  # the drags turned the camera
    start = view.screen_position_of_frame(12)
    drag(canvas, start, (start[0] + 40, start[1]), start)  # a drag back to where it began
    assert emitted == []
    click(qtbot, canvas, view.screen_position_of_frame(12))  # while a click picks
    assert emitted == [12]


def test_layer_check_boxes_hide_and_show_visuals(view):
    for layer, node in [("trajectory", view._trajectory), ("frusta", view._frusta),
                        ("points", view._points), ("truth", view._truth)]:  # fmt: skip
        assert node.visible
        view.layer_boxes[layer].click()
        assert not node.visible and not view.layer_visible(layer)
        view.layer_boxes[layer].click()
        assert node.visible


def test_colour_modes_colour_the_points(view):
    scene = view.scene
    image = view.point_colours.copy()
    np.testing.assert_allclose(image[:, :3], scene.colours / 255.0, atol=1e-6)
    seen = {"image": image}
    for mode in ("depth", "uncertainty", "observations"):
        view.colour_combo.setCurrentText(mode)
        assert view.colour_mode == mode and view.point_limits is not None
        seen[mode] = view.point_colours.copy()
        assert view.points_legend.text().startswith(mode)
    for a in seen:
        for b in seen:
            assert a == b or not np.allclose(seen[a], seen[b]), (a, b)
    # observations: more keyframes, another colour; the range is the counts'
    view.set_colour_mode("observations")
    counts = scene.observation_counts
    assert view.point_limits == (counts.min(), counts.max())
    colours = view.point_colours
    assert not np.allclose(colours[counts == counts.min()][0], colours[counts == counts.max()][0])
    # depth follows the current camera
    view.set_colour_mode("depth")
    view.set_current(0)
    at_0 = view.point_colours.copy()
    view.set_current(15)
    assert not np.allclose(at_0, view.point_colours)
    assert "truth error" in view.truth_legend.text() and view.truth_legend.text().endswith(" m")


def test_set_current_moves_the_highlight_and_follow_moves_the_camera(view):
    view.set_current(5)
    first = view._current_frustum._pos.copy()
    np.testing.assert_allclose(first[0], view.scene.poses[5][:3, 3], atol=1e-5)
    camera_centre = tuple(view.view.camera.center)
    view.set_current(20)
    np.testing.assert_allclose(
        view._current_frustum._pos[0], view.scene.poses[20][:3, 3], atol=1e-5
    )
    assert tuple(view.view.camera.center) == camera_centre  # follow off: the camera stays
    view.follow_box.click()
    np.testing.assert_allclose(view.view.camera.center, view.scene.poses[20][:3, 3], atol=1e-6)
    view.set_current(25)
    np.testing.assert_allclose(view.view.camera.center, view.scene.poses[25][:3, 3], atol=1e-6)


def test_highlighted_point(view):
    assert not view._highlight.visible
    view.set_highlighted_point(7)
    assert view._highlight.visible
    np.testing.assert_allclose(
        view._highlight._data["a_position"][0], view.scene.points[7], atol=1e-6
    )
    view.set_highlighted_point(None)
    assert not view._highlight.visible


def test_export_png_writes_the_canvas(view, tmp_path):
    path = tmp_path / "trajectory.png"
    view.export_png(path)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[:2] == (CANVAS_SIZE[1], CANVAS_SIZE[0])
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20


def test_update_scene_keeps_the_camera_and_set_scene_refits(view):
    full = view.scene
    view.set_scene(grown(full, 10))
    camera = view.view.camera
    camera.azimuth, camera.elevation, camera.center = 70.0, 10.0, (1.0, 2.0, 3.0)
    view.update_scene(full)
    assert (camera.azimuth, camera.elevation, tuple(camera.center)) == (70.0, 10.0, (1.0, 2.0, 3.0))
    assert len(view._trajectory._pos) == len(full)  # the new frames are drawn
    view.set_scene(full)
    assert tuple(camera.center) != (1.0, 2.0, 3.0)


def test_screen_positions_are_where_the_canvas_draws(view):
    """The projection used for picking matches the rendered picture: the current camera's
    red centre is drawn at `screen_position_of_frame`, the highlighted point's ring around
    `screen_position_of_point`."""
    for layer in view.LAYERS:
        view.set_layer_visible(layer, False)
    view.set_current(12)
    image = view.canvas.render(alpha=False).astype(int)
    x, y = map(round, view.screen_position_of_frame(12))
    red = (image[..., 0] > 200) & (image[..., 1] < 120)
    assert red[y - 2 : y + 3, x - 2 : x + 3].all()
    assert red.sum() < 0.05 * red.size  # only the highlight is drawn
    view.set_current(None)
    view.set_layer_visible("points", True)
    index = free_point(view)
    view.set_colour_mode("depth")
    view.set_highlighted_point(index)
    image = view.canvas.render(alpha=False).astype(int)
    x, y = map(round, view.screen_position_of_point(index))
    white = (image > 200).all(axis=2)
    ring = white[y - 9 : y + 10, x - 9 : x + 10]
    assert ring[:, :9].any() and ring[:, 10:].any() and ring[:9].any() and ring[10:].any()


def test_no_scene_and_tiny_scenes_draw_nothing_to_pick(view, qtbot):
    emitted = []
    view.frame_clicked.connect(emitted.append)
    view.point_clicked.connect(emitted.append)
    pixel = view.screen_position_of_frame(12)
    view.set_scene(None)
    assert view.screen_position_of_frame(0) is None
    assert not any(node.visible for node in view._has_data)
    click(qtbot, view.canvas_widget, pixel)
    one = grown(circle_scene(points=0), 1)  # one frame, no points, no truth to draw
    view.set_scene(one)
    view.set_current(0)
    view.set_colour_mode("depth")
    assert not view._points.visible and not view._truth.visible
    assert not view.layer_boxes["truth"].isEnabled()
    view.canvas.render()  # draws without errors
    assert emitted == []
