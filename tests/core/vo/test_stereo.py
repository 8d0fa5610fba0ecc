"""The stereo start: a KITTI folder with a right camera gives the trajectory in metres; the
right camera stays out of the run's frames; sequences without one are refused in one line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.errors import MatchscopeError
from core.sequence import open_sequence
from core.vo.evaluation import evaluate, trajectory_length_m
from core.vo.run import run_vo
from core.vo.scene import scene_from_run
from core.vo.stereo import stereo_partner
from core.vo.synthetic import SyntheticSequence, write_kitti_layout

BASELINE_M = 0.3


@pytest.fixture(scope="module")
def stereo_room(tmp_path_factory):
    """30 frames of the synthetic room with a right camera 0.3 m to the right of each."""
    folder = tmp_path_factory.mktemp("stereo") / "room"
    return write_kitti_layout(folder, SyntheticSequence(30, (240, 320)), baseline_m=BASELINE_M)


def test_the_partner_is_the_right_camera_a_baseline_along_x(stereo_room):
    partner = stereo_partner(open_sequence(stereo_room))
    assert partner.baseline_m == pytest.approx(BASELINE_M)
    np.testing.assert_allclose(partner.relative[:3, 3], [BASELINE_M, 0.0, 0.0], atol=1e-9)
    reader = open_sequence(stereo_room)
    right = partner.read(reader.frames[3])
    assert right.shape == reader.read(3).shape and not np.array_equal(right, reader.read(3))


def test_a_stereo_start_gives_the_trajectory_in_metres(stereo_room):
    reader = open_sequence(stereo_room)
    stereo = run_vo(reader, "orb", stereo=True)
    mono = run_vo(reader, "orb")
    assert stereo.tracked.all()
    truth_length = trajectory_length_m(reader.poses)
    scale = trajectory_length_m(stereo.poses) / truth_length
    assert scale == pytest.approx(1.0, abs=0.1), scale  # metres, without any alignment
    mono_scale = trajectory_length_m(mono.poses[mono.tracked]) / truth_length
    assert abs(mono_scale - 1.0) > 0.5  # the monocular start fixes no scale
    np.testing.assert_array_equal(stereo.poses[0], np.eye(4))  # the start is the first frame
    figures = evaluate(stereo.poses, reader.poses, None, stereo.tracked, stereo.seconds)
    assert figures["ate_percent"] < 3.0, figures
    # the right camera observes the first points but is no frame of the run
    partners = [kf for kf in stereo.odometry.map.keyframes.values() if kf.partner]
    assert len(partners) == 1 and partners[0].position == 0
    scene = scene_from_run(stereo, reader)
    assert scene.keyframe[0] and scene.keyframe.sum() == sum(
        not kf.partner for kf in stereo.odometry.map.keyframes.values()
    )
    assert set(scene.observations[:, 1]) <= set(np.flatnonzero(scene.keyframe))


def test_frames_before_the_first_stereo_pair_are_localised_after_it(stereo_room, tmp_path):
    folder = tmp_path / "room"
    shutil.copytree(stereo_room, folder)
    for name in ("000000.png", "000001.png", "000002.png"):
        (folder / "image_1" / name).unlink()  # the right camera starts at frame 3
    run = run_vo(open_sequence(folder), "orb", stereo=True)
    assert run.tracked.all()
    assert np.linalg.norm(run.poses[3][:3, 3]) < 1e-9  # the map starts at frame 3
    assert np.linalg.norm(run.poses[0][:3, 3]) > 0.02  # frame 0 was localised, behind it


def test_stereo_needs_a_kitti_left_camera_with_its_partner(stereo_room, tmp_path, capsys):
    from app.cli import main

    folder = tmp_path / "room"
    shutil.copytree(stereo_room, folder)
    shutil.rmtree(folder / "image_1")
    with pytest.raises(MatchscopeError, match="image_1"):
        stereo_partner(open_sequence(folder))
    out = tmp_path / "out"
    assert main(["vo", str(folder), "--stereo", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "--stereo needs the right camera" in error and "\n" not in error


def test_bench_vo_with_stereo_reports_the_scale_it_found(stereo_room, capsys):
    from core.bench.vo import measure_vo, print_report

    reader = open_sequence(stereo_room)
    figures = measure_vo(reader, ["orb"], 0, stereo=True)
    assert figures["ours"]["orb"]["path_length_ratio"] == pytest.approx(1.0, abs=0.1)
    assert "path_length_ratio" not in figures["chain"]
    print_report({**figures, "source": "room", "machine": _machine()})
    assert "stereo start, path length" in capsys.readouterr().out


def _machine() -> dict:
    return {"cpu": "cpu", "cpu_count": 2, "load_before": 0.0, "load_average": 0.0}
