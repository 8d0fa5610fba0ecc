"""The TUM RGB-D reader on layouts written here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.sequence import tum
from core.sequence.base import Intrinsics

RGB_TIMES = (1.000, 1.033, 1.066, 1.100, 1.200, 1.215, 1.300)
# 1.000 <- 1.005 (1.012 is farther); 1.033 <- 1.040; 1.066: nothing within 20 ms; 1.100 <- 1.101
# (1.097 is farther); 1.210 goes to the closer 1.215, so 1.200 (10 ms off) is left without;
# 1.300: nothing within 20 ms (1.350); 0.990, 1.012, 1.097 and 1.350 pair with no frame
GT_TIMES = (0.990, 1.005, 1.012, 1.040, 1.097, 1.101, 1.210, 1.350)


def gt_pose(index: int) -> tuple[np.ndarray, np.ndarray]:
    """(t, q xyzw) of ground-truth line ``index``."""
    q = Rotation.from_rotvec([0.0, 0.0, 0.1 * index]).as_quat()
    return np.array([index, 2.0 * index, -1.0]), q


def write_tum(folder):
    (folder / "rgb").mkdir(parents=True)
    lines = ["# color images", "# timestamp filename"]
    for index, t in enumerate(RGB_TIMES):
        name = f"rgb/{t:.6f}.png"
        cv2.imwrite(str(folder / name), np.full((3, 5, 3), (index, 0, 200), np.uint8))
        lines.append(f"{t:.6f} {name}")
    (folder / "rgb.txt").write_text("\n".join(lines) + "\n")
    rows = ["# ground truth trajectory", "# timestamp tx ty tz qx qy qz qw"]
    for index, t in enumerate(GT_TIMES):
        translation, q = gt_pose(index)
        rows.append(" ".join(f"{v:.9f}" for v in (t, *translation, *q)))
    (folder / "groundtruth.txt").write_text("\n".join(rows) + "\n")
    return folder


def test_frames_association_and_poses(tmp_path):
    folder = write_tum(tmp_path / "rgbd_dataset_freiburg1_xyz")
    assert tum.detect(folder) and not tum.detect(tmp_path)
    reader = tum.open(folder)
    assert [f.timestamp for f in reader.frames] == list(RGB_TIMES)
    assert reader.frames[1].frame_id == "1.033000" and reader.frames[1].path.endswith(
        "rgb/1.033000.png"
    )
    matched = {0: 1, 1: 3, 3: 5, 5: 6}  # frame position -> ground-truth line
    for position in range(len(RGB_TIMES)):
        if position in matched:
            translation, q = gt_pose(matched[position])
            assert np.allclose(reader.poses[position][:3, 3], translation)
            assert np.allclose(reader.poses[position][:3, :3], Rotation.from_quat(q).as_matrix())
            assert np.array_equal(reader.poses[position][3], [0, 0, 0, 1])
        else:
            assert np.isnan(reader.poses[position]).all()
    # BGR on disk, RGB read
    assert reader.read(2)[0, 0].tolist() == [200, 0, 2]


def test_associate_matches_associate_py():
    first, second = np.array(RGB_TIMES), np.array(GT_TIMES)
    assert tum.associate(first, second) == [(0, 1), (1, 3), (3, 5), (5, 6)]
    assert tum.associate(second, first) == [(1, 0), (3, 1), (5, 3), (6, 5)]


@pytest.mark.parametrize(
    ("name", "fx", "k1"),
    [("rgbd_dataset_freiburg1_xyz", 517.3, 0.2624), ("rgbd_dataset_freiburg2_desk", 520.9, 0.2312)],
)
def test_published_intrinsics_from_the_folder_name(tmp_path, name, fx, k1):
    reader = tum.TumReader(write_tum(tmp_path / name))
    assert reader.intrinsics.K[0, 0] == fx and reader.intrinsics.distortion[0] == k1
    assert reader.intrinsics.size_hw == (480, 640)


def test_freiburg3_and_other_names(tmp_path):
    fr3 = tum.TumReader(write_tum(tmp_path / "rgbd_dataset_freiburg3_long_office_household"))
    assert np.array_equal(fr3.intrinsics.K, [[535.4, 0, 320.1], [0, 539.2, 247.6], [0, 0, 1]])
    assert not fr3.intrinsics.distortion.any()
    other = write_tum(tmp_path / "mine")
    assert tum.TumReader(other).intrinsics is None
    given = Intrinsics(np.eye(3), source="user")
    assert tum.TumReader(other, given).intrinsics is given


def test_without_ground_truth(tmp_path):
    folder = write_tum(tmp_path / "rgbd_dataset_freiburg1_xyz")
    (folder / "groundtruth.txt").unlink()
    assert tum.TumReader(folder).poses is None


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("rgb.txt", "1.0\n", r"rgb.txt: line 1: expected 'timestamp filename'"),
        ("rgb.txt", "abc rgb/1.png\n", r"rgb.txt: line 1: 'abc' is not a timestamp"),
        ("rgb.txt", "# nothing\n", "rgb.txt: lists no frames"),
        (
            "groundtruth.txt",
            "# c\n1.0 0 0 0 0 0 1\n",
            "groundtruth.txt: line 2: 7 values, expected 8",
        ),
        ("groundtruth.txt", "1.0 0 0 0 0 0 x 1\n", "groundtruth.txt: line 1: not a number"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, file, text, message):
    folder = write_tum(tmp_path / "rgbd_dataset_freiburg1_xyz")
    (folder / file).write_text(text)
    with pytest.raises(InputError, match=message):
        tum.TumReader(folder)


def test_a_missing_frame_is_one_error_and_the_rest_still_read(tmp_path):
    folder = write_tum(tmp_path / "rgbd_dataset_freiburg1_xyz")
    (folder / "rgb" / "1.033000.png").unlink()
    reader = tum.TumReader(folder)
    with pytest.raises(InputError, match=r"1.033000.png: no such file"):
        reader.read(1)
    assert reader.read(2).shape == (3, 5, 3)
