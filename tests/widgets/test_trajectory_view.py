"""`TrajectoryView`: picking a past camera or a map point with a real click, layers, colour
modes, the current camera and follow, PNG export, a growing scene. OpenGL: run under xvfb by
`test_opengl_views.py` (see `tests.widgets.opengl`)."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from core.vo.scene import VoScene
from tests.widgets.opengl import SKIP_REASON, has_opengl

pytestmark = pytest.mark.xvfb
if not has_opengl:
    pytest.skip(SKIP_REASON, allow_module_level=True)

CANVAS_SIZE = (640, 480)


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) camera-to-world at ``centre`` looking at ``target`` (x right, y down, z ahead;
    the world's -y up)."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = centre
    return pose


def circle_scene(frames: int = 30, points: int = 200, seed: int = 0) -> VoScene:
    """``frames`` cameras on a circle of radius 5 (in x-z) looking at its centre, every third
    a keyframe, ``points`` map points in a ball of radius 1.5 at the centre, a ground truth a
    little off with known errors."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 1.6 * np.pi, frames)
    centres = np.stack([5 * np.cos(angles), 0.3 * np.sin(3 * angles), 5 * np.sin(angles)], 1)
    poses = np.stack([look_at(c, np.zeros(3)) for c in centres])
    truth = poses.copy()
    truth[:, :3, 3] += rng.normal(0, 0.1, (frames, 3))
    truth[3] = np.nan  # one unknown pose
    error = np.linalg.norm(truth[:, :3, 3] - poses[:, :3, 3], axis=1)
    ball = rng.normal(0, 1, (points, 3))
    ball *= 1.5 * rng.uniform(0, 1, (points, 1)) ** (1 / 3) / np.linalg.norm(ball, axis=1)[:, None]
    keyframes = np.arange(frames) % 3 == 0
    observed = np.flatnonzero(keyframes)
    observations = np.array(
        [(p, k) for p in range(points) for k in observed[: 2 + p % 5]], np.int64
    ).reshape(-1, 2)
    return VoScene(
        name="circle", frontend="test",
        K=np.array([[300.0, 0, 320], [0, 300, 240], [0, 0, 1]]), image_size=(640, 480),
        poses=poses, tracked=np.ones(frames, bool), keyframe=keyframes,
        keypoint_offsets=np.zeros(frames + 1, np.int64),
        keypoints=np.zeros((0, 2), np.float32), keypoint_status=np.zeros(0, np.int8),
        points=ball, colours=rng.integers(0, 256, (points, 3), dtype=np.uint8),
        point_ids=np.arange(points), point_sigma_px=rng.uniform(0.5, 3.0, points),
        observations=observations, observation_pixels=np.zeros((len(observations), 2)),
        stats={}, truth=truth, pose_error_m=error,
    )  # fmt: skip


def grown(scene: VoScene, frames: int) -> VoScene:
    """The first ``frames`` frames of ``scene`` (its points all kept)."""
    cut = dict(scene.__dict__)
    for name in ("poses", "tracked", "keyframe", "truth", "pose_error_m"):
        cut[name] = getattr(scene, name)[:frames]
    cut["keypoint_offsets"] = scene.keypoint_offsets[: frames + 1]
    return VoScene(**cut)


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


def test_a_drag_emits_nothing(view, qtbot):
    emitted = []
    view.frame_clicked.connect(emitted.append)
    view.point_clicked.connect(emitted.append)
    start = view.screen_position_of_frame(12)
    canvas = view.canvas_widget
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(*map(round, start)))
    end = QPoint(round(start[0]) + 40, round(start[1]) + 10)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    # and a press far from everything, released on a camera
    assert emitted == []


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
