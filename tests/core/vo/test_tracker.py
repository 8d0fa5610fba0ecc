"""The VO's geometry on exact data, and the whole tracker on the synthetic room sequence
(turns and speed changes), with tracking loss and recovery."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import MatchscopeError
from core.sequence.base import Intrinsics, SequenceReader
from core.vo.backend import (
    Keyframe,
    SparseMap,
    initialise,
    local_bundle_adjustment,
    project,
    solve_pnp,
    triangulate,
)
from core.vo.evaluation import evaluate
from core.vo.frontend import make_frontend
from core.vo.run import run_vo
from core.vo.synthetic import SyntheticSequence

K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
FRAMES = 90
SIZE_HW = (240, 320)


def rotation(yaw_deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def camera(yaw_deg: float, centre) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation(yaw_deg), centre
    return pose


def scene_points(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.uniform(-3, 3, count), rng.uniform(-2, 2, count), rng.uniform(4, 10, count)]
    )


def test_triangulate_keeps_points_in_front_with_parallax():
    pose_a, pose_b = np.eye(4), camera(-2.0, (0.5, 0.0, 0.0))
    points = scene_points(50)
    pixels_a, _ = project(K, pose_a, points)
    pixels_b, _ = project(K, pose_b, points)
    found, good, parallax = triangulate(K, pose_a, pose_b, pixels_a, pixels_b, 0.5)
    assert good.all() and np.abs(found - points).max() < 1e-6
    assert (parallax > 0.5).all()
    behind = points * [1, 1, -1]  # mirrored behind both cameras: the same rays are impossible
    pixels_a, _ = project(K, pose_a, behind)
    pixels_b, _ = project(K, pose_b, behind)
    assert not triangulate(K, pose_a, pose_b, pixels_a, pixels_b)[1].any()
    # no baseline: no parallax, nothing kept
    pixels_b, _ = project(K, pose_a, points)
    assert not triangulate(K, pose_a, pose_a, pixels_a, pixels_b)[1].any()


def test_pnp_finds_the_pose_among_outliers():
    truth = camera(7.0, (0.3, -0.1, 0.8))
    points = scene_points(200, seed=1)
    pixels, _ = project(K, truth, points)
    pixels[:40] += np.random.default_rng(2).uniform(20, 60, (40, 2))  # wrong matches
    result = solve_pnp(K, points, pixels, np.eye(4), seed=0)
    assert result is not None
    assert np.abs(result.pose - truth).max() < 1e-6
    assert not result.inliers[:40].any() and result.inliers[40:].all()
    assert solve_pnp(K, points[:5], pixels[:5], np.eye(4), seed=0) is None  # too few
    # a front-end's keypoint precision sets the threshold (XFeat's match_error_px is 4 px)
    pixels[40:80] += 3.0 / np.sqrt(2)  # 3 px off: outliers at 2 px, inliers at 4 px
    assert solve_pnp(K, points, pixels, np.eye(4), seed=0).inliers[40:80].sum() < 10
    assert solve_pnp(K, points, pixels, np.eye(4), seed=0, threshold_px=4.0).inliers[40:].all()
    assert make_frontend("xfeat", Intrinsics(K, SIZE_HW), 64).match_error_px == 4.0


def test_two_view_start_recovers_the_motion_up_to_scale():
    truth_b = camera(-3.0, (0.6, 0.05, 0.2))
    points = scene_points(300, seed=3)
    pixels_a, _ = project(K, np.eye(4), points)
    pixels_b, _ = project(K, truth_b, points)
    matches = np.column_stack([np.arange(300), np.arange(300)])
    start = initialise(K, pixels_a, pixels_b, matches, seed=0)
    assert start is not None and len(start.indices) > 250
    direction = truth_b[:3, 3] / np.linalg.norm(truth_b[:3, 3])
    assert np.linalg.norm(start.pose_b[:3, 3]) == pytest.approx(1.0)
    assert np.dot(start.pose_b[:3, 3], direction) > 0.9999
    assert np.abs(start.pose_b[:3, :3] - truth_b[:3, :3]).max() < 1e-4
    scale = np.linalg.norm(truth_b[:3, 3])
    np.testing.assert_allclose(start.points * scale, points[start.indices[:, 0]], atol=1e-3)
    no_motion = initialise(K, pixels_a, pixels_a, matches, seed=0)  # no parallax: no start
    assert no_motion is None


def test_local_bundle_adjustment_pulls_noisy_poses_and_points_back():
    poses = [camera(-2.0 * i, (0.4 * i, 0.0, 0.1 * i)) for i in range(4)]
    points = scene_points(150, seed=4)
    sparse_map = SparseMap()
    rng = np.random.default_rng(5)
    for index, pose in enumerate(poses):
        pixels, _ = project(K, pose, points)
        noisy = pose.copy()
        if index >= 2:  # the two oldest are the fixed gauge
            noisy[:3, 3] += rng.normal(0, 0.02, 3)
        sparse_map.add_keyframe(
            Keyframe(
                index,
                noisy,
                pixels,
                np.ones(150),
                np.zeros((150, 32), np.uint8),
                np.zeros((150, 3), np.uint8),
                np.full(150, -1),
            )
        )
    for j, point in enumerate(points):
        pid = sparse_map.add_point(point + rng.normal(0, 0.05, 3), np.zeros(3), None)
        for kf_id in range(4):
            sparse_map.observe(kf_id, j, pid)
    error = local_bundle_adjustment(K, sparse_map, [0, 1, 2, 3])
    assert error < 1e-3
    for index in (2, 3):
        assert np.abs(sparse_map.keyframes[index].pose[:3, 3] - poses[index][:3, 3]).max() < 1e-3
    positions, _, counts = sparse_map.arrays()
    assert np.abs(positions - points).max() < 1e-2 and (counts == 4).all()


@pytest.fixture(scope="module")
def room():
    """90 frames of the synthetic room (turns, speed changes), read once."""
    sequence = SyntheticSequence(FRAMES, SIZE_HW)
    return sequence, [sequence.read(i) for i in range(FRAMES)]


class Frames(SequenceReader):
    """Given frames with a sequence's camera and poses; ``black`` positions read black."""

    def __init__(self, sequence, frames, black=()):
        self.name, self.frames = sequence.name, sequence.frames
        self.intrinsics, self.poses = sequence.intrinsics, sequence.poses
        self._images, self._black = frames, set(black)

    def read(self, position):
        image = self._images[position]
        return np.zeros_like(image) if position in self._black else image


