"""`TrackSet`: matches of consecutive pairs chained into tracks, in any order of arrival."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.sequence.tracks import TrackSet

FRAMES, POINTS = 10, 40
SHIFT = np.array([3.25, -1.5])
"""The keypoints move by this many pixels from one frame to the next."""


def keypoints(position: int, count: int = POINTS, seed: int = 0) -> np.ndarray:
    """(count, 2) float32 keypoints of frame ``position``: one set shifted by ``SHIFT`` a frame."""
    start = np.random.default_rng(seed).uniform(20, 300, (count, 2))
    return (start + position * SHIFT).astype(np.float32)


def pair(position_a: int, count: int = POINTS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The matches of pair (position_a, position_a + 1), in a shuffled order, and certainty."""
    rng = np.random.default_rng(position_a + 100)
    order = rng.permutation(count)
    matches = np.hstack(
        [keypoints(position_a, count, seed), keypoints(position_a + 1, count, seed)]
    )
    return matches[order], rng.uniform(0.2, 1.0, count).astype(np.float32)[order]


def built(order, **kwargs) -> TrackSet:
    tracks = TrackSet()
    for position_a in order:
        tracks.add_pair(position_a, *pair(position_a, **kwargs))
    return tracks


def whole_tracks(tracks: TrackSet, position: int) -> list:
    return [tracks.track(track_id) for track_id in tracks.trails(position, 1).track_ids]


def test_keypoints_moving_by_a_shift_make_tracks_over_all_frames():
    tracks = built(range(FRAMES - 1))
    found = whole_tracks(tracks, 4)
    assert len(found) == POINTS
    for track in found:
        np.testing.assert_array_equal(track.positions, np.arange(FRAMES))
        assert track.points.shape == (FRAMES, 2) and track.certainty.shape == (FRAMES - 1,)
        start = track.points[0]
        expected = start + np.arange(FRAMES)[:, None] * SHIFT
        np.testing.assert_allclose(track.points, expected, atol=1e-3)
        assert np.all((track.certainty >= 0.2) & (track.certainty <= 1.0))
    firsts = {tuple(np.round(t.points[0], 3)) for t in found}
    assert firsts == {tuple(p) for p in np.round(keypoints(0), 3)}


def test_the_order_of_arrival_does_not_matter():
    in_order = built(range(FRAMES - 1))
    middle_last = built([0, 1, 2, 3, 5, 6, 7, 8, 4])
    reversed_ = built(reversed(range(FRAMES - 1)))
    for position in (0, 4, 9):
        expected = in_order.trails(position, FRAMES)
        for other in (middle_last, reversed_):
            trails = other.trails(position, FRAMES)
            np.testing.assert_array_equal(trails.track_ids, expected.track_ids)
            np.testing.assert_array_equal(trails.offsets, expected.offsets)
            np.testing.assert_array_equal(trails.points, expected.points)
            np.testing.assert_array_equal(trails.age, expected.age)
            np.testing.assert_allclose(trails.certainty, expected.certainty, rtol=1e-6)


def test_a_missing_pair_splits_the_tracks_and_its_arrival_joins_them():
    tracks = built([0, 1, 2, 3, 5, 6, 7, 8])  # no pair (4, 5)
    assert {len(t.positions) for t in whole_tracks(tracks, 2)} == {5}  # frames 0..4
    later = whole_tracks(tracks, 7)
    assert {(t.positions[0], t.positions[-1]) for t in later} == {(5, 9)}
    early_ids = set(tracks.trails(2, 1).track_ids)

    tracks.add_pair(4, *pair(4))
    assert set(tracks.trails(7, 1).track_ids) == early_ids  # joined: the earlier part's ids
    assert {len(t.positions) for t in whole_tracks(tracks, 7)} == {FRAMES}
    with pytest.raises(KeyError):
        tracks.track(later[0].track_id)  # the later part's id is gone


