"""Sequences in the window: the timeline, background matching, the probe following the cursor,
bad frames, saving and reopening results, tracks, and ``python main.py SEQUENCE``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.cli import main
from core.synthetic import make_texture
from tests.app.test_window import click_pixel, make_window

SHIFT = 5  # pixels between consecutive frames
FRAMES = 6


def write_folder(folder, count=FRAMES, bad: int | None = None):
    """``count`` (120, 160) crops of one texture, each SHIFT px right of the last, as 0.png ...;
    frame ``bad`` is a file that is no image."""
    folder.mkdir()
    texture = make_texture(256, seed=3)
    for i in range(count):
        path = folder / f"{i}.png"
        if i == bad:
            path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        else:
            rgb = texture[40:160, SHIFT * i : SHIFT * i + 160]
            cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def matched(window, count):
    return lambda: len(window.sequence.results) >= count and not window.sequence_matcher.is_running


def test_open_folder_matches_every_pair_and_the_probe_follows(qtbot, tmp_path):
    window = make_window(qtbot, "sift")
    assert window.open_sequence(str(write_folder(tmp_path / "seq")))
    session, state = window.sequence, window.state
    assert window.timeline_dock.isVisible() and window.stats_dock.isVisible()
    qtbot.waitUntil(matched(window, FRAMES - 1), timeout=30000)
    assert sorted((e.position_a, e.position_b) for e in session.results.entries()) == [
        (t, t + 1) for t in range(FRAMES - 1)
    ]
    assert [position for position, _ in window.stats_view.rows] == list(range(FRAMES - 1))
    qtbot.waitUntil(lambda: state.result is not None)
    assert np.median(state.result.matches[:, 0] - state.result.matches[:, 2]) == pytest.approx(
        SHIFT, abs=0.5
    )
    click_pixel(qtbot, window, 60, 50)
    clicked = state.probe.clicked
    assert clicked == pytest.approx((60, 50), abs=1)
    qtbot.keyClick(window, Qt.Key.Key_Right)  # the timeline's shortcut: the next frame
    qtbot.waitUntil(lambda: session.position == 1 and state.result is not None)
    assert state.image_a.rgb.shape == (120, 160, 3)
    assert state.probe is not None  # the probe follows the scrubbing, at the same pixel
    # a sparse probe snaps to the match nearest the pixel clicked
    assert np.hypot(*np.subtract(state.probe.clicked, clicked)) <= state.snap_radius
    qtbot.keyClick(window, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: session.position == FRAMES - 1)
    assert "pair" in state.status or "Frame" in state.status


def test_a_pair_not_matched_yet_shows_its_frames_at_once(qtbot, tmp_path):
    window = make_window(qtbot, "tests.app.plugins:SlowMatcher", {"stages": 20, "seconds": 0.05})
    assert window.open_sequence(str(write_folder(tmp_path / "seq")))
    qtbot.waitUntil(lambda: window.state.image_a is not None)
    assert window.state.result is None  # still matching: the frames are there already
    window.request_position(3)
    qtbot.waitUntil(lambda: window.sequence.position == 3)
    frame_3 = cv2.cvtColor(cv2.imread(str(tmp_path / "seq" / "3.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(window.state.image_a.rgb, frame_3)
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=20000)
    assert window.sequence.results.has(3, 4)  # around the cursor first
    window.close()  # cancels the matching; nothing hangs


def test_bad_frame_is_marked_and_skipped(qtbot, tmp_path):
    window = make_window(qtbot, "sift")
    assert window.open_sequence(str(write_folder(tmp_path / "seq", bad=2)))
    qtbot.waitUntil(lambda: not window.sequence_matcher.is_running, timeout=30000)
    session = window.sequence
    assert set(session.bad) == {2}
    assert sorted((e.position_a, e.position_b) for e in session.results.entries()) == [
        (0, 1),
        (3, 4),
        (4, 5),
    ]
    window.request_position(1)
    qtbot.waitUntil(lambda: session.position == 1)
    qtbot.keyClick(window, Qt.Key.Key_Right)  # over the bad frame
    qtbot.waitUntil(lambda: session.position == 3)


def test_results_saved_and_reopened_without_matching(qtbot, tmp_path):
    window = make_window(qtbot, "sift")
    folder = str(write_folder(tmp_path / "seq"))
    assert window.open_sequence(folder)
    qtbot.waitUntil(matched(window, FRAMES - 1), timeout=30000)
    assert window.save_sequence_results(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "stats.csv").is_file()
    assert len(list((tmp_path / "saved" / "results").glob("*.npz"))) == FRAMES - 1
    window.close()
    again = make_window(qtbot, "tests.app.plugins:StubbornMatcher")  # would take seconds
    assert again.open_sequence(folder, results=str(tmp_path / "saved"))
    assert len(again.sequence.results) == FRAMES - 1
    assert not again.sequence_matcher.is_running or again.sequence_matcher.plan.remaining == 0
    qtbot.waitUntil(lambda: again.state.result is not None)
    assert len(again.stats_view.rows) == FRAMES - 1


def test_reference_pairing_and_matcher_change(qtbot, tmp_path):
    window = make_window(qtbot, "sift")
    assert window.open_sequence(str(write_folder(tmp_path / "seq", count=4)))
    window.set_sequence_pairing("reference", 1, 0)
    qtbot.waitUntil(matched(window, 3), timeout=30000)
    pairs = sorted((e.position_a, e.position_b) for e in window.sequence.results.entries())
    assert pairs == [(1, 0), (2, 0), (3, 0)]
    assert window.timeline.mode == "reference"
    window.matcher_combo.setCurrentText("dense-flow")
    assert window.state.matcher == "dense-flow"
    assert window.sequence.results.label == "dense-flow"  # matched again with it
    qtbot.waitUntil(matched(window, 3), timeout=30000)
    assert not window.sequence.results.get(1, 0).is_sparse


def test_tracks_of_a_sparse_matcher(qtbot, tmp_path):
    window = make_window(qtbot, "sift")
    assert window.open_sequence(str(write_folder(tmp_path / "seq")))
    qtbot.waitUntil(matched(window, FRAMES - 1), timeout=30000)
    window.request_position(4)
    qtbot.waitUntil(lambda: window.sequence.position == 4)
    trails = window.sequence.tracks.trails(4, 10)
    assert len(trails.track_ids) > 10 and trails.age.max() >= 4
    window.pair_view.tracks_box.setChecked(True)
    point = trails.points[trails.offsets[1] - 1]  # the first track's point in frame 4
    click_pixel(qtbot, window, float(point[0]), float(point[1]))
    assert window.state.status.startswith("Track ")


def test_a_sequence_opens_scaled_down_and_the_matches_are_of_those_frames(qtbot, tmp_path):
    """``--max-size 80``: the window's frames are 80 x 60 and the pairs are matched there."""
    window = make_window(qtbot, "sift")
    assert window.open_sequence(str(write_folder(tmp_path / "seq", count=3)), max_size=80)
    assert window.sequence.reader.read(1).shape == (60, 80, 3)
    qtbot.waitUntil(matched(window, 2), timeout=30000)
    result = window.sequence.results.get(0, 1)
    assert result.keypoints_a.max(axis=0)[0] < 80 and result.keypoints_a.max(axis=0)[1] < 60


