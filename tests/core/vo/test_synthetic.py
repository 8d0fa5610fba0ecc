"""The synthetic room sequence: its camera path, the consistency of its poses, intrinsics and
images, and its export as a KITTI odometry folder."""

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.sequence import open_sequence
from core.vo.synthetic import SyntheticSequence, camera_path, write_kitti_layout

ROOM_MIN = np.array([-2.4, -2.7, -1.0])
ROOM_MAX = np.array([3.6, 1.3, 6.0])


def test_path_stays_inside_the_room_at_eye_height():
    for seed in (0, 1, 2):
        centres = camera_path(200, seed)[:, :3, 3]
        assert np.all(centres >= ROOM_MIN + 0.5) and np.all(centres <= ROOM_MAX - 0.5)
        assert np.all((centres[:, 1] >= -0.2) & (centres[:, 1] <= 0.3))


def test_path_turns_smoothly_and_changes_speed():
    poses = camera_path(200, seed=0)
    assert poses.shape == (200, 4, 4)
    np.testing.assert_allclose(poses[:, 3], np.tile([0.0, 0, 0, 1], (200, 1)))
    rotations = poses[:, :3, :3]
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1), np.tile(np.eye(3), (200, 1, 1)), atol=1e-12
    )
    forward = rotations[:, :, 2]  # the optical axis in the world
    yaw = np.degrees(np.unwrap(np.arctan2(forward[:, 0], forward[:, 2])))
    assert np.ptp(yaw) > 90.0
    assert np.all(
        (forward[:, 1] > np.sin(np.radians(3))) & (forward[:, 1] < np.sin(np.radians(12)))
    )
    relative = Rotation.from_matrix(rotations[:-1].transpose(0, 2, 1) @ rotations[1:])
    assert np.degrees(relative.magnitude()).max() <= 3.0
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert steps.max() / steps.min() >= 2.0
    assert 0.015 <= steps.min() and steps.max() <= 0.085


def test_path_is_deterministic_per_seed():
    np.testing.assert_array_equal(camera_path(50, seed=3), camera_path(50, seed=3))
    assert not np.allclose(camera_path(50, seed=3), camera_path(50, seed=4))
    a, b = SyntheticSequence(5, (60, 80), seed=1), SyntheticSequence(5, (60, 80), seed=1)
    np.testing.assert_array_equal(a.read(2), b.read(2))


def test_frames_and_intrinsics():
    sequence = SyntheticSequence(60, (120, 160), seed=0)
    assert sequence.name == "synthetic room" and len(sequence) == 60
    assert [f.position for f in sequence.frames] == list(range(60))
    assert sequence.frames[7].frame_id == 7 and sequence.frames[7].timestamp == pytest.approx(0.7)
    K = sequence.intrinsics.K
    np.testing.assert_allclose(K, [[128.0, 0, 79.5], [0, 128.0, 59.5], [0, 0, 1]])
    assert sequence.intrinsics.size_hw == (120, 160)
    np.testing.assert_array_equal(sequence.intrinsics.distortion, np.zeros(5))
    np.testing.assert_array_equal(sequence.poses, camera_path(60, 0))
    image, depth = sequence.read(3), sequence.depth(3)
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8 and image.std() > 20
    assert depth.shape == (120, 160) and depth.dtype == np.float64
    assert np.all(np.isfinite(depth)) and depth.min() > 0.3


def test_out_of_range_read_raises():
    sequence = SyntheticSequence(4, (30, 40))
    for position in (-1, 4):
        with pytest.raises(IndexError):
            sequence.read(position)
        with pytest.raises(IndexError):
            sequence.depth(position)


