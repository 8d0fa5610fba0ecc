"""`core.vo.scene`: a live run's scene of the frames done so far, the scene's ``source`` (how
to open its sequence again) through scene.npz, and the errors of a folder without a scene."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.vo.run import run_vo
from core.vo.scene import (
    load_scene,
    parse_source,
    save_scene,
    scene_from_odometry,
    scene_from_run,
    sequence_source,
)
from core.vo.synthetic import SyntheticSequence


@pytest.fixture(scope="module")
def run_and_reader():
    reader = SyntheticSequence(12, (240, 320))
    return run_vo(reader, "orb"), reader


def test_a_live_scene_is_the_scene_of_a_run_over_the_frames_done(run_and_reader):
    """A tracker fed 6 of the 12 frames gives the scene a 6-frame run gives (runs repeat)."""
    from core.vo.frontend import make_frontend
    from core.vo.tracker import VisualOdometry

    _, reader = run_and_reader
    odometry = VisualOdometry(make_frontend("orb", reader.intrinsics))
    for position in range(6):
        odometry.process(position, reader.read(position))
    live = scene_from_odometry(odometry, reader, 6, (320, 240))
    short = SyntheticSequence(12, (240, 320))
    short.frames = short.frames[:6]
    done = scene_from_run(run_vo(short, "orb"), short)
    assert len(live) == 6 and live.tracked.all() and live.image_size == (320, 240)
    np.testing.assert_array_equal(live.poses, done.poses)
    np.testing.assert_array_equal(live.stats["inliers"], done.stats["inliers"])
    np.testing.assert_array_equal(live.keypoint_status, done.keypoint_status)
    np.testing.assert_array_equal(live.points, done.points)
    assert live.pose_error_m.shape == (6,) and np.isfinite(live.pose_error_m).all()


def test_the_source_goes_through_scene_npz(run_and_reader, tmp_path):
    run, reader = run_and_reader
    source = sequence_source("room", "image_1", None, "0:12", 320)
    scene = replace(scene_from_run(run, reader), source=source)
    save_scene(tmp_path / "scene.npz", scene)
    again = load_scene(tmp_path)
    assert parse_source(again.source) == {
        "path": str(Path("room").absolute()),
        "camera": "image_1",
        "intrinsics": None,
        "frames": "0:12",
        "max_size": 320,
    }
    # a scene saved before --max-size, and a size that is no number: none
    assert parse_source('{"path": "room"}')["max_size"] is None
    assert parse_source('{"path": "room", "max_size": "big"}')["max_size"] is None
    save_scene(tmp_path / "scene.npz", replace(scene, source=""))
    assert load_scene(tmp_path).source == "" and parse_source("") is None
    assert parse_source("not json") is None and parse_source('{"path": 3}') is None


def test_a_folder_without_a_scene_is_one_clear_line(tmp_path):
    with pytest.raises(InputError, match="no VO scene here") as raised:
        load_scene(tmp_path)
    assert str(raised.value).count(str(tmp_path)) == 1
    (tmp_path / "scene.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable VO scene"):
        load_scene(tmp_path)
