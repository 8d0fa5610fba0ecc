"""The EuRoC MAV reader on a layout written here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.sequence import euroc

T0 = 1403636579763555584  # ns, as EuRoC's
T_BS = np.array(
    [[0.0, -1.0, 0.0, 0.1], [1.0, 0.0, 0.0, -0.2], [0.0, 0.0, 1.0, 0.05], [0.0, 0.0, 0.0, 1.0]]
)
SENSOR = """%YAML:1.0
---
# General sensor definitions.
sensor_type: camera
comment: VI-Sensor cam0 (MT9M034)

# Sensor extrinsics wrt. the body-frame.
T_BS:
  cols: 4
  rows: 4
  data: [{T_BS}]

# Camera specific definitions.
rate_hz: 20
resolution: [752, 480]
camera_model: pinhole
intrinsics: [458.654, 457.296, 367.215, 248.375] #fu, fv, cu, cv
distortion_model: radial-tangential
distortion_coefficients: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]
"""
# frames 50 ms apart from T0 - 50 ms (before the ground truth) to T0 + 150 ms (after it)
FRAME_NS = [T0 - 50_000_000, T0, T0 + 50_000_000, T0 + 100_000_000, T0 + 150_000_000]
# body poses at T0 and T0 + 100 ms: a 0.4 rad turn about z and 1 m along x
TRUTH = [(T0, [0.0, 0.0, 0.0], 0.0), (T0 + 100_000_000, [1.0, 2.0, 0.0], 0.4)]


def body(position, angle) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec([0.0, 0.0, angle]).as_matrix()
    T[:3, 3] = position
    return T


def write_euroc(folder):
    camera = folder / "mav0" / "cam0"
    (camera / "data").mkdir(parents=True)
    lines = ["#timestamp [ns],filename"]
    for index, t in enumerate(FRAME_NS):
        cv2.imwrite(str(camera / "data" / f"{t}.png"), np.full((4, 6), 10 * index, np.uint8))
        lines.append(f"{t},{t}.png")
    (camera / "data.csv").write_text("\n".join(lines) + "\n")
    (camera / "sensor.yaml").write_text(SENSOR.format(T_BS=", ".join(map(str, T_BS.ravel()))))
    truth = folder / euroc.GROUND_TRUTH
    truth.parent.mkdir(parents=True)
    rows = [
        "#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], "
        "q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], v_RS_R_x [m s^-1]"
    ]
    for t, position, angle in TRUTH:
        x, y, z, w = Rotation.from_rotvec([0.0, 0.0, angle]).as_quat()
        rows.append(",".join(map(str, [t, *position, w, x, y, z, 0.0])))
    truth.write_text("\n".join(rows) + "\n")
    return folder


def test_frames_intrinsics_and_interpolated_poses(tmp_path):
    folder = write_euroc(tmp_path / "MH_01_easy")
    assert euroc.detect(folder) and not euroc.detect(tmp_path)
    reader = euroc.open(folder)
    assert [f.frame_id for f in reader.frames] == FRAME_NS
    assert reader.frames[1].timestamp == pytest.approx(T0 * 1e-9, abs=1e-6)
    assert reader.frames[2].timestamp - reader.frames[1].timestamp == pytest.approx(0.05, abs=1e-6)
    assert np.array_equal(
        reader.intrinsics.K, [[458.654, 0, 367.215], [0, 457.296, 248.375], [0, 0, 1]]
    )
    assert reader.intrinsics.size_hw == (480, 752) and reader.intrinsics.distortion[1] == 0.07395907
    assert np.allclose(reader.poses[1], body([0, 0, 0], 0.0) @ T_BS)
    assert np.allclose(reader.poses[3], body([1, 2, 0], 0.4) @ T_BS)
    # the midpoint: the mean position and half the turn
    assert np.allclose(reader.poses[2], body([0.5, 1.0, 0], 0.2) @ T_BS)
    # before and after the ground truth: never extrapolated
    assert np.isnan(reader.poses[0]).all() and np.isnan(reader.poses[4]).all()
    assert (reader.read(3) == 30).all() and reader.read(3).shape == (4, 6, 3)


def test_without_ground_truth(tmp_path):
    folder = write_euroc(tmp_path / "V1_01")
    (folder / euroc.GROUND_TRUTH).unlink()
    assert euroc.EurocReader(folder).poses is None


def test_another_camera(tmp_path):
    folder = write_euroc(tmp_path / "V1_01")
    (folder / "mav0" / "cam0").rename(folder / "mav0" / "cam1")
    (folder / "mav0" / "cam0").mkdir()
    (folder / "mav0" / "cam0" / "data.csv").write_text("")
    assert (
        euroc.open(folder, camera="cam1")
        .frames[0]
        .path.endswith("cam1/data/" + f"{FRAME_NS[0]}.png")
    )


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("mav0/cam0/data.csv", "#timestamp [ns],filename\n", "cam0/data.csv: lists no frames"),
        ("mav0/cam0/data.csv", "12.5,a.png\n", "data.csv: line 1: '12.5' is not a timestamp in ns"),
        ("mav0/cam0/data.csv", "12\n", "data.csv: line 1: 1 values, expected 2"),
        ("mav0/cam0/sensor.yaml", "%YAML:1.0\nT_BS: [1\n", "sensor.yaml: not YAML"),
        ("mav0/cam0/sensor.yaml", "%YAML:1.0\nrate_hz: 20\n", "sensor.yaml: no 'T_BS' entry"),
        (
            "mav0/cam0/sensor.yaml",
            "T_BS: {data: [1, 2]}\nintrinsics: [1, 2, 3, 4]\nresolution: [2, 3]\n",
            "sensor.yaml: T_BS.data needs 16 numbers",
        ),
        (str(euroc.GROUND_TRUTH), f"{T0},0,0,0,1,0,0\n", "data.csv: line 1: 7 values, expected 8"),
        (str(euroc.GROUND_TRUTH), f"{T0},0,0,0,1,0,0,x\n", "data.csv: not a number"),
        (str(euroc.GROUND_TRUTH), f"{T0},0,0,0,1,0,0,0\n", "data.csv: fewer than two poses"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, file, text, message):
    folder = write_euroc(tmp_path / "MH_01_easy")
    (folder / file).write_text(text)
    with pytest.raises(InputError, match=message):
        euroc.EurocReader(folder)