def test_poses_intrinsics_and_images_agree():
    """Pixels of frame t, back-projected with K and depth and moved by the ground-truth poses,
    land on the same colours in frame t + 1."""
    sequence = SyntheticSequence(60, (120, 160), seed=0)
    K = sequence.intrinsics.K
    for t in (0, 25, 50):
        grey_a = cv2.cvtColor(sequence.read(t), cv2.COLOR_RGB2GRAY).astype(np.float32)
        grey_b = cv2.cvtColor(sequence.read(t + 1), cv2.COLOR_RGB2GRAY).astype(np.float32)
        depth_a, depth_b = sequence.depth(t), sequence.depth(t + 1)
        ys, xs = np.mgrid[0:120, 0:160]
        pixels = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=1)
        points_a = depth_a.reshape(-1, 1) * (pixels @ np.linalg.inv(K).T)
        a_to_b = np.linalg.inv(sequence.poses[t + 1]) @ sequence.poses[t]
        points_b = points_a @ a_to_b[:3, :3].T + a_to_b[:3, 3]
        projected = points_b @ K.T
        x, y = (projected[:, :2] / projected[:, 2:]).T.astype(np.float32)
        inside = (x >= 0) & (x <= 159) & (y >= 0) & (y <= 119)
        assert inside.mean() > 0.8  # consecutive frames overlap strongly
        x, y = x[inside], y[inside]
        sampled_depth = cv2.remap(depth_b.astype(np.float32), x, y, cv2.INTER_LINEAR).ravel()
        visible = np.abs(sampled_depth / points_b[inside, 2] - 1.0) < 0.01
        assert visible.mean() > 0.8
        sampled = cv2.remap(grey_b, x, y, cv2.INTER_LINEAR).ravel()
        difference = np.abs(sampled - grey_a.ravel()[inside])[visible]
        assert np.median(difference) < 2.0  # grey levels
        # The check can fail: with frame t + 1's camera turned by 1 degree more it does.
        turned = np.eye(4)
        turned[:3, :3] = Rotation.from_euler("y", 1.0, degrees=True).as_matrix()
        wrong = turned @ a_to_b
        moved = (points_a[inside] @ wrong[:3, :3].T + wrong[:3, 3]) @ K.T
        wx, wy = (moved[:, :2] / moved[:, 2:]).T.astype(np.float32)
        wrong_sampled = cv2.remap(grey_b, wx, wy, cv2.INTER_LINEAR).ravel()
        wrong_difference = np.abs(wrong_sampled - grey_a.ravel()[inside])[visible]
        assert np.median(wrong_difference) > 2 * np.median(difference)


def test_kitti_layout_round_trip(tmp_path):
    sequence = SyntheticSequence(6, (60, 80), seed=2)
    folder = write_kitti_layout(tmp_path / "seq", sequence)
    assert folder == tmp_path / "seq"
    assert sorted(p.name for p in folder.iterdir()) == [
        "calib.txt",
        "image_0",
        "poses.txt",
        "times.txt",
    ]
    reader = open_sequence(folder)
    assert len(reader) == 6
    np.testing.assert_allclose(reader.intrinsics.K, sequence.intrinsics.K, rtol=1e-9)
    assert reader.intrinsics.size_hw == (60, 80)
    np.testing.assert_allclose(reader.poses, sequence.poses, atol=1e-6)
    assert [f.timestamp for f in reader.frames] == pytest.approx([i / 10 for i in range(6)])
    np.testing.assert_array_equal(reader.read(4), sequence.read(4))
    for camera in ("image_1", "image_2", "image_3"):
        with pytest.raises(InputError):  # no such camera folder
            open_sequence(folder, camera=camera)


def test_kitti_layout_with_a_right_camera(tmp_path):
    sequence = SyntheticSequence(5, (60, 80), seed=0)
    folder = write_kitti_layout(tmp_path, sequence, baseline_m=0.12)
    left, right = open_sequence(folder), open_sequence(folder, camera="image_1")
    assert len(right) == 5
    np.testing.assert_allclose(left.poses, sequence.poses, atol=1e-6)
    np.testing.assert_allclose(right.intrinsics.K, sequence.intrinsics.K, rtol=1e-9)
    np.testing.assert_allclose(right.poses[:, :3, :3], sequence.poses[:, :3, :3], atol=1e-6)
    expected = sequence.poses[:, :3, 3] + 0.12 * sequence.poses[:, :3, 0]  # along camera x
    np.testing.assert_allclose(right.poses[:, :3, 3], expected, atol=1e-6)
    np.testing.assert_array_equal(right.read(3), sequence.render(right.poses[3])[0])
    np.testing.assert_array_equal(left.read(3), sequence.read(3))
    assert np.abs(right.read(3).astype(int) - left.read(3)).mean() > 5  # a different view


def test_a_right_camera_needs_a_synthetic_sequence(tmp_path):
    reader = open_sequence(write_kitti_layout(tmp_path / "a", SyntheticSequence(2, (30, 40))))
    with pytest.raises(ValueError):
        write_kitti_layout(tmp_path / "b", reader, baseline_m=0.1)