def test_removing_a_pair_splits_its_tracks():
    tracks = built(range(FRAMES - 1))
    tracks.remove_pair(4)
    assert 4 not in tracks and 3 in tracks
    assert {(t.positions[0], t.positions[-1]) for t in whole_tracks(tracks, 2)} == {(0, 4)}
    assert {(t.positions[0], t.positions[-1]) for t in whole_tracks(tracks, 6)} == {(5, 9)}
    assert tracks.trails(5, 3).age.tolist() == [1] * POINTS

    tracks.remove_pair(8)  # frame 9 belongs to no pair any more
    assert len(tracks.trails(9, 3)) == 0 and tracks.track_at(9, 0, 0, 1e9) is None
    for position_a in range(8):
        tracks.remove_pair(position_a)
    assert len(tracks.trails(3, 3)) == 0 and tracks._frames == {}


def test_trails_end_at_the_frame_and_are_capped_in_length():
    tracks = built(range(FRAMES - 1))
    trails = tracks.trails(6, 4)
    assert len(trails) == POINTS
    np.testing.assert_array_equal(np.diff(trails.offsets), 4)
    assert trails.points.shape == (4 * POINTS, 2) and trails.points.dtype == np.float32
    np.testing.assert_array_equal(trails.age, 7)  # frames 0..6
    for i, track_id in enumerate(trails.track_ids):
        whole = tracks.track(track_id)
        shown = trails.points[trails.offsets[i] : trails.offsets[i + 1]]
        np.testing.assert_array_equal(shown, whole.points[3:7])  # frames 3..6, oldest first
        assert trails.certainty[i] == pytest.approx(whole.certainty[3:6].mean(), rel=1e-6)

    early = tracks.trails(1, 4)  # only frames 0 and 1 exist before it
    np.testing.assert_array_equal(np.diff(early.offsets), 2)
    np.testing.assert_array_equal(early.age, 2)
    first = tracks.trails(0, 4)
    np.testing.assert_array_equal(first.age, 1)
    assert first.points.shape == (POINTS, 2) and np.isnan(first.certainty).all()


def test_age_counts_the_frames_a_track_has_been_seen_in():
    tracks = built(range(FRAMES - 1), count=POINTS)
    late = np.hstack([keypoints(6, 5, seed=7), keypoints(7, 5, seed=7)])
    tracks.add_pair(6, np.vstack([pair(6)[0], late]), np.ones(POINTS + 5, np.float32))
    trails = tracks.trails(7, 10)
    assert sorted(trails.age.tolist()) == [2] * 5 + [8] * POINTS
    assert tracks.trails(8, 10).age.tolist() == [9] * POINTS  # the new ones end in frame 7


def test_coordinates_a_little_apart_are_one_keypoint_and_the_surest_match_wins():
    tracks = TrackSet()
    tracks.add_pair(0, [[10.0, 10.0, 20.004999, 20.0], [50, 50, 60, 60]], [0.9, 0.8])
    tracks.add_pair(1, [[20.005001, 20.0, 30, 30], [20.0001, 20.0, 33, 33]], [0.4, 0.7])
    track = tracks.track(tracks.track_at(0, 10, 10, 1))
    np.testing.assert_array_equal(track.positions, [0, 1, 2])
    np.testing.assert_allclose(track.points[2], [33, 33])  # certainty 0.7 beats 0.4
    np.testing.assert_allclose(track.certainty, [0.9, 0.7])


def test_track_at_finds_the_nearest_observation_within_the_radius():
    tracks = built(range(FRAMES - 1))
    target = keypoints(5)[7]
    track_id = tracks.track_at(5, target[0] + 1.0, target[1] - 0.5, 2.0)
    assert track_id is not None
    np.testing.assert_allclose(tracks.track(track_id).points[5], target)
    assert tracks.track_at(5, -100, -100, 5.0) is None
    assert tracks.track_at(42, *target, 5.0) is None  # no such frame


def test_many_frames_build_fast():
    frames, count = 500, 500
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1000, (count, 2))
    started = time.perf_counter()
    tracks = TrackSet()
    for position_a in rng.permutation(frames - 1):
        a, b = base + position_a * SHIFT, base + (position_a + 1) * SHIFT
        tracks.add_pair(int(position_a), np.hstack([a, b]), np.ones(count, np.float32))
    trails = tracks.trails(frames - 1, 30)
    elapsed = time.perf_counter() - started
    print(f"{frames} frames x {count} matches, shuffled: built and trailed in {elapsed:.2f} s")
    assert len(trails) == count and set(trails.age.tolist()) == {frames}
    assert len(tracks.track(trails.track_ids[0]).positions) == frames
