"""`core.probe`: B -> A probes from a symmetric warp or the nearest match, and pinned probes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.coords import pixel_grid
from core.probe import (
    MAX_PINS,
    PIN_COLOURS,
    PinnedProbe,
    ProbeReading,
    read_at,
    read_probe,
    read_probe_b,
)
from core.result import MatchResult, Provenance


def symmetric(height: int = 30, width: int = 40) -> MatchResult:
    """A's (x, y) is B's (x + 3, y - 2); B is 30 x 50 with certainty_ba = x / 100."""
    grid_b = pixel_grid(30, 50)
    return MatchResult(
        warp_ab=pixel_grid(height, width) + np.float32([3, -2]),
        certainty_ab=np.full((height, width), 0.5, np.float32),
        warp_ba=grid_b - np.float32([3, -2]),
        certainty_ba=(grid_b[..., 0] / 100).astype(np.float32),
        matches=np.zeros((0, 4), np.float32),
        match_certainty=np.zeros(0, np.float32),
    )


def sparse() -> MatchResult:
    return MatchResult(
        matches=np.array([[5, 6, 20, 21], [30, 8, 40, 10]], np.float32),
        match_certainty=np.array([0.9, 0.4], np.float32),
        provenance=Provenance(size_a=(30, 40), size_b=(30, 50)),
    )


def test_a_pixel_of_b_reads_warp_ba_of_a_symmetric_result():
    probe = read_probe_b(symmetric(), 12.4, 7.6)
    assert (probe.xb, probe.yb) == (12.0, 8.0)  # the clicked pixel of B, rounded
    assert (probe.xa, probe.ya) == (9.0, 10.0)
    assert probe.certainty == pytest.approx(0.12)
    assert (probe.source, probe.origin, probe.clicked) == ("warp", "b", (12.0, 8.0))
    assert read_probe_b(symmetric(), 70, -5).clicked == (49.0, 0.0)  # clamped to B (W_B = 50)
    assert read_probe(symmetric(), 1, 1).origin == "a"


def test_a_pixel_of_b_snaps_to_the_nearest_match_of_a_sparse_result():
    probe = read_probe_b(sparse(), 37, 11, snap_radius=5)
    assert (probe.xa, probe.ya, probe.xb, probe.yb) == (30, 8, 40, 10)  # by its B end
    assert (probe.certainty, probe.source, probe.origin) == (pytest.approx(0.4), "match", "b")

    alone = read_probe_b(sparse(), 37, 11, snap_radius=2)  # too far: no correspondence
    assert (alone.source, alone.origin, alone.clicked) == ("none", "b", (37.0, 11.0))
    assert math.isnan(alone.xa) and math.isnan(alone.ya) and not alone.has_match


def test_a_dense_result_without_warp_ba_answers_b_with_its_matches():
    result = symmetric()
    result.warp_ba = result.certainty_ba = None
    result.matches = np.array([[1, 2, 4, 0]], np.float32)
    result.match_certainty = np.array([0.7], np.float32)
    probe = read_at(result, "b", 5, 1)
    assert (probe.xa, probe.ya, probe.source, probe.origin) == (1, 2, "match", "b")
    assert read_at(result, "a", 5, 1) == read_probe(result, 5, 1)


def test_pins_have_distinct_colours_none_of_them_the_probes_red():
    assert len(PIN_COLOURS) == MAX_PINS == len(set(PIN_COLOURS))
    assert (255, 40, 40) not in PIN_COLOURS
    assert PinnedProbe(ProbeReading(1.0, 2.0), 2).rgb == PIN_COLOURS[2]
