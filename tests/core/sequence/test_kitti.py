"""The KITTI odometry reader on a layout written here and on ../shared/data/kitti_odometry_06."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.sequence import kitti

K = np.array([[700.0, 0, 600], [0, 700, 180], [0, 0, 1]])


def pose(tx: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.array([0.0, 0.1 * tx, 0.0]))[0]
    T[:3, 3] = [tx, 0.0, 2 * tx]
    return T


def write_kitti(folder, ids=(0, 1, 2, 5), poses=6, times=True):
    """Frames ``ids`` of image_0 (frame k filled with k), P0 = K [I|0], P1 with a 0.5 m
    baseline, ``poses`` lines of poses.txt (pose(k) for frame k) and times 0.1 k."""
    (folder / "image_0").mkdir(parents=True)
    for frame_id in ids:
        cv2.imwrite(
            str(folder / "image_0" / f"{frame_id:06d}.png"), np.full((4, 6), frame_id, np.uint8)
        )
    P1 = K @ np.hstack([np.eye(3), [[-0.5], [0], [0]]])
    lines = [f"P0: {' '.join(map(str, np.hstack([K, np.zeros((3, 1))]).ravel()))}"]
    lines.append(f"P1: {' '.join(map(str, P1.ravel()))}")
    (folder / "calib.txt").write_text("\n".join(lines) + "\n")
    np.savetxt(folder / "poses.txt", np.array([pose(k)[:3].ravel() for k in range(poses)]))
    if times:
        np.savetxt(folder / "times.txt", 0.1 * np.arange(poses))
    return folder


def test_frames_ids_times_intrinsics_poses(tmp_path):
    folder = write_kitti(tmp_path / "06")
    assert kitti.detect(folder) and not kitti.detect(tmp_path)
    reader = kitti.open(folder)
    assert [f.frame_id for f in reader.frames] == [0, 1, 2, 5]
    assert [f.position for f in reader.frames] == [0, 1, 2, 3]
    assert [f.timestamp for f in reader.frames] == pytest.approx([0.0, 0.1, 0.2, 0.5])
    assert reader.name == "06" and np.array_equal(reader.intrinsics.K, K)
    assert reader.intrinsics.size_hw == (4, 6)
    assert np.allclose(reader.poses, [pose(k) for k in (0, 1, 2, 5)])
    image = reader.read(3)  # the frame after the gap
    assert image.shape == (4, 6, 3) and image.dtype == np.uint8 and (image == 5).all()


def test_frames_beyond_the_poses_have_nan_and_times_are_optional(tmp_path):
    folder = write_kitti(tmp_path / "06", poses=3, times=False)
    reader = kitti.KittiReader(folder)
    assert [f.timestamp for f in reader.frames] == [None] * 4
    assert np.isnan(reader.poses[3]).all() and np.allclose(reader.poses[2], pose(2))


def test_another_camera_gets_its_baseline(tmp_path):
    folder = write_kitti(tmp_path / "06")
    (folder / "image_1").mkdir()
    cv2.imwrite(str(folder / "image_1" / "000001.png"), np.zeros((4, 6), np.uint8))
    reader = kitti.open(folder, camera="image_1")
    assert [f.frame_id for f in reader.frames] == [1]
    # camera 1 sits 0.5 m along camera 0's x axis
    right = pose(1) @ np.r_[0.5, 0, 0, 1]
    assert np.allclose(reader.poses[0][:, 3], right) and np.allclose(
        reader.poses[0][:3, :3], pose(1)[:3, :3]
    )


def test_the_colour_download_without_poses_opens_its_left_colour_camera(tmp_path):
    """KITTI's colour sequences have image_2 and image_3 only, its test sequences no
    poses.txt: the sequence opens with image_2 (P2's K) and no ground truth."""
    from core.sequence import open_sequence

    folder = write_kitti(tmp_path / "11")
    (folder / "image_0").rename(folder / "image_2")
    (folder / "poses.txt").unlink()
    lines = (folder / "calib.txt").read_text().replace("P0:", "P2:")
    (folder / "calib.txt").write_text(lines)
    assert kitti.detect(folder) and kitti.default_camera(folder) == "image_2"
    reader = open_sequence(folder)
    assert isinstance(reader, kitti.KittiReader) and reader.camera == "image_2"
    assert reader.poses is None and np.array_equal(reader.intrinsics.K, K) and len(reader) == 4


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "calib.txt").write_text("P1: 1 2 3\n"), "calib.txt: P1 is not 12 numbers"),
        (
            lambda f: (f / "calib.txt").write_text("P1: " + " 0" * 12 + "\n"),
            "calib.txt: no P0 line",
        ),
        (lambda f: (f / "poses.txt").write_text("1 2 3\n"), "poses.txt: malformed"),
        (lambda f: (f / "times.txt").write_text("0\nx\n"), "times.txt: malformed"),
        (
            lambda f: (f / "times.txt").write_text("0\n0.1\n"),
            "times.txt: 2 lines, no time of frame 5",
        ),
        (lambda f: [p.unlink() for p in (f / "image_0").iterdir()], "image_0: no numbered images"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, damage, message):
    folder = write_kitti(tmp_path / "06")
    damage(folder)
    with pytest.raises(InputError, match=message):
        kitti.KittiReader(folder)


def test_the_shared_sequence(shared_data):
    folder = shared_data / "kitti_odometry_06"
    if not folder.is_dir():
        pytest.skip("no kitti_odometry_06")
    reader = kitti.open(folder)
    ids = [f.frame_id for f in reader.frames]
    assert ids == [*range(51), 435, 436] and len(reader) == 53
    assert reader.frames[51].position == 51  # the gap after frame 50 is one step
    truth = np.loadtxt(folder / "poses.txt").reshape(-1, 3, 4)
    assert np.array_equal(reader.poses[:, :3], truth[ids])
    times = np.loadtxt(folder / "times.txt")
    assert reader.frames[52].timestamp == times[436]
    assert reader.intrinsics.K[0, 0] == pytest.approx(707.0912)
    assert reader.intrinsics.size_hw == (370, 1226)
    assert reader.read(51).shape == (370, 1226, 3)
    # the right grey camera: one frame, camera 0's pose moved 0.537 m along its x axis (P1)
    right = kitti.open(folder, camera="image_1")
    assert [f.frame_id for f in right.frames] == [12]
    T_w_0 = np.vstack([truth[12], [0, 0, 0, 1]])
    offset = np.linalg.inv(T_w_0) @ right.poses[0]
    assert np.allclose(offset[:3, 3], [379.8145 / 707.0912, 0, 0], atol=1e-6)


def test_an_undecodable_frame_is_one_error_and_the_rest_still_read(tmp_path):
    folder = write_kitti(tmp_path / "06")
    (folder / "image_0" / "000000.png").write_bytes(b"not a png")
    reader = kitti.KittiReader(folder)
    assert reader.intrinsics.size_hw is None
    with pytest.raises(InputError, match=r"000000\.png"):
        reader.read(0)
    assert (reader.read(1) == 1).all()
