"""core.vo.evaluation: trajectory files, KITTI's drift, evo's ATE / RPE after Sim(3), the plot."""

import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.vo.evaluation import (
    EVAL_KEYS,
    align_sim3,
    evaluate,
    kitti_drift,
    plot_trajectories,
    read_kitti_trajectory,
    trajectory_length_m,
    write_kitti_trajectory,
    write_tum_trajectory,
)


def yaw(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` rad about y (the camera's down axis: a turn on the ground)."""
    return Rotation.from_rotvec([0.0, angle, 0.0]).as_matrix()


def path_with_turn(steps: int) -> np.ndarray:
    """(steps + 1, 4, 4) camera-to-world poses 1 m apart on the ground (x, z): straight ahead
    along z for a third, a quarter turn over the next third, straight again; the camera looks
    where it goes."""
    headings = np.clip((np.arange(steps + 1) - steps / 3) / (steps / 3), 0.0, 1.0) * math.pi / 2
    poses = np.tile(np.eye(4), (steps + 1, 1, 1))
    for i in range(1, steps + 1):
        heading = headings[i - 1]
        poses[i, :3, 3] = poses[i - 1, :3, 3] + [math.sin(heading), 0.0, math.cos(heading)]
    for i, heading in enumerate(headings):
        poses[i, :3, :3] = yaw(heading)
    return poses


def straight_road(frames: int, step_m: float = 1.0) -> np.ndarray:
    """(frames, 4, 4) poses ``step_m`` apart along z, looking ahead."""
    poses = np.tile(np.eye(4), (frames, 1, 1))
    poses[:, 2, 3] = step_m * np.arange(frames)
    return poses


def under_sim3(poses: np.ndarray, scale: float, rotation: np.ndarray, shift) -> np.ndarray:
    """``poses`` seen in another world: centres moved by the Sim(3), orientations rotated."""
    moved = poses.copy()
    moved[:, :3, :3] = rotation @ poses[:, :3, :3]
    moved[:, :3, 3] = scale * poses[:, :3, 3] @ rotation.T + shift
    return moved


def test_truth_under_a_sim3_scores_zero():
    truth = path_with_turn(300)
    assert trajectory_length_m(truth) == pytest.approx(300.0)
    rotation = Rotation.from_rotvec([0.3, -1.1, 0.7]).as_matrix()
    estimated = under_sim3(truth, 0.37, rotation, [4.0, -2.0, 9.5])
    estimated[:, :3, :3] += 1e-9 * np.random.default_rng(0).normal(size=(301, 3, 3))  # not SO(3)
    result = evaluate(estimated, truth, timestamps=0.1 * np.arange(301))
    assert result["ate_rmse_m"] < 1e-6
    for key in ("rpe_trans_m_1", "rpe_rot_deg_1", "rpe_trans_m_10", "rpe_rot_deg_10"):
        assert result[key] < 1e-5, key
    assert result["t_rel_percent"] < 1e-5
    assert result["r_rel_deg_per_100m"] < 1e-4
    assert result["trajectory_length_m"] == pytest.approx(300.0)
    aligned = align_sim3(estimated, truth)
    np.testing.assert_allclose(aligned[:, :3, 3], truth[:, :3, 3], atol=1e-6)
    np.testing.assert_allclose(aligned[:, :3, :3], truth[:, :3, :3], atol=1e-6)


def test_drift_of_a_stretched_estimate_is_its_stretch():
    # Every step 1.02 m instead of 1 m: a segment of L m along the truth is 1.02 L m in the
    # estimate, the rotations agree, so E's translation is L - 1.02 L and each error 0.02.
    t_rel, r_rel = kitti_drift(straight_road(251, 1.02), straight_road(251))
    assert t_rel == pytest.approx(2.0, abs=1e-6)
    assert r_rel == pytest.approx(0.0, abs=1e-6)


def test_drift_of_a_yawing_estimate():
    truth = straight_road(301)
    estimated = truth.copy()
    estimated[:, :3, :3] = [yaw(0.001 * i) for i in range(301)]
    # A segment of L frames (L m) turns by 0.001 L rad in the estimate and not at all in the
    # truth: the error's angle is 0.001 L rad, 0.001 rad per metre for every segment, so
    # r_rel = 0.001 * 180 / pi * 100 = 5.729577951308232 degrees per 100 m.
    _, r_rel = kitti_drift(estimated, truth)
    assert r_rel == pytest.approx(5.729577951308232, rel=1e-9)


def test_a_path_under_100_m_has_no_drift():
    truth = path_with_turn(50)
    assert kitti_drift(truth, truth) == (None, None)
    result = evaluate(truth, truth, timestamps=None)
    assert result["t_rel_percent"] is None and result["r_rel_deg_per_100m"] is None
    assert '"t_rel_percent": null' in json.dumps(result)


def test_frames_without_truth_are_left_out():
    truth = path_with_turn(120)
    estimated = under_sim3(truth, 2.5, yaw(0.4), [1.0, 0.0, 3.0])
    estimated[60:, :3, 3] += [0.5, 0.0, 0.0]  # an error the frames 60.. carry
    truth[[0, 10, 11, 12]] = np.nan
    tracked = np.ones(121, bool)
    tracked[[5, 6, 7]] = False
    result = evaluate(estimated, truth, timestamps=None, tracked=tracked, seconds=4.0)
    assert result["evaluated_frames"] == 117
    assert result["frames"] == 121
    assert result["tracked_frames"] == 118
    assert result["fps"] == pytest.approx(121 / 4.0)
    assert result["ate_rmse_m"] > 0.01  # the error is there
    assert len(align_sim3(estimated, truth)) == 117
    assert evaluate(estimated, truth, None)["fps"] is None


def test_fewer_than_three_truth_frames_is_an_error():
    truth = np.full((10, 4, 4), np.nan)
    truth[:2] = straight_road(2)
    with pytest.raises(ValueError, match="at least 3"):
        evaluate(straight_road(10), truth, None)


def test_centres_on_one_line_cannot_be_aligned():
    with pytest.raises(ValueError, match="cannot align"):
        align_sim3(straight_road(20, 0.5), straight_road(20))


def test_result_is_json_with_every_key():
    truth = path_with_turn(30)
    result = json.loads(json.dumps(evaluate(truth, truth, np.arange(31) / 10.0, seconds=1.0)))
    assert list(result)[: len(EVAL_KEYS)] == list(EVAL_KEYS)
    assert result["rpe_trans_m_10"] is not None
    short_path = path_with_turn(7)
    short = json.loads(json.dumps(evaluate(short_path, short_path, None)))
    assert short["rpe_trans_m_10"] is None and short["rpe_trans_m_1"] is not None


def test_kitti_round_trip(tmp_path):
    poses = path_with_turn(20)
    poses[:, :3, 3] += 1234.56789
    path = tmp_path / "poses.txt"
    write_kitti_trajectory(path, poses)
    lines = path.read_text().splitlines()
    assert len(lines) == 21 and all(len(line.split()) == 12 for line in lines)
    np.testing.assert_allclose(read_kitti_trajectory(path), poses, atol=1e-5)


@pytest.mark.parametrize(
    "text", ["1 0 0 0 0 1 0 0 0 0 1\n", "1 0 0 0 0 1 0 0 0 0 1 nan\n", "1 0 x 0 0 1 0 0 0 0 1 0\n"]
)
def test_malformed_kitti_file(tmp_path, text):
    path = tmp_path / "bad_poses.txt"
    path.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n" + text)
    with pytest.raises(InputError, match=r"bad_poses\.txt: line 2"):
        read_kitti_trajectory(path)


def test_tum_lines(tmp_path):
    poses = path_with_turn(40)
    path = tmp_path / "trajectory.txt"
    write_tum_trajectory(path, 1305031102.175304 + np.arange(41) / 30.0, poses)
    rows = np.array([[float(v) for v in line.split()] for line in path.read_text().splitlines()])
    assert rows.shape == (41, 8)
    assert rows[0, 0] == pytest.approx(1305031102.175304, abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows[:, 4:], axis=1), 1.0, atol=1e-8)
    np.testing.assert_allclose(rows[:, 1:4], poses[:, :3, 3], atol=1e-6)
    np.testing.assert_allclose(
        Rotation.from_quat(rows[:, 4:]).as_matrix(), poses[:, :3, :3], atol=1e-6
    )


def test_plot_writes_a_png(tmp_path):
    truth = path_with_turn(60)
    path = tmp_path / "trajectory.png"
    plot_trajectories(path, under_sim3(truth, 1.0, yaw(0.02), [0.5, 0, 0]), truth, title="run")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