def test_orb_tracks_the_room_through_turns_and_speed_changes(room):
    sequence, frames = room
    run = run_vo(Frames(sequence, frames), "orb")
    assert run.tracked.all()
    figures = evaluate(run.poses, sequence.poses, None, run.tracked, run.seconds)
    assert figures["ate_percent"] < 2.0, figures
    positions, colours, counts = run.odometry.map.arrays()
    assert len(positions) > 500 and (counts >= 2).all() and colours.dtype == np.uint8
    short = Frames(sequence, frames)
    short.frames = sequence.frames[:30]
    first, again = run_vo(short, "orb"), run_vo(short, "orb")
    np.testing.assert_array_equal(again.poses, first.poses)  # seeded: a run repeats exactly


def test_black_frames_are_lost_then_tracking_recovers(room):
    sequence, frames = room
    black = range(40, 44)
    run = run_vo(Frames(sequence, frames, black), "orb")
    assert not run.tracked[40:44].any() and run.tracked[:40].all()
    assert run.tracked[44:].mean() > 0.9  # relocalised against the last keyframes
    np.testing.assert_array_equal(run.poses[43], run.poses[39])  # a lost frame repeats the last


def test_detection_runs_ahead_in_a_thread_and_changes_nothing(room, monkeypatch):
    """`run_vo` detects the next frame in a thread while one is tracked; the poses are those
    of feeding `process` frame after frame."""
    import threading

    from core.vo.tracker import VisualOdometry

    sequence, frames = room
    reader = Frames(sequence, frames)
    reader.frames = sequence.frames[:20]
    threads = set()
    detect = VisualOdometry.detect

    def spying(self, rgb):
        threads.add(threading.current_thread().name)
        return detect(self, rgb)

    monkeypatch.setattr(VisualOdometry, "detect", spying)
    run = run_vo(reader, "orb")
    assert threading.main_thread().name not in threads
    assert run.image_size == (SIZE_HW[1], SIZE_HW[0])
    odometry = VisualOdometry(make_frontend("orb", sequence.intrinsics))
    for position in range(20):
        odometry.process(position, frames[position])
    np.testing.assert_array_equal(run.poses[-1], odometry.trajectory()[19])


