"""Matches to CSV: header, columns, the optional error column and a round trip (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from core.matches_csv import save_matches_csv
from core.result import MatchResult


def sparse_result(count: int = 30, seed: int = 0) -> MatchResult:
    rng = np.random.default_rng(seed)
    matches = rng.uniform(0, 500, (count, 4)).astype(np.float32)
    return MatchResult(matches=matches, match_certainty=rng.uniform(0, 1, count).astype(np.float32))


def test_round_trip_without_errors(tmp_path):
    result = sparse_result()
    path = tmp_path / "matches.csv"
    save_matches_csv(result, path)
    assert path.read_text().splitlines()[0] == "xA,yA,xB,yB,certainty"
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (30, 5)
    np.testing.assert_allclose(table[:, :4], result.matches, atol=5e-4)
    np.testing.assert_allclose(table[:, 4], result.match_certainty, atol=5e-7)
    assert not list(tmp_path.glob(".*.partial"))


def test_round_trip_with_errors_keeps_unknown_as_nan(tmp_path):
    result = sparse_result(5)
    errors = np.float32([0.5, np.nan, 12.25, 0.0, 3.125])
    path = tmp_path / "matches.csv"
    save_matches_csv(result, path, errors)
    assert path.read_text().splitlines()[0] == "xA,yA,xB,yB,certainty,error"
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 5], errors, atol=5e-4)  # NaN == NaN here
    assert np.isnan(table[1, 5])


def test_no_matches_is_a_header_alone(tmp_path):
    empty = MatchResult(matches=np.zeros((0, 4), np.float32), match_certainty=np.zeros(0))
    save_matches_csv(empty, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text() == "xA,yA,xB,yB,certainty\n"


def test_errors_of_another_length_are_refused(tmp_path):
    with pytest.raises(ValueError, match="3 errors for 30 matches"):
        save_matches_csv(sparse_result(), tmp_path / "m.csv", np.zeros(3))
    assert not list(tmp_path.iterdir())
