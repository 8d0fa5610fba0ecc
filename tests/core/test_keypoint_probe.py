"""`core.keypoint_probe`: snapping to a keypoint, reading its assignment row, pruning in words."""

from __future__ import annotations

import numpy as np
import pytest

from core.keypoint_probe import (
    active_at,
    layer_count,
    nearest_keypoint,
    pruning_text,
    read_keypoint,
)
from tests.core.keypoint_results import KEYPOINTS_A, keypoint_result, synthetic_assignment


def test_nearest_keypoint_snaps_within_the_radius_only():
    assert nearest_keypoint(KEYPOINTS_A, 83, 27, 5.0) == 1
    assert nearest_keypoint(KEYPOINTS_A, 83, 27, 4.0) is None  # 4.24 px away
    assert nearest_keypoint(np.zeros((0, 2), np.float32), 0, 0, 100.0) is None


def test_read_keypoint_lists_the_top_of_its_row_and_its_match():
    result = keypoint_result()
    reading = read_keypoint(result, 3)
    row = synthetic_assignment()[3]
    assert reading.top_b[0] == 5 and reading.match == 5  # the row peaks at its match
    assert len(reading.top_b) == 5 and 6 not in reading.top_b  # B's pruned keypoint: NaN
    assert list(reading.top_p) == sorted(reading.top_p, reverse=True)
    assert reading.top_p == pytest.approx(row[list(reading.top_b)])
    assert reading.match_certainty == pytest.approx(0.7)
    assert reading.unmatched == pytest.approx(np.linspace(0.05, 0.6, 6)[3])
    assert len(reading.matchability) == 9 and reading.pruning == "active through all 9 layers"

    bare = read_keypoint(keypoint_result({}), 2)  # sift: keypoints only
    assert (bare.x, bare.y, bare.match, bare.top_b, bare.pruning) == (150, 40, None, (), "")
    assert np.isnan(bare.score) and np.isnan(bare.unmatched)


def test_pruning_text_and_active_layers():
    assert pruning_text(9, 9) == "active through all 9 layers"
    assert pruning_text(1, 9) == "pruned after layer 0 (active in 1 of 9)"
    assert pruning_text(0, 9) == "pruned before layer 0"
    assert pruning_text(None, 9) == pruning_text(3, None) == ""
    result = keypoint_result()
    assert layer_count(result) == 9 and layer_count(keypoint_result({})) == 0
    assert active_at(result, "a", 1).sum() == 6 and active_at(result, "a", 2).sum() == 5
    assert active_at(keypoint_result({}), "b", 0) is None
