"""`SequenceResults`: budget and eviction (statistics kept), results read back from disk, damaged
files, save and reopen, match-sequence folders, stats.csv round trip, a worker thread adding."""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np
import pytest

from core.errors import InputError, MatchscopeError
from core.matchers import create_matcher
from core.result import MatchResult
from core.sequence.base import FrameInfo, SequenceReader
from core.sequence.folder import ImageFolderReader
from core.sequence.matching import (
    PairStats,
    match_sequence,
    read_stats_csv,
    sequence_pairs,
    write_stats_csv,
)
from core.sequence.results import SequenceResults, open_results
from core.sequence.select import select_frames
from tests.core.sequence.test_match_sequence import frames

KIB = 1024
RESULT_BYTES = KIB + 40  # result_of(1): the blob and 2 matches with their certainty


class IdsReader(SequenceReader):
    """Frames with the given ids and no pixels (results never read them)."""

    def __init__(self, frame_ids, poses=None):
        self.frames = [FrameInfo(i, frame_id) for i, frame_id in enumerate(frame_ids)]
        self.poses = poses

    def read(self, position):
        raise AssertionError("results never decode frames")


def result_of(kib: int, seed: int = 0) -> MatchResult:
    """A sparse result holding ``kib`` KiB in one intermediate plus 2 random matches."""
    rng = np.random.default_rng(seed)
    return MatchResult(
        matches=rng.uniform(0, 100, (2, 4)).astype(np.float32),
        match_certainty=np.ones(2, np.float32),
        intermediates={"blob": rng.integers(0, 255, kib * KIB, dtype=np.uint8)},
    )


def stats_of(reader, a, b, pose=None) -> PairStats:
    frame_a, frame_b = reader.frames[a].frame_id, reader.frames[b].frame_id
    return PairStats(frame_a, frame_b, 2, 1, 0.5, 1.0, 0.25, pose)


def filled(reader, budget, pairs, kib=1) -> SequenceResults:
    results = SequenceResults(reader, budget, "sift")
    for i, (a, b) in enumerate(pairs):
        results.add(a, b, result_of(kib, seed=i), stats_of(reader, a, b))
    return results


def same_arrays(x: MatchResult, y: MatchResult) -> bool:
    return np.array_equal(x.matches, y.matches) and np.array_equal(
        x.intermediates["blob"], y.intermediates["blob"]
    )


def test_results_are_dropped_least_recently_used_and_their_stats_kept():
    reader = IdsReader(range(6))
    results = filled(reader, 3 * RESULT_BYTES, [(0, 1), (1, 2), (2, 3)])
    assert results.nbytes == 3 * RESULT_BYTES and not results.over_budget
    assert results.get(0, 1) is not None  # used again: (1, 2) is now the least recently used
    assert results.add(3, 4, result_of(1), stats_of(reader, 3, 4)) == [(1, 2)]
    assert results.get(1, 2) is None and not results.has_result(1, 2)
    assert results.has(1, 2) and results.stats(1, 2).frame_b == 2  # the statistics stay
    assert results.done_positions() == {0, 1, 2, 3}
    assert [(e.position_a, e.result is None) for e in results.entries()] == [
        (0, False),
        (1, True),
        (2, False),
        (3, False),
    ]
    assert results.nbytes == 3 * RESULT_BYTES


def test_the_newest_result_stays_alone_over_budget():
    reader = IdsReader(range(4))
    results = filled(reader, 2 * KIB, [(0, 1)])
    assert results.add(1, 2, result_of(4), stats_of(reader, 1, 2)) == [(0, 1)]
    assert results.has_result(1, 2) and results.over_budget
    assert results.set_budget(KIB) == []  # still the newest: it stays
    assert results.get(1, 2) is not None
    results.add(2, 3, result_of(1), stats_of(reader, 2, 3))  # now the big one goes
    assert not results.has_result(1, 2) and results.has_result(2, 3)
    assert results.nbytes == RESULT_BYTES and results.over_budget  # 1064 > 1024, alone


