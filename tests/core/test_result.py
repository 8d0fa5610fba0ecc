"""MatchResult's contract and its result.npz file (plain arrays + JSON, never pickled)."""

import json

import numpy as np
import pytest

from core.errors import InputError
from core.probe import read_probe
from core.result import MatchResult, Provenance, load_result, save_result


def small_result(height=6, width=8) -> MatchResult:
    rng = np.random.default_rng(0)
    warp = rng.uniform(0, 5, size=(height, width, 2)).astype(np.float32)
    warp[0, 0] = np.nan
    certainty = rng.uniform(0, 1, size=(height, width)).astype(np.float32)
    certainty[0, 0] = 0.0
    return MatchResult(
        warp_ab=warp,
        certainty_ab=certainty,
        matches=np.array([[1, 2, 3, 4], [5, 5, 1, 1]], np.float32),
        match_certainty=np.array([0.9, 0.2], np.float32),
        grid_warp_ab=np.zeros((3, 4, 2), np.float32),
        grid_certainty_ab=np.ones((3, 4), np.float32),
        timings={"flow": 0.5},
        intermediates={"debug": np.arange(6).reshape(2, 3)},
        intermediate_docs={"debug": "(2, 3) a test array"},
        provenance=Provenance(matcher="test", settings={"a": 1}, image_a="a.png"),
    )


def test_round_trip_without_pickle(tmp_path):
    result = small_result()
    save_result(result, tmp_path / "result.npz")
    with np.load(tmp_path / "result.npz", allow_pickle=False) as data:
        assert {"warp_ab", "certainty_ab", "matches", "match_certainty", "meta"} <= set(data.files)
        meta = json.loads(str(data["meta"]))
    assert meta["matcher"] == "test" and meta["timings"] == {"flow": 0.5}
    loaded = load_result(tmp_path / "result.npz")
    np.testing.assert_array_equal(loaded.warp_ab, result.warp_ab)
    np.testing.assert_array_equal(loaded.intermediates["debug"], result.intermediates["debug"])
    assert loaded.provenance.settings == {"a": 1} and loaded.warp_ba is None
    assert loaded.intermediate_docs == result.intermediate_docs


def test_validate_names_the_broken_field():
    result = small_result()
    result.match_certainty = np.array([0.5, 1.5], np.float32)
    with pytest.raises(ValueError, match="match_certainty"):
        result.validate()
    result = small_result()
    with pytest.raises(ValueError, match="image A"):
        result.validate(size_a=(7, 8))
    result.matches = np.zeros((2, 3))
    with pytest.raises(ValueError, match="matches"):
        result.validate()


def test_pickled_or_foreign_files_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"evil": 1}], dtype=object))
    for name in ("pickled.npz", "obj.npy"):
        with pytest.raises(InputError):
            load_result(tmp_path / name)


def test_probe_reads_dense_warp_and_snaps_to_sparse_matches():
    result = small_result()
    reading = read_probe(result, 3.2, 2.9)
    assert reading.source == "warp" and (reading.xa, reading.ya) == (3.0, 3.0)
    assert reading.xb == pytest.approx(float(result.warp_ab[3, 3, 0]))
    # pixel (0, 0) has no dense match: the probe snaps to the nearest sampled match
    reading = read_probe(result, 0.0, 0.0)
    assert reading.source == "match" and (reading.xb, reading.yb) == (3.0, 4.0)
    assert reading.certainty == pytest.approx(0.9)
    assert not read_probe(result, 0.0, 0.0, snap_radius=1.0).has_match
