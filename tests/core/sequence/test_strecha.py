"""The Strecha MVS reader on a scene written here and on ../shared/data's fountain-P11, and
``--max-size`` (frames and intrinsics scaled together)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import InputError, MatchscopeError
from core.sequence import open_sequence
from core.sequence.base import Intrinsics
from core.sequence.resize import resize_frames, scaled_intrinsics, scaled_size
from core.sequence.strecha import StrechaReader
from core.vo.backend import project
from core.vo.synthetic import SyntheticSequence

K = np.array([[800.0, 0, 47.5], [0, 810, 31.5], [0, 0, 1]])


def camera_text(R: np.ndarray, C, K=K, size=(96, 64)) -> str:
    rows = [K, np.zeros((1, 3)), R, np.asarray(C, float)[None]]
    return "\n".join(" ".join(f"{v:.9g}" for v in row) for m in rows for row in m) + (
        f"\n{size[0]} {size[1]}\n"
    )


def write_scene(folder, count=3):
    (folder / "images").mkdir(parents=True)
    (folder / "gt_dense_cameras").mkdir()
    for i in range(count):
        name = f"{i:04d}.jpg"
        cv2.imwrite(str(folder / "images" / name), np.full((64, 96, 3), 40 * i, np.uint8))
        R = cv2.Rodrigues(np.array([0.0, 0.2 * i, 0.0]))[0]
        (folder / "gt_dense_cameras" / f"{name}.camera").write_text(camera_text(R, [i, 0, 0]))
    return folder


def test_scene_frames_poses_and_intrinsics(tmp_path):
    reader = open_sequence(write_scene(tmp_path / "scene"))
    assert isinstance(reader, StrechaReader) and len(reader) == 3
    assert [f.frame_id for f in reader.frames] == [0, 1, 2]
    np.testing.assert_allclose(reader.intrinsics.K, K)
    assert reader.intrinsics.size_hw == (64, 96)
    expected = np.eye(4)
    expected[:3, :3] = cv2.Rodrigues(np.array([0.0, 0.4, 0.0]))[0]
    expected[:3, 3] = [2, 0, 0]
    np.testing.assert_allclose(reader.poses[2], expected, atol=1e-8)
    assert reader.read(1).shape == (64, 96, 3)


def test_broken_scenes_are_refused_naming_the_file(tmp_path):
    scene = write_scene(tmp_path / "missing")
    (scene / "gt_dense_cameras" / "0001.jpg.camera").unlink()
    with pytest.raises(InputError, match=r"0001\.jpg\.camera: no camera file for 0001\.jpg"):
        open_sequence(scene)
    scene = write_scene(tmp_path / "short")
    (scene / "gt_dense_cameras" / "0002.jpg.camera").write_text("1 2 3")
    with pytest.raises(InputError, match="3 numbers, expected 26"):
        open_sequence(scene)
    scene = write_scene(tmp_path / "words")
    (scene / "gt_dense_cameras" / "0000.jpg.camera").write_text("one " * 26)
    with pytest.raises(InputError, match="not a number"):
        open_sequence(scene)
    scene = write_scene(tmp_path / "two_cameras")
    other = K * [[1.1], [1], [1]]
    text = camera_text(np.eye(3), [0, 0, 0], other)
    (scene / "gt_dense_cameras" / "0002.jpg.camera").write_text(text)
    with pytest.raises(InputError, match="one camera per scene"):
        open_sequence(scene)


def test_fountain_poses_agree_with_its_pair_file(shared_data):
    """The camera-to-world reading ``[R | C]`` gives the relative poses that the folder's
    ``pairs_with_gt.txt`` lists (SuperGlue's T_0to1, made independently)."""
    folder = shared_data / "strecha_mvs" / "fountain-P11"
    reader = open_sequence(folder)
    assert len(reader) == 11 and reader.intrinsics.size_hw == (2048, 3072)
    index = {f"images/{f.path.rsplit('/', 1)[-1]}": f.position for f in reader.frames}
    lines = (folder / "pairs_with_gt.txt").read_text().split("\n")
    checked = 0
    for line in filter(None, lines):
        fields = line.split()
        T_0to1 = np.array(fields[-16:], float).reshape(4, 4)
        a, b = index[fields[0]], index[fields[1]]
        ours = np.linalg.inv(reader.poses[b]) @ reader.poses[a]
        np.testing.assert_allclose(ours[:3, :3], T_0to1[:3, :3], atol=1e-5)
        np.testing.assert_allclose(ours[:3, 3], T_0to1[:3, 3], atol=1e-4)
        checked += 1
    assert checked == 27


def test_scaled_intrinsics_project_where_the_resized_image_shows_a_point():
    """A point seen at pixel (u, v) of a W x H image lies at ((u + 0.5) s - 0.5, ...) of the
    image resized by s: the scaled K projects it there."""
    intrinsics = Intrinsics(K, (64, 96))
    new_hw = scaled_size((64, 96), 48)
    assert new_hw == (32, 48)
    scaled = scaled_intrinsics(intrinsics, (64, 96), new_hw)
    points = np.array([[0.1, -0.05, 2.0], [-0.3, 0.2, 5.0]])
    pixels, _ = project(K, np.eye(4), points)
    pixels_scaled, _ = project(scaled.K, np.eye(4), points)
    np.testing.assert_allclose(pixels_scaled, (pixels + 0.5) * 0.5 - 0.5)
    assert scaled.size_hw == (32, 48)


def test_max_size_scales_frames_and_intrinsics_together():
    room = SyntheticSequence(4, (120, 160), 0)
    assert resize_frames(room, None) is room and resize_frames(room, 200) is room
    small = resize_frames(room, 80)
    assert small.read(2).shape == (60, 80, 3) and len(small) == 4
    np.testing.assert_allclose(small.intrinsics.K[0, 0], room.intrinsics.K[0, 0] / 2)
    np.testing.assert_allclose(small.poses, room.poses)
    expected = cv2.resize(room.read(2), (80, 60), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(small.read(2), expected)
    with pytest.raises(MatchscopeError, match="at least 16"):
        resize_frames(room, 8)


def test_a_frame_of_another_size_is_an_input_error(tmp_path):
    scene = write_scene(tmp_path / "scene")
    cv2.imwrite(str(scene / "images" / "0001.jpg"), np.zeros((32, 48, 3), np.uint8))
    reader = open_sequence(scene, max_size=48)
    assert reader.read(0).shape == (32, 48, 3)
    with pytest.raises(InputError, match="frame 1 is 48 x 32, the sequence's 96 x 64"):
        reader.read(1)