def test_command_line_opens_a_sequence_and_screenshots(tmp_path, capsys):
    folder = write_folder(tmp_path / "seq", count=3)
    shot = tmp_path / "shot.png"
    assert main([str(folder), "--matcher", "sift", "--screenshot", str(shot)]) == 0
    assert shot.is_file() and cv2.imread(str(shot)) is not None


def test_command_line_refuses_what_is_no_sequence(tmp_path, capsys):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), np.zeros((20, 20, 3), np.uint8))
    assert main([str(image), "--screenshot", str(tmp_path / "s.png")]) == 2
    assert "not a sequence" in capsys.readouterr().err
    assert main([str(tmp_path / "missing_folder")]) == 2
    pair = [str(image), str(image)]
    assert main([*pair, "--step", "2"]) == 2
    assert "need one video file or sequence folder" in capsys.readouterr().err
    assert main([*pair, "--max-size", "100"]) == 2
    assert "need one video file or sequence folder" in capsys.readouterr().err
    folder = write_folder(tmp_path / "seq", count=3)
    assert main([str(folder), "--reference", "7"]) == 2
    assert "--reference 7" in capsys.readouterr().err


def test_export_a_view_over_a_range_from_the_command_line(tmp_path, capsys):
    from core.sequence.video import VideoReader

    folder = write_folder(tmp_path / "seq", count=4)
    video = tmp_path / "pairs.mp4"
    argv = [str(folder), "--matcher", "sift", "--export-sequence", str(video)]
    assert main([*argv, "--export-frames", "0:3", "--export-view", "certainty"]) == 0
    reader = VideoReader(video)
    assert len(reader) == 3 and reader.read(2).std() > 1  # a frame per pair, each drawn
    pngs = tmp_path / "pngs"
    assert main([str(folder), "--matcher", "sift", "--export-sequence", str(pngs)]) == 0
    assert len(list(pngs.glob("*.png"))) == 4  # every frame: the last shows no pair
    assert main([*argv, "--export-view", "nonsense"]) == 2
    assert "no view named 'nonsense'" in capsys.readouterr().err


