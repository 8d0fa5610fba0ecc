"""``match-sequence``: pairs, stats.csv, per-pair results, skipped frames and bad input."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from app.cli import main
from core.result import load_result
from core.sequence.matching import STATS_COLUMNS, sequence_pairs
from core.synthetic import default_demo_cameras, make_texture, render_scene

SHIFT = 5  # pixels between consecutive frames


def frames(count: int) -> list[np.ndarray]:
    """``count`` (120, 160, 3) crops of one texture, each SHIFT px right of the last."""
    texture = make_texture(256, seed=3)
    return [texture[40:160, SHIFT * i : SHIFT * i + 160] for i in range(count)]


def write_folder(folder, count=4):
    folder.mkdir()
    for i, rgb in enumerate(frames(count)):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def read_stats(out):
    with open(out / "stats.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_pairs_of_step_and_reference():
    assert sequence_pairs(4) == [(0, 1), (1, 2), (2, 3)]
    assert sequence_pairs(5, step=2) == [(0, 2), (1, 3), (2, 4)]
    assert sequence_pairs(4, reference=1) == [(0, 1), (2, 1), (3, 1)]


def test_folder_stats_and_results(tmp_path, capsys):
    folder = write_folder(tmp_path / "seq")
    out = tmp_path / "out"
    assert main(["match-sequence", str(folder), "--matcher", "sift", "--out", str(out)]) == 0
    columns, rows = read_stats(out)
    assert tuple(columns) == STATS_COLUMNS  # no ground truth: no pose_error_deg
    assert [(r["frame_a"], r["frame_b"]) for r in rows] == [("0", "1"), ("1", "2"), ("2", "3")]
    for row in rows:
        matches, inliers = int(row["matches"]), int(row["inliers"])
        assert matches > 50 and 0.5 * matches < inliers <= matches
        assert float(row["inlier_ratio"]) == pytest.approx(inliers / matches, rel=1e-4)
        assert 0 <= float(row["mean_certainty"]) <= 1 and float(row["seconds"]) > 0
        result = load_result(out / "results" / f"{row['frame_a']}_{row['frame_b']}.npz")
        assert result.num_matches == matches
        shift = np.median(result.matches[:, 0] - result.matches[:, 2])
        assert shift == pytest.approx(SHIFT, abs=0.5)
    assert "matching" in capsys.readouterr().err  # the progress bar


def test_reference_and_frame_range(tmp_path):
    folder = write_folder(tmp_path / "seq")
    out = tmp_path / "out"
    argv = ["match-sequence", str(folder), "--reference", "0", "--frames", "0:3"]
    assert main([*argv, "--matcher", "sift", "--out", str(out)]) == 0
    _, rows = read_stats(out)
    assert [(r["frame_a"], r["frame_b"]) for r in rows] == [("1", "0"), ("2", "0")]
    assert sorted(p.name for p in (out / "results").iterdir()) == ["1_0.npz", "2_0.npz"]


def write_rendered_kitti(folder, count=3, poses=2):
    """A KITTI layout of ``count`` 200 x 150 views of the synthetic room, the camera 0.3 m
    further right each frame; poses.txt holds the first ``poses`` of them."""
    K, T_a, _ = default_demo_cameras()
    K = np.diag([0.3125, 0.3125, 1.0]) @ K
    (folder / "image_0").mkdir(parents=True)
    cam_to_world = []
    for i in range(count):
        T = T_a.copy()
        T[:3, 3] -= T[:3, :3] @ np.array([0.3 * i, 0.0, 0.0])
        view = render_scene(T, K, size=(150, 200), antialias=1)
        cv2.imwrite(str(folder / "image_0" / f"{i:06d}.png"), view.image[..., 0])
        cam_to_world.append(np.linalg.inv(T)[:3].ravel())
    P0 = np.hstack([K, np.zeros((3, 1))]).ravel()
    (folder / "calib.txt").write_text(f"P0: {' '.join(map(str, P0))}\n")
    np.savetxt(folder / "poses.txt", np.array(cam_to_world[:poses]))
    return folder


def test_kitti_has_the_pose_error(tmp_path):
    folder = write_rendered_kitti(tmp_path / "06")
    out = tmp_path / "out"
    assert main(["match-sequence", str(folder), "--out", str(out)]) == 0
    columns, rows = read_stats(out)
    assert columns[-1] == "pose_error_deg" and len(rows) == 2
    assert 0 <= float(rows[0]["pose_error_deg"]) < 5  # frames 0 and 1 have poses
    assert rows[1]["pose_error_deg"] == ""  # frame 2 has none


def test_corrupt_frame_is_skipped_and_named(tmp_path, capsys):
    folder = write_folder(tmp_path / "seq", count=5)
    (folder / "2.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "out"
    assert main(["match-sequence", str(folder), "--matcher", "sift", "--out", str(out)]) == 0
    _, rows = read_stats(out)
    assert [(r["frame_a"], r["frame_b"]) for r in rows] == [("0", "1"), ("3", "4")]
    lines = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert lines == [
        "matchscope match-sequence: skipped 1 frame that could not be decoded: 2 (position 2)"
    ]


@pytest.mark.parametrize("make", ["missing", "text file", "empty folder"])
def test_no_sequence_exits_2_with_one_line(tmp_path, capsys, make):
    path = tmp_path / "input"
    if make == "text file":
        path.write_text("hello")
    elif make == "empty folder":
        path.mkdir()
    assert main(["match-sequence", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("matchscope: error: ")


def test_max_size_is_kept_with_the_results_for_the_window(tmp_path):
    """``--max-size 80`` halves the frames (the shift with them) and goes into run.json; the
    window reopening the results takes it, and refuses another size."""
    import argparse

    from app.cli_sequence import read_run_info
    from app.cli_window import _check_results
    from core.errors import MatchscopeError

    folder = write_folder(tmp_path / "seq")
    out = tmp_path / "out"
    argv = ["match-sequence", str(folder), "--matcher", "sift", "--max-size", "80"]
    assert main([*argv, "--out", str(out)]) == 0
    result = load_result(out / "results" / "0_1.npz")
    assert np.median(result.matches[:, 0] - result.matches[:, 2]) == pytest.approx(
        SHIFT / 2, abs=0.5
    )
    assert read_run_info(out)[2] == 80
    args = argparse.Namespace(results=str(out), max_size=None, matcher="x", settings=[])
    _check_results(args, [])
    assert args.max_size == 80 and args.matcher == "sift"
    args.max_size = 100
    with pytest.raises(MatchscopeError, match="matched at --max-size 80, not 100"):
        _check_results(args, [])
