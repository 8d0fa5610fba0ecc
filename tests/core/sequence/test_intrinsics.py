import json

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.imageio import save_image
from core.sequence import open_sequence, read_intrinsics

K = np.array([[718.856, 0, 607.19], [0, 718.856, 185.22], [0, 0, 1]])


def test_yaml_with_focal_lengths_and_distortion(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text(
        "fx: 718.856\nfy: 718.856\ncx: 607.19\ncy: 185.22\nwidth: 1241\nheight: 376\n"
        "distortion: [0.1, -0.2, 0.001, 0.002, 0.05]\n"
    )
    intrinsics = read_intrinsics(path)
    np.testing.assert_allclose(intrinsics.K, K)
    assert intrinsics.size_hw == (376, 1241)
    np.testing.assert_allclose(intrinsics.distortion, [0.1, -0.2, 0.001, 0.002, 0.05])
    assert intrinsics.source == str(path)


def test_json_with_a_3x3_K(tmp_path):
    path = tmp_path / "cam.json"
    path.write_text(json.dumps({"K": K.tolist()}))
    intrinsics = read_intrinsics(path)
    np.testing.assert_allclose(intrinsics.K, K)
    assert intrinsics.size_hw is None and not intrinsics.distortion.any()


def test_opencv_filestorage_yaml(tmp_path):
    path = tmp_path / "calib.yml"
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    storage.write("camera_matrix", K)
    storage.write("distortion_coefficients", np.array([[0.1, 0.0, 0.0, 0.0, 0.0]]))
    storage.write("image_width", 1241)
    storage.write("image_height", 376)
    storage.release()
    intrinsics = read_intrinsics(path)
    np.testing.assert_allclose(intrinsics.K, K)
    assert intrinsics.size_hw == (376, 1241)
    assert intrinsics.distortion[0] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fx: 700\nfy: 700\ncx: 320\n", "missing cy"),
        ("{}", "missing fx, fy, cx, cy"),
        ("K: [1, 2, 3]\n", "K must hold 9 finite numbers"),
        ("fx: -5\nfy: 700\ncx: 320\ncy: 240\n", "positive focal lengths"),
        ("fx: 700\nfy: 700\ncx: 320\ncy: 240\nwidth: 640\n", "both width and height"),
        ("fx: 700\nfy: 700\ncx: 320\ncy: 240\ndistortion: [1, 2, 3]\n", "distortion must hold"),
        ("fx: [700\n", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_malformed_files_name_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "cam.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_intrinsics(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_open_sequence_takes_the_users_intrinsics(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        save_image(folder / f"{i}.png", np.zeros((8, 8, 3), np.uint8))
    path = tmp_path / "cam.json"
    path.write_text(json.dumps({"fx": 10, "fy": 10, "cx": 4, "cy": 4}))
    assert open_sequence(folder, intrinsics_path=path).intrinsics.K[0, 2] == 4
    with pytest.raises(InputError, match="no such intrinsics file"):
        open_sequence(folder, intrinsics_path=tmp_path / "missing.yaml")