def test_docks_out_of_sight_catch_up_when_shown(qtbot, tmp_path):
    """A scrub updates the docks in sight; a tabbed-away dock shows the current pair once its
    tab is raised, and every dock does when the sequence closes."""
    window = make_window(qtbot, "sift")
    table, seen = window.matches_table, window.out_of_sight
    window.warp_view.parentWidget().raise_()  # the Matches tab is behind the Warp tab
    qtbot.waitUntil(lambda: not window.matches_dock.visibleRegion().boundingRect().isValid())
    assert window.open_sequence(str(write_folder(tmp_path / "seq")))
    qtbot.waitUntil(matched(window, FRAMES - 1), timeout=30000)
    window.show_position(2)
    state = window.state
    assert state.result is not None and seen.held(table) == ["data", "probe"]
    assert table._result is not state.result  # not drawn for a frame nobody sees
    window.matches_dock.raise_()
    qtbot.waitUntil(lambda: seen.held(table) == [])
    assert table._result is state.result
    assert table.model.rowCount() > 0
    window.warp_view.parentWidget().raise_()
    qtbot.waitUntil(lambda: not window.matches_dock.visibleRegion().boundingRect().isValid())
    window.show_position(3)
    assert seen.held(table) == ["data", "probe"]
    window.close_sequence()
    assert seen.held(table) == [] and table._result is state.result


def test_corrupt_videos_in_the_window(qtbot, tmp_path):
    """A file that is no video: one message, the window as it was. A truncated video: the
    frames before the cut are matched. A frame that cannot be decoded: marked on the
    timeline and stepped over, every pair without it matched. Nothing hangs."""
    from tests.core.sequence.videos import corrupt_frame, encode

    window = make_window(qtbot, "dense-flow")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all " * 50)
    assert not window.open_sequence(str(garbage))
    assert "garbage.mp4" in window.state.error and "\n" not in window.state.error
    assert window.sequence is None and not window.timeline_dock.isVisible()

    data = encode(tmp_path / "full.mkv", frames=20, size_hw=(96, 128)).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 8 // 10])
    assert window.open_sequence(str(cut))
    session = window.sequence
    qtbot.waitUntil(lambda: window.state.status.startswith("Matched"), timeout=30000)
    length = len(session)
    assert 4 <= length < 20  # the frames before the cut
    matched_pairs = {(e.position_a, e.position_b) for e in session.results.entries()}
    good = [(t, t + 1) for t in range(length - 1) if not {t, t + 1} & set(session.bad)]
    assert (0, 1) in matched_pairs and matched_pairs == set(good)  # all it can decode
    window.request_position(length - 1)
    qtbot.waitUntil(lambda: window._pending_position is None)
    assert window.state.image_a is not None
    window.close_sequence()

    broken, _ = corrupt_frame(tmp_path / "full.mkv", 10, tmp_path / "broken.mkv")
    assert window.open_sequence(str(broken))
    session = window.sequence
    qtbot.waitUntil(lambda: window.state.status.startswith("Matched"), timeout=30000)
    assert 10 in session.bad and window.timeline.bar.bad[10]
    pairs = {(e.position_a, e.position_b) for e in session.results.entries()}
    assert {(8, 9), (11, 12)} <= pairs and not {(9, 10), (10, 11)} & pairs
    window.request_position(9)
    qtbot.waitUntil(lambda: session.position == 9)
    qtbot.keyClick(window, Qt.Key.Key_Right)  # over the bad frame
    qtbot.waitUntil(lambda: session.position == 11)
    window.close()  # stops the matching; nothing hangs
