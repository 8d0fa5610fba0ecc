"""The VO's outputs beyond trajectories: the scene's 3D geometry, map.ply (Open3D), the offscreen
3D figure, Open3D's window (its launcher) and the Rerun recording, on a short synthetic run."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from core.errors import InputError, MatchscopeError
from core.vo.geometry3d import (
    frustum_lines,
    open3d_geometries,
    read_map_ply,
    scene_geometry,
    write_map_ply,
)
from core.vo.scene import KEYPOINT_INLIER, save_scene

K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def run_scene(tmp_path_factory):
    """A 16-frame synthetic room run with ORB: its KITTI folder, reader and scene."""
    from core.sequence import open_sequence
    from core.vo.run import run_vo
    from core.vo.scene import scene_from_run
    from core.vo.synthetic import SyntheticSequence, write_kitti_layout

    folder = write_kitti_layout(
        tmp_path_factory.mktemp("room") / "room", SyntheticSequence(16, (240, 320))
    )
    reader = open_sequence(str(folder))
    scene = scene_from_run(run_vo(reader, "orb"), reader)
    assert scene.tracked.all() and scene.keyframe.sum() >= 2 and len(scene.points) > 100
    return folder, reader, scene


def test_frusta_reach_the_image_corners_at_their_depth():
    pose = np.eye(4)
    pose[:3, 3] = (1.0, 2.0, 3.0)
    vertices, edges = frustum_lines(K, (100, 80), np.stack([np.eye(4), pose]), depth=2.0)
    assert vertices.shape == (10, 3) and edges.shape == (16, 2)
    assert np.allclose(vertices[0], 0) and np.allclose(vertices[5], (1, 2, 3))
    # the top-left corner (0, 0) at depth 2: x = (0 - 50) / 100 * 2, y = (0 - 40) / 100 * 2
    assert np.allclose(vertices[1], (-1.0, -0.8, 2.0))
    assert np.allclose(vertices[8] - vertices[5], (1.0, 0.8, 2.0))  # bottom right
    assert edges.min() == 0 and edges.max() == 9 and set(edges[8:].ravel()) == set(range(5, 10))


def test_scene_geometry_and_its_open3d_geometries(run_scene):
    _, _, scene = run_scene
    geometry = scene_geometry(scene)
    keyframes = int(scene.keyframe.sum())
    assert geometry.trajectory.shape == (len(scene), 3)
    assert len(geometry.frustum_edges) == 8 * keyframes
    assert geometry.truth is not None and len(geometry.truth) == len(scene)
    assert geometry.up @ -scene.poses[0, :3, 1] > 0.9  # the room's cameras stay upright
    items = open3d_geometries(geometry)
    assert set(items) == {"map", "trajectory", "frusta", "truth"}
    assert np.allclose(np.asarray(items["map"].colors), scene.colours / 255.0)
    assert np.allclose(np.asarray(items["map"].points), scene.points)
    assert len(items["trajectory"].lines) == len(scene) - 1
    assert len(items["frusta"].lines) == 8 * keyframes
    assert not scene_geometry(dataclasses.replace(scene, truth=None)).truth


def test_map_ply_keeps_colours_and_observation_counts(run_scene, tmp_path):
    _, _, scene = run_scene
    path = tmp_path / "map.ply"
    write_map_ply(path, scene)
    assert b"property int observations" in path.read_bytes()[:400]
    points, colours, counts = read_map_ply(path)
    assert np.array_equal(points, scene.points) and np.array_equal(colours, scene.colours)
    assert np.array_equal(counts, scene.observation_counts) and counts.min() >= 2
    empty = dataclasses.replace(
        scene, points=np.zeros((0, 3)), colours=np.zeros((0, 3), np.uint8),
        observations=np.zeros((0, 2), np.int64),
    )  # fmt: skip
    write_map_ply(tmp_path / "empty.ply", empty)
    assert [len(a) for a in read_map_ply(tmp_path / "empty.ply")] == [0, 0, 0]


def test_the_3d_figure_renders_offscreen_or_fails_in_one_line(run_scene, tmp_path):
    from PIL import Image

    from core.vo.figure3d import render_scene_png

    _, _, scene = run_scene
    path = tmp_path / "figures" / "scene.png"
    render_scene_png(scene, path, 200, 150)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape == (150, 200, 3)
    blue = (image[..., 2] > 150) & (image[..., 0] < 80)  # the trajectory's colour
    orange = (image[..., 0] > 200) & (image[..., 2] < 60)  # the frusta's colour
    assert blue.sum() > 50 and orange.sum() > 20
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a scene")
    with pytest.raises(MatchscopeError, match=r"could not be rendered.*not a readable VO scene"):
        render_scene_png(broken, tmp_path / "no.png", 64, 48)
    assert not (tmp_path / "no.png").exists()


def test_the_figure_camera_looks_down_on_the_whole_path(run_scene):
    from core.vo.figure3d import parse_size, view_camera

    _, _, scene = run_scene
    geometry = scene_geometry(scene)
    centre, eye, up = view_camera(geometry)
    direction = (eye - centre) / np.linalg.norm(eye - centre)
    assert direction @ geometry.up > 0.7  # from above
    assert abs(up @ direction) < 1e-9 and np.isclose(np.linalg.norm(up), 1)
    radius = np.linalg.norm(geometry.trajectory - centre, axis=1).max()
    assert np.linalg.norm(eye - centre) > radius
    assert parse_size("640x480") == (640, 480)
    for text in ("640", "8x8", "ax3"):
        with pytest.raises(ValueError):
            parse_size(text)


def test_the_open3d_viewer_is_launched_as_its_own_process(run_scene, tmp_path):
    from core.vo.open3d_view import launch_open3d_viewer, viewer_command

    _, _, scene = run_scene
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_scene(run_dir / "scene.npz", scene)
    fake = tmp_path / "fake_python.py"  # records its argv instead of opening a window
    fake.write_text(
        f"#!{sys.executable}\nimport sys, pathlib\n"
        f"pathlib.Path({str(tmp_path / 'argv.txt')!r}).write_text('\\n'.join(sys.argv[1:]))\n"
    )
    fake.chmod(0o755)
    process = launch_open3d_viewer(run_dir, python=str(fake))
    assert process.wait(timeout=30) == 0
    argv = (tmp_path / "argv.txt").read_text().splitlines()
    assert argv == ["-m", "core.vo.open3d_view", str(run_dir.resolve())]
    assert viewer_command(run_dir, "py")[1:] == argv
    with pytest.raises(InputError, match="no VO scene"):
        launch_open3d_viewer(tmp_path / "nothing", python=str(fake))


def test_the_rerun_recording_holds_the_run(run_scene, tmp_path):
    from rerun.chunk import RrdReader

    from core.vo.rerun_log import log_scene

    _, reader, scene = run_scene
    with_images, without = tmp_path / "a" / "run.rrd", tmp_path / "b.rrd"
    log_scene(scene, with_images, reader.read, image_width=160)
    log_scene(scene, without)
    assert with_images.stat().st_size > without.stat().st_size > 10_000
    rows: dict[str, int] = {}
    inliers_seen = 0
    for chunk in RrdReader(with_images).stream():
        rows[chunk.entity_path] = rows.get(chunk.entity_path, 0) + chunk.num_rows
        if chunk.entity_path == "/world/camera/image/keypoints":
            batch = chunk.to_record_batch()
            for frame, colours in zip(
                batch.column("frame").to_pylist(),
                batch.column("Points2D:colors").to_pylist(),
                strict=True,
            ):  # each keypoint in its status's colour (RGBA packed as 0xRRGGBBAA)
                status = scene.frame_keypoints(frame)[1]
                assert len(colours) == len(status)
                green = np.array(colours) == (40 << 24 | 200 << 16 | 60 << 8 | 255)
                assert np.array_equal(green, status == KEYPOINT_INLIER)
                inliers_seen += int(green.sum())
    frames = int(scene.tracked.sum())
    for entity in ("/world/trajectory", "/world/truth", "/world/map"):
        assert rows[entity] == 1  # static
    for entity in ("/world/camera", "/world/camera/image/keypoints", "/stats/inliers"):
        assert rows[entity] == frames
    assert rows["/world/camera/image"] == frames + 1  # the pinhole, then a picture per frame
    assert inliers_seen == (scene.keypoint_status == KEYPOINT_INLIER).sum() > 0
