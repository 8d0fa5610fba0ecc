"""MatchResult's contract and its result.npz file (plain arrays + JSON, never pickled)."""

import json
import os
import stat

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


def sparse_result() -> MatchResult:
    return MatchResult(
        matches=np.array([[10, 20, 13, 24], [100, 50, 90, 55]], np.float32),
        match_certainty=np.array([0.9, 0.3], np.float32),
        provenance=Provenance(matcher="test", size_a=(120, 160), size_b=(90, 140)),
    )


def test_a_sparse_result_has_matches_only():
    result = sparse_result()
    result.validate(size_a=(120, 160))  # nothing dense to compare with A's size
    assert result.is_sparse and not small_result().is_sparse
    assert result.size_a == (120, 160) and result.size_b == (90, 140)
    broken = sparse_result()
    broken.certainty_ab = np.zeros((120, 160), np.float32)
    with pytest.raises(ValueError, match="warp_ab and certainty_ab come together"):
        broken.validate()
    broken = sparse_result()
    broken.warp_ba, broken.certainty_ba = np.zeros((90, 140, 2)), np.zeros((90, 140))
    with pytest.raises(ValueError, match="warp_ba without warp_ab"):
        broken.validate()
    with pytest.raises(ValueError, match="matches"):
        MatchResult().validate()


def test_a_sparse_result_round_trips_without_dense_arrays(tmp_path):
    save_result(sparse_result(), tmp_path / "result.npz")
    with np.load(tmp_path / "result.npz", allow_pickle=False) as data:
        assert set(data.files) == {"matches", "match_certainty", "meta"}
    loaded = load_result(tmp_path / "result.npz")
    assert loaded.is_sparse and loaded.size_a == (120, 160) and loaded.size_b == (90, 140)
    np.testing.assert_array_equal(loaded.matches, sparse_result().matches)


def test_dense_arrays_are_compressed_float32_warps_and_float16_certainties(tmp_path):
    import zipfile

    result = small_result()
    result.warp_ab = result.warp_ab.astype(np.float64) + 5000.25  # float16 would round this
    result.warp_ba, result.certainty_ba = result.warp_ab[:4], result.certainty_ab[:4]
    save_result(result, tmp_path / "result.npz")
    with zipfile.ZipFile(tmp_path / "result.npz") as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(tmp_path / "result.npz", allow_pickle=False) as data:
        stored = {name: data[name].dtype for name in data.files}
    assert stored["warp_ab"] == stored["warp_ba"] == stored["grid_warp_ab"] == np.float32
    assert stored["certainty_ab"] == stored["certainty_ba"] == np.float16
    assert stored["grid_certainty_ab"] == np.float32  # the model's grid: kept exact
    loaded = load_result(tmp_path / "result.npz")
    for name in ("warp_ab", "certainty_ab", "warp_ba", "certainty_ba", "grid_certainty_ab"):
        assert getattr(loaded, name).dtype == np.float32, name
    np.testing.assert_array_equal(loaded.warp_ab, result.warp_ab.astype(np.float32))
    np.testing.assert_allclose(loaded.certainty_ab, result.certainty_ab, atol=2**-11)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_results_get_the_mode_of_the_users_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        save_result(sparse_result(), tmp_path / "result.npz")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "result.npz").stat().st_mode) == 0o666 & ~umask
    assert [path.name for path in tmp_path.iterdir()] == ["result.npz"]  # no partial left


def test_a_sift_result_file_holds_no_full_resolution_arrays(tmp_path):
    from core.imageio import from_array
    from core.matchers import create_matcher
    from core.run import run_match
    from core.synthetic import make_texture

    texture = make_texture(800, seed=2)[:600]
    image_a, image_b = from_array(texture), from_array(np.roll(texture, (5, 7), axis=(0, 1)))
    result = run_match(create_matcher("sift"), image_a, image_b, matcher_name="sift")
    assert result.is_sparse and result.num_matches > 100
    save_result(result, tmp_path / "result.npz")
    dense_warps = 2 * 600 * 800 * 2 * 4  # what two float32 warps of these images would take
    assert (tmp_path / "result.npz").stat().st_size < dense_warps / 20
    assert load_result(tmp_path / "result.npz").size_a == (600, 800)


def test_an_all_nan_dense_plugin_result_becomes_sparse():
    from core.imageio import from_array
    from core.run import run_match

    class NanDense:
        def match(self, rgb_a, rgb_b):
            height, width = rgb_a.shape[:2]
            return MatchResult(
                warp_ab=np.full((height, width, 2), np.nan, np.float32),
                certainty_ab=np.zeros((height, width), np.float32),
                matches=np.array([[1, 2, 3, 4]], np.float32),
                match_certainty=np.ones(1, np.float32),
            )

    image = from_array(np.zeros((30, 40, 3), np.uint8))
    result = run_match(NanDense(), image, image, matcher_name="nan-dense")
    assert result.is_sparse and result.certainty_ab is None and result.num_matches == 1
    assert result.size_a == (30, 40) and result.provenance.size_b == (30, 40)


def test_the_probe_snaps_to_a_sparse_match_within_the_radius_given():
    result = sparse_result()
    reading = read_probe(result, 14.0, 20.0, snap_radius=5.0)
    assert reading.source == "match" and (reading.xa, reading.ya, reading.xb) == (10, 20, 13)
    assert not read_probe(result, 30.0, 20.0, snap_radius=5.0).has_match
    assert read_probe(result, 30.0, 20.0, snap_radius=25.0).source == "match"
