"""`core.compare`: difference maps of two runs, sparse against dense, shared colour scales and
both runs' answers at the probe."""

from __future__ import annotations

import numpy as np
import pytest

from core.bench.truth import GroundTruth
from core.compare import (
    certainty_difference,
    compare_probe,
    distance_to_warp,
    sample_warp,
    shared_levels,
    summarise,
    symmetric_levels,
    warp_difference,
)
from core.coords import pixel_grid
from core.result import MatchResult


def shifted(dx: float, dy: float, height: int = 6, width: int = 8) -> np.ndarray:
    return pixel_grid(height, width) + np.float32([dx, dy])


def test_the_end_point_difference_of_two_shifts_is_their_distance():
    warp_1, warp_2 = shifted(6, 4), shifted(3, 0)  # 3 px right, 4 px down of each other
    warp_2[2, 5] = np.nan  # no match there
    epe = warp_difference(warp_1, warp_2)
    assert epe.shape == (6, 8) and epe.dtype == np.float32
    expected = np.full((6, 8), 5.0, np.float32)
    expected[2, 5] = np.nan
    np.testing.assert_array_equal(epe, expected)
    with pytest.raises(ValueError, match="shape"):
        warp_difference(warp_1, warp_1[:5])


def test_the_certainty_difference_is_run_1_minus_run_2():
    one, two = np.full((2, 3), 0.75, np.float32), np.array([[0, 0.25, 1]] * 2, np.float32)
    np.testing.assert_array_equal(certainty_difference(one, two), [[0.75, 0.5, -0.25]] * 2)
    assert symmetric_levels(certainty_difference(one, two)) == pytest.approx((-0.75, 0.75), 0.01)
    assert symmetric_levels(np.zeros((2, 2))) == (-0.05, 0.05)  # equal runs: still a scale


def test_sparse_matches_are_measured_against_the_dense_warp_at_their_a_point():
    warp = shifted(6, 4)
    warp[0, 0] = np.nan
    matches = np.array(
        [
            [2.5, 3.25, 8.5, 7.25],  # exactly on the warp (between pixels)
            [4.0, 1.0, 13.0, 9.0],  # 3 px right and 4 px down of it: 5 px
            [0.5, 0.5, 6.5, 4.5],  # next to the pixel without a match
            [7.5, 2.0, 13.5, 6.0],  # outside A's pixel centres
        ]
    )
    np.testing.assert_allclose(sample_warp(warp, matches[:2, :2]), [[8.5, 7.25], [10, 5]])
    distances = distance_to_warp(matches, warp)
    np.testing.assert_allclose(distances[:2], [0.0, 5.0], atol=1e-6)
    assert np.isnan(distances[2:]).all()

    summary = summarise(distances)
    assert (summary.count, summary.total, summary.median) == (2, 4, 2.5)
    assert summary.within == {1.0: 0.5, 3.0: 0.5, 5.0: 1.0}
    assert summary.text() == "2 of 4 matches: median 2.50 px; within 1/3/5 px: 50/50/100%"
    assert summarise(np.full(3, np.nan)).text() == "none of 3 matches has an answer in both runs"


def test_both_runs_errors_share_one_scale():
    small, large = np.linspace(0, 2, 101), np.linspace(0, 20, 101)
    large[0] = np.nan
    low, high = shared_levels(small, large, None)
    assert low == 0.0 and high == pytest.approx(np.percentile(large[1:], 95))
    assert shared_levels(np.zeros(4), None) == (0.0, 1.0)  # perfect runs: still a 1 px scale


def test_the_probe_reads_both_runs_and_their_distance():
    dense = MatchResult(
        warp_ab=shifted(6, 4),
        certainty_ab=np.full((6, 8), 0.5, np.float32),
        matches=np.zeros((0, 4), np.float32),
        match_certainty=np.zeros(0, np.float32),
    )
    sparse = MatchResult(
        matches=np.array([[3, 2, 12, 2]], np.float32),
        match_certainty=np.array([0.75], np.float32),
    )
    sparse.provenance.size_a = (6, 8)
    truth = GroundTruth("homography", homography=np.array([[1, 0, 6], [0, 1, 4], [0, 0, 1.0]]))
    both = compare_probe(dense, sparse, 3, 2, snap_radius=2.0, truth=truth)
    first, second = both.readings
    assert (first.xb, first.yb, first.certainty, first.source) == (9, 6, 0.5, "warp")
    assert (second.xb, second.yb, second.certainty, second.source) == (12, 2, 0.75, "match")
    assert both.distance == pytest.approx(5.0) and both.distance_at == (3, 2)
    assert both.errors == pytest.approx((0.0, 5.0))
    near = compare_probe(sparse, dense, 4, 3, snap_radius=2.0)  # snaps to the match at (3, 2)
    assert (near.readings[0].xa, near.readings[0].ya, near.readings[1].xa) == (3, 2, 4)
    assert near.distance == pytest.approx(5.0) and near.distance_at == (3, 2)  # the warp there
    far = compare_probe(dense, sparse, 7, 5, snap_radius=2.0)  # no match of the sparse run there
    assert not far.readings[1].has_match and np.isnan(far.distance) and far.distance_at is None
    assert np.isnan(far.errors).all()