def test_orb_keypoints_are_spread_over_the_image(room):
    """The strongest corner of each cell comes first, so a textured corner cannot take every
    keypoint; OpenCV's own selection (the strongest anywhere) covers fewer cells."""
    import cv2

    from core.vo.frontend import OrbFrontend, spread_keypoints

    clustered = np.random.default_rng(0).uniform(0, 30, (100, 2))  # one 40 px cell, strong
    sparse = np.array([[50.0, 50.0], [130.0, 10.0], [210.0, 90.0], [10.0, 170.0], [90, 250]])
    points = np.vstack([clustered, sparse])
    response = np.r_[np.linspace(10, 20, 100), np.ones(5)]
    chosen = spread_keypoints(points, response, 10, 40.0)
    assert set(range(100, 105)) <= set(chosen.tolist()) and len(chosen) == 10
    assert 99 in chosen  # the cluster's strongest is first of all
    np.testing.assert_array_equal(spread_keypoints(points, response, 200, 40.0), np.arange(105))

    _, frames = room
    frontend = OrbFrontend(Intrinsics(K, SIZE_HW), max_features=300)
    features = frontend.detect(frames[0])
    grey = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    plain = cv2.ORB_create(nfeatures=300, scaleFactor=1.2, nlevels=8, fastThreshold=5)
    opencv = np.array([k.pt for k in plain.detect(grey, None)])

    def cells(pixels):
        return len({(int(x // 40), int(y // 40)) for x, y in pixels})

    assert len(features) == 300 and features.descriptors.shape == (300, 32)
    assert cells(features.keypoints) > cells(opencv)


def test_matching_only_some_rows_keeps_their_matches(room):
    """`match_rows` (tracking matches only the keypoints that see a point) finds for those
    rows what matching every keypoint finds, apart from a keypoint of b two rows want."""
    _, frames = room
    frontend = make_frontend("orb", Intrinsics(K, SIZE_HW))
    a, b = frontend.detect(frames[0]), frontend.detect(frames[1])
    full = frontend.match(a, b)
    np.testing.assert_array_equal(frontend.match_rows(a, np.arange(len(a)), b), full)
    rows = np.arange(0, len(a), 3)
    some = frontend.match_rows(a, rows, b)
    assert np.isin(some[:, 0], rows).all() and len(np.unique(some[:, 1])) == len(some)
    kept = full[np.isin(full[:, 0], rows)]
    assert {tuple(m) for m in kept} <= {tuple(m) for m in some}


def test_unknown_frontend_and_missing_intrinsics(room):
    sequence, frames = room
    with pytest.raises(MatchscopeError, match="--frontend nope"):
        make_frontend("nope", sequence.intrinsics)
    reader = Frames(sequence, frames)
    reader.intrinsics = None
    with pytest.raises(MatchscopeError, match="intrinsics"):
        run_vo(reader, "orb")


def test_sift_frontend_describes_and_matches_a_shifted_frame(room):
    _, frames = room
    frontend = make_frontend("sift", Intrinsics(K, SIZE_HW))
    a = frontend.detect(frames[0])
    shifted = np.roll(frames[0], 7, axis=1)
    b = frontend.detect(shifted)
    matches = frontend.match(a, b)
    assert len(matches) > 20 and a.descriptors.shape[1] == 128
    moved = b.keypoints[matches[:, 1]] - a.keypoints[matches[:, 0]]
    assert np.median(moved[:, 0]) == pytest.approx(7, abs=0.5)
    assert a.sigma_px.min() >= 1.0 and a.colours.shape == (len(a), 3)
    assert len(np.unique(matches[:, 1])) == len(matches)  # one match per keypoint of b


def test_vo_command_writes_the_run_and_its_evaluation(room, tmp_path, capsys):
    import json

    from app.cli import main
    from core.vo.evaluation import EVAL_KEYS, read_kitti_trajectory
    from core.vo.run import STATS_COLUMNS
    from core.vo.synthetic import write_kitti_layout

    sequence, frames = room
    reader = Frames(sequence, frames)
    reader.frames = sequence.frames[:40]
    folder = write_kitti_layout(tmp_path / "room", reader)
    out = tmp_path / "out"
    assert main(["vo", str(folder), "--frontend", "orb", "--out", str(out), "--eval"]) == 0
    assert "40 of 40 frames tracked" in capsys.readouterr().out
    poses = read_kitti_trajectory(out / "trajectory_kitti.txt")
    assert poses.shape == (40, 4, 4)
    tum = np.loadtxt(out / "trajectory_tum.txt")
    assert tum.shape == (40, 8) and tum[1, 0] == pytest.approx(0.1)  # the sequence's times
    rows = (out / "stats.csv").read_text().splitlines()
    assert rows[0].split(",") == list(STATS_COLUMNS) and len(rows) == 41
    figures = json.loads((out / "eval.json").read_text())
    assert set(EVAL_KEYS) <= set(figures) and figures["tracked_frames"] == 40
    assert figures["t_rel_percent"] is None  # a path far shorter than 100 m
    assert (out / "trajectories.png").read_bytes()[:4] == b"\x89PNG"
    # a plain image folder: no ground truth (--eval is refused before any work, in one line)
    # and no intrinsics unless given
    images, o2 = str(folder / "image_0"), str(tmp_path / "o2")
    assert main(["vo", images, "--out", o2]) == 2
    assert "intrinsics" in capsys.readouterr().err
    calibration = tmp_path / "camera.yaml"
    fx, cx, cy = (
        sequence.intrinsics.K[0, 0],
        sequence.intrinsics.K[0, 2],
        sequence.intrinsics.K[1, 2],
    )
    calibration.write_text(f"fx: {fx}\nfy: {fx}\ncx: {cx}\ncy: {cy}\n")
    assert main(["vo", images, "--intrinsics", str(calibration), "--out", o2, "--eval"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--eval needs ground-truth poses" in error and "\n" not in error
    assert main(["vo", images, "--intrinsics", str(calibration), "--out", o2]) == 0


def test_bench_vo_beats_the_chain_on_the_room(room, capsys):
    from core.bench.vo import measure_vo, print_report

    sequence, frames = room
    figures = measure_vo(Frames(sequence, frames), ["orb"], seed=0)
    ours, chain = figures["ours"]["orb"], figures["chain"]
    assert chain["frames"] == ours["frames"] == FRAMES
    assert ours["ate_rmse_m"] * 2 < chain["ate_rmse_m"]  # unit steps cannot follow the speed
    print_report({**figures, "source": "room", "machine": {"cpu": "x", "cpu_count": 2,
                  "load_before": 0.1, "load_average": 0.2}})  # fmt: skip
    assert "times lower than the chain's" in capsys.readouterr().out
    reader = Frames(sequence, frames)
    reader.poses = None
    with pytest.raises(MatchscopeError, match="ground-truth poses"):
        measure_vo(reader, ["orb"], seed=0)


def test_bench_vo_on_every_third_frame_of_the_room(tmp_path, capsys):
    """``--frames ::3`` on the synthetic room: three times the motion per frame."""
    import json

    from app.cli import main

    out = tmp_path / "vo.json"
    assert main(["bench", "vo", "--synthetic", "36", "--frames", "::3", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["source"].endswith("--frames ::3")
    assert figures["ours"]["orb"]["frames"] == figures["chain"]["frames"] == 12
    assert "times lower than the chain's" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["xfeat", "xfeat-lighterglue", "aliked-lightglue"])
def test_trained_frontends_detect_once_and_match(room, name):
    """The shipped matchers as front-ends: unit descriptors kept as arrays for the map, the
    matcher's own features for its matching, matches consistent with the room's motion."""
    sequence, frames = room
    frontend = make_frontend(name, sequence.intrinsics, 512)
    a, b = frontend.detect(frames[0]), frontend.detect(frames[1])
    assert 0 < len(a) <= 512 and a.native is not None
    np.testing.assert_allclose(np.linalg.norm(a.descriptors, axis=1), 1.0, atol=1e-3)
    matches = frontend.match(a, b)
    assert len(matches) > 30 and len(np.unique(matches[:, 1])) == len(matches)
    moved = np.linalg.norm(b.keypoints[matches[:, 1]] - a.keypoints[matches[:, 0]], axis=1)
    assert np.median(moved) < 10  # consecutive frames: small displacements
    same = frontend.distances(a.descriptors[matches[:, 0]], b.descriptors[matches[:, 1]])
    assert np.median(same) < frontend.max_distance


def test_the_xfeat_frontend_drops_matches_below_its_cosine(room):
    sequence, frames = room
    frontend = make_frontend("xfeat", sequence.intrinsics, 512)
    a, b = frontend.detect(frames[0]), frontend.detect(frames[5])
    matches = frontend.match(a, b)
    cosine = np.sum(a.descriptors[matches[:, 0]] * b.descriptors[matches[:, 1]], axis=1)
    assert len(matches) > 30 and cosine.min() >= 0.82 - 1e-3
    frontend.matcher.conf["min_cossim"] = -1.0  # every mutual nearest neighbour
    assert len(frontend.match(a, b)) > len(matches)  # the gate removed some


def test_xfeat_matching_only_some_rows_is_the_full_match_on_those_rows(room):
    """XFeat's `match_rows` (two (R, N) products) keeps exactly the full mutual nearest
    neighbours that start at the rows: the backward check runs over all of a."""
    sequence, frames = room
    frontend = make_frontend("xfeat", sequence.intrinsics, 512)
    a, b = frontend.detect(frames[0]), frontend.detect(frames[3])
    full = frontend.match(a, b)
    np.testing.assert_array_equal(frontend.match_rows(a, np.arange(len(a)), b), full)
    rows = np.arange(1, len(a), 4)
    some = frontend.match_rows(a, rows, b)
    np.testing.assert_array_equal(some, full[np.isin(full[:, 0], rows)])
    assert len(some) > 10 and frontend.match_rows(a, rows[:0], b).shape == (0, 2)


def test_the_keyframe_share_is_the_frontends(room):
    """XFeat re-finds fewer of a keyframe's points than ORB, so its frames become keyframes
    at a lower tracked share: 40 of a keyframe's 100 points is a keyframe for ORB only."""
    from core.vo.tracker import VisualOdometry

    sequence, _ = room
    wants = {}
    for name in ("orb", "xfeat"):
        odometry = VisualOdometry(make_frontend(name, sequence.intrinsics, 512))
        odometry._last_keyframe_inliers, odometry._frames_since_keyframe = 100, 1
        wants[name] = odometry._wants_keyframe(40)
    assert wants == {"orb": True, "xfeat": False}


def test_xfeat_tracks_the_start_of_the_room(room):
    sequence, frames = room
    reader = Frames(sequence, frames)
    reader.frames = sequence.frames[:30]
    run = run_vo(reader, "xfeat")
    assert run.tracked.mean() > 0.9 and len(run.odometry.map.points) > 200


def test_fountain_a_real_path_with_turns(shared_data, tmp_path):
    """fountain-P11 (11 frames walking around a fountain, about 10 degrees of turn and 1.7 m
    between frames, up to 16 degrees) at 1229 px: ORB (2663 keypoints by default there, 2000
    set) tracks every frame within 0.5 % of the path and at least twice below the chain's
    error; the run remembers ``--max-size`` for the window."""
    import json

    from app.cli import main
    from core.vo.scene import load_scene, parse_source

    fountain = str(shared_data / "strecha_mvs" / "fountain-P11")
    size = ["--max-size", "1229"]
    out = tmp_path / "bench.json"
    argv = ["bench", "vo", "--sequence", fountain, *size]
    assert main([*argv, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    ours, chain = figures["ours"]["orb"], figures["chain"]
    assert ours["tracked_frames"] == ours["frames"] == 11
    assert ours["ate_percent"] <= 0.5 and ours["ate_rmse_m"] * 2 < chain["ate_rmse_m"]
    assert figures["source"].endswith("--max-size 1229")
    run = tmp_path / "run"
    argv = ["vo", fountain, *size, "--set", "max_features=2000", "--out", str(run), "--eval"]
    assert main(argv) == 0
    assert json.loads((run / "eval.json").read_text())["ate_percent"] <= 0.5
    assert parse_source(load_scene(run).source)["max_size"] == 1229


def test_orb_keeps_kittis_keypoint_density_on_larger_frames():
    from core.vo.frontend import OrbFrontend, orb_keypoint_count

    assert orb_keypoint_count((370, 1226)) == orb_keypoint_count((480, 640)) == 1200
    assert orb_keypoint_count((819, 1229)) == 2663 and orb_keypoint_count((2048, 3072)) == 3000
    assert orb_keypoint_count(None) == 1200
    assert OrbFrontend(Intrinsics(K, (819, 1229))).max_features == 2663
    assert OrbFrontend(Intrinsics(K, (819, 1229)), 500).max_features == 500


def test_loose_matches_find_more_of_a_wide_turn(shared_data):
    """Relocalisation's `match_loosely` (ratio 0.9) against `match` (0.7) across fountain's
    widest step (frames 7 and 8, 16 degrees): more matches, more of them correct."""
    from core.sequence import open_sequence

    reader = open_sequence(shared_data / "strecha_mvs" / "fountain-P11", max_size=1229)
    frontend = make_frontend("orb", reader.intrinsics)
    a, b = frontend.detect(reader.read(7)), frontend.detect(reader.read(8))
    relative = np.linalg.inv(reader.poses[8]) @ reader.poses[7]  # camera 7 -> camera 8
    t = relative[:3, 3]
    cross = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    K_inv = np.linalg.inv(frontend.K)
    F = K_inv.T @ cross @ relative[:3, :3] @ K_inv

    def correct(matches):
        x_a = np.c_[a.ideal[matches[:, 0]], np.ones(len(matches))]
        x_b = np.c_[b.ideal[matches[:, 1]], np.ones(len(matches))]
        lines = x_a @ F.T
        distance = np.abs(np.sum(x_b * lines, 1)) / np.linalg.norm(lines[:, :2], axis=1)
        return int((distance < 2.0).sum())

    strict, loose = frontend.match(a, b), frontend.match_loosely(a, b)
    assert len(loose) > 1.3 * len(strict) and correct(loose) > correct(strict)


def test_bench_vo_settings_go_to_every_frontend_or_to_the_named_one():
    from core.bench.vo import frontend_options

    settings = ["orb.max-features=700", "max_features=900", "dino.backbone=dinov2_vitb14"]
    assert frontend_options(settings, "orb") == {"max_features": "700"}
    assert frontend_options(settings, "sift") == {"max_features": "900"}
    assert frontend_options(settings, "dino") == {
        "max_features": "900",
        "backbone": "dinov2_vitb14",
    }
    with pytest.raises(MatchscopeError, match=r"--set nope\.max_features=3: nope is no front-end"):
        frontend_options(["nope.max_features=3"], "orb")
    with pytest.raises(MatchscopeError, match="--set expects KEY=VALUE"):
        frontend_options(["max_features"], "orb")