def test_get_reads_a_saved_result_back_and_counts_it(tmp_path):
    reader = IdsReader(range(4))
    kept = {pair: result_of(1, seed=i) for i, pair in enumerate([(0, 1), (1, 2), (2, 3)])}
    results = SequenceResults(reader, 10 * KIB)
    for (a, b), result in kept.items():
        results.add(a, b, result, stats_of(reader, a, b))
    assert results.save(tmp_path / "out") == 3
    assert results.set_budget(RESULT_BYTES) == [(0, 1), (1, 2)]  # (2, 3), the newest, stays
    assert results.has_result(0, 1) and results.entries()[0].path.name == "0_1.npz"
    loaded = results.get(0, 1)
    assert loaded is not kept[(0, 1)] and same_arrays(loaded, kept[(0, 1)])
    assert results.nbytes == RESULT_BYTES  # read back, it counts; (2, 3) was dropped for it
    assert results.entries()[2].result is None and results.has_result(2, 3)
    assert results.save(tmp_path / "out") == 0  # all already there


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "deleted"])
def test_a_damaged_npz_gives_none_and_is_forgotten(tmp_path, damage):
    reader = IdsReader(range(3))
    filled(reader, 10 * KIB, [(0, 1), (1, 2)]).save(tmp_path)
    npz = tmp_path / "results" / "0_1.npz"
    if damage == "deleted":
        npz.unlink()
    else:
        data = npz.read_bytes()
        damaged = {"truncated": data[: len(data) // 2], "garbage": b"hello", "empty": b""}
        npz.write_bytes(damaged[damage])
    results = open_results(tmp_path, reader, 10 * KIB)
    assert results.has_result(0, 1) == (damage != "deleted")
    assert results.get(0, 1) is None
    assert not results.has_result(0, 1) and results.has(0, 1) and results.stats(0, 1).matches == 2
    assert results.get(1, 2) is not None and results.nbytes == RESULT_BYTES


def test_adding_a_pair_again_replaces_it_and_its_file(tmp_path):
    reader = IdsReader(range(3))
    results = filled(reader, 10 * KIB, [(0, 1)])
    results.save(tmp_path)
    again = result_of(2, seed=9)
    results.add(0, 1, again, stats_of(reader, 0, 1))
    assert results.get(0, 1) is again and results.entries()[0].path is None
    assert results.nbytes == again.nbytes and len(results) == 1


def test_save_and_open_results_round_trip(tmp_path):
    poses = np.full((4, 4, 4), np.nan)
    reader = IdsReader(["a", "b", "c", "d"], poses=poses)
    results = SequenceResults(reader, 10 * KIB, "sift")
    pairs = [(2, 3), (0, 1), (1, 2)]
    for i, (a, b) in enumerate(pairs):
        pose = float("nan") if a == 1 else 1.5 * a
        results.add(a, b, result_of(1, seed=i), stats_of(reader, a, b, pose))
    assert results.save(tmp_path / "out") == 3
    header = (tmp_path / "out" / "stats.csv").read_text().splitlines()
    assert header[0].endswith(",pose_error_deg") and header[1].startswith("a,b,")
    reopened = open_results(tmp_path / "out", reader, 10 * KIB)
    assert reopened.nbytes == 0 and reopened.unmatched_rows == 0
    assert [(e.position_a, e.position_b) for e in reopened.entries()] == sorted(pairs)
    assert reopened.pairing == ("step", 1)
    for before, after in zip(results.entries(), reopened.entries(), strict=True):
        assert after.result is None and after.path.is_file()
        assert after.stats.frame_a == before.stats.frame_a
        assert after.stats.inlier_ratio == before.stats.inlier_ratio
        if math.isnan(before.stats.pose_error_deg):
            assert math.isnan(after.stats.pose_error_deg)
        else:
            assert after.stats.pose_error_deg == before.stats.pose_error_deg
        assert same_arrays(reopened.get(after.position_a, after.position_b), before.result)
    elsewhere = open_results(tmp_path / "out", reader, 0)  # nothing held: copied, not saved
    assert elsewhere.save(tmp_path / "copy") == 3
    assert sorted(p.name for p in (tmp_path / "copy" / "results").iterdir()) == [
        "a_b.npz",
        "b_c.npz",
        "c_d.npz",
    ]


def test_save_to_an_unwritable_place_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    results = filled(IdsReader(range(2)), KIB * 10, [(0, 1)])
    with pytest.raises(MatchscopeError) as error:
        results.save(tmp_path / "file" / "out")
    assert len(str(error.value).splitlines()) == 1


def test_pairing_is_inferred_from_the_pairs():
    reader = IdsReader(range(6))
    assert filled(reader, KIB, []).pairing is None
    assert filled(reader, KIB, [(0, 2), (3, 5)]).pairing == ("step", 2)
    assert filled(reader, KIB, [(0, 2), (5, 2)]).pairing == ("reference", 2)
    assert filled(reader, KIB, [(0, 1), (1, 3)]).pairing is None


def test_stats_csv_round_trip_with_empty_pose_cells(tmp_path):
    rows = [
        PairStats(0, 12, 30, 20, 2 / 3, 0.5, 0.01, 0.25),
        PairStats("1305031102.175304", "007", 0, 0, 0.0, float("nan"), 0.5, float("nan")),
    ]
    write_stats_csv(rows, tmp_path / "stats.csv", with_pose=True)
    back = read_stats_csv(tmp_path / "stats.csv")
    assert (back[0].frame_a, back[0].frame_b) == (0, 12)
    assert (back[1].frame_a, back[1].frame_b) == ("1305031102.175304", "007")
    assert back[0].matches == 30 and back[0].inlier_ratio == pytest.approx(2 / 3, rel=1e-5)
    assert back[0].pose_error_deg == 0.25
    assert math.isnan(back[1].mean_certainty) and math.isnan(back[1].pose_error_deg)
    write_stats_csv(rows, tmp_path / "stats.csv", with_pose=False)
    assert all(row.pose_error_deg is None for row in read_stats_csv(tmp_path / "stats.csv"))


@pytest.mark.parametrize(
    "text",
    [
        None,  # no file
        "",
        "a,b,c\n1,2,3\n",
        "frame_a,frame_b,matches,inliers,inlier_ratio,mean_certainty,seconds\n0,1,many,1,1,1,1\n",
        "frame_a,frame_b,matches,inliers,inlier_ratio,mean_certainty,seconds\n0,1,2\n",
    ],
)
def test_a_malformed_stats_csv_is_one_line(tmp_path, text):
    if text is not None:
        (tmp_path / "stats.csv").write_text(text)
    with pytest.raises(InputError) as error:
        open_results(tmp_path, IdsReader(range(2)), KIB)
    assert len(str(error.value).splitlines()) == 1 and "stats.csv" in str(error.value)


def write_numbered_folder(folder, numbers):
    """Frames of test_match_sequence's shifted texture as ``N.png`` for the given numbers."""
    folder.mkdir()
    for number, rgb in zip(numbers, frames(len(numbers)), strict=True):
        cv2.imwrite(str(folder / f"{number}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def test_a_match_sequence_folder_with_a_gap_reopens_on_positions(tmp_path):
    reader = ImageFolderReader(write_numbered_folder(tmp_path / "seq", [0, 1, 3, 4]))
    out = tmp_path / "out"
    pairs = sequence_pairs(len(reader))
    match_sequence(reader, create_matcher("sift"), pairs, out, matcher_name="sift")
    results = open_results(out, reader, 64 * 2**20, label="sift")
    entries = results.entries()
    assert [(e.position_a, e.position_b) for e in entries] == pairs == [(0, 1), (1, 2), (2, 3)]
    assert [(e.stats.frame_a, e.stats.frame_b) for e in entries] == [(0, 1), (1, 3), (3, 4)]
    assert results.pairing == ("step", 1) and results.unmatched_rows == 0
    across_the_gap = results.get(1, 2)
    assert across_the_gap.num_matches == entries[1].stats.matches > 50
    assert results.nbytes == across_the_gap.nbytes
    first_three = open_results(out, select_frames(reader, "0:3"), 64 * 2**20)
    assert first_three.unmatched_rows == 1 and len(first_three) == 2  # frame 4 is not there
    assert open_results(out, reader, 0, step=2).other_pair_rows == 3


def test_a_reference_folder_reopens_with_its_pairing(tmp_path):
    reader = ImageFolderReader(write_numbered_folder(tmp_path / "seq", [5, 6, 7]))
    out = tmp_path / "out"
    match_sequence(reader, create_matcher("sift"), sequence_pairs(3, reference=1), out)
    results = open_results(out, reader, 64 * 2**20, reference=1)
    assert results.pairing == ("reference", 1) and results.other_pair_rows == 0
    assert [(e.stats.frame_a, e.stats.frame_b) for e in results.entries()] == [(5, 6), (7, 6)]
    assert all(results.has_result(a, 1) for a in (0, 2))


def test_a_worker_adds_while_another_thread_gets():
    count = 200
    reader = IdsReader(range(count + 1))
    results = SequenceResults(reader, 20 * RESULT_BYTES)
    failures = []

    def work():
        try:
            for a in range(count):
                results.add(a, a + 1, result_of(1, seed=a), stats_of(reader, a, a + 1))
        except Exception as exc:  # reported by the main thread
            failures.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    while worker.is_alive():
        for entry in results.entries():
            results.get(entry.position_a, entry.position_b)
            results.has_result(entry.position_a, entry.position_b)
        results.done_positions()
    worker.join()
    assert failures == [] and len(results) == count
    held = [entry.result for entry in results.entries() if entry.result is not None]
    assert results.nbytes == sum(result.nbytes for result in held) <= results.budget
    assert results.has_result(count - 1, count)  # the newest
