"""The weight-free matchers measured against known homographies, and the registry."""

import threading

import cv2
import numpy as np
import pytest

from core.errors import Cancelled, MatchscopeError
from core.imageio import from_array, load_image
from core.matchers import (
    DEFAULT_DISPLAY_THRESHOLD,
    create_matcher,
    display_threshold,
    matcher_names,
)
from core.run import RunControl, run_match
from core.synthetic import homography_pair, random_homography


def homography_case(texture, seed):
    """(A, B, H) with B = A seen through a random homography H (A pixels -> B pixels)."""
    rng = np.random.default_rng(seed)
    homography = random_homography(texture.shape[:2], rng, strength=0.15)
    return texture, homography_pair(texture, homography), homography


def project(homography, xy):
    return cv2.perspectiveTransform(np.asarray(xy, np.float64).reshape(-1, 1, 2), homography)[:, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sift_matches_follow_the_homography(texture, seed):
    image_a, image_b, homography = homography_case(texture, seed)
    result = run_match(create_matcher("sift"), from_array(image_a), from_array(image_b))
    verified = result.match_certainty >= 0.5
    assert verified.sum() >= 80
    errors = np.linalg.norm(
        project(homography, result.matches[:, :2]) - result.matches[:, 2:], axis=1
    )
    assert np.median(errors[verified]) < 0.8
    assert np.quantile(errors[verified], 0.95) < 3.0
    # unverified matches are the wrong ones more often than verified ones
    if (~verified).sum() >= 5:
        assert np.median(errors[~verified]) > np.median(errors[verified])
    # sparse: no warp or certainty map, the image sizes in the provenance
    assert result.is_sparse and result.certainty_ab is None and result.warp_ba is None
    assert result.size_a == image_a.shape[:2] and result.size_b == image_b.shape[:2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_flow_warp_follows_the_homography(texture, seed):
    image_a, image_b, homography = homography_case(texture, seed)
    matcher = create_matcher("dense-flow", {"num_samples": 2000})
    result = run_match(matcher, from_array(image_a), from_array(image_b))
    height, width = image_a.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    truth = project(homography, np.stack([xs, ys], -1).reshape(-1, 2)).reshape(height, width, 2)
    inside = (
        (truth[..., 0] > 4)
        & (truth[..., 0] < width - 5)
        & (truth[..., 1] > 4)
        & (truth[..., 1] < height - 5)
    )
    confident = result.certainty_ab >= 0.5
    epe = np.linalg.norm(result.warp_ab - truth, axis=-1)
    assert (confident & inside).sum() > 0.5 * inside.sum()
    assert np.mean(epe[confident & inside]) < 1.0
    assert result.certainty_ab[~inside].mean() < result.certainty_ab[inside].mean()
    sampled = np.linalg.norm(
        project(homography, result.matches[:, :2]) - result.matches[:, 2:], axis=1
    )
    assert len(result.matches) == 2000 and np.median(sampled) < 1.0
    assert result.grid_warp_ab.shape == (height, width, 2)
    outside_b = np.abs(result.grid_warp_ab).max(axis=-1) > 1.0
    assert np.all(result.grid_certainty_ab[outside_b] == 0.0)


def test_dense_flow_reports_b_pixels_for_images_of_different_sizes(texture):
    """B at half resolution: warp_ab must be in B's own pixels."""
    image_b = cv2.resize(texture, (160, 120), interpolation=cv2.INTER_AREA)
    result = run_match(create_matcher("dense-flow"), from_array(texture), from_array(image_b))
    confident = result.certainty_ab >= 0.5
    ys, xs = np.nonzero(confident)
    truth = (np.stack([xs, ys], -1) + 0.5) * 0.5 - 0.5
    assert confident.mean() > 0.5
    assert np.median(np.linalg.norm(result.warp_ab[ys, xs] - truth, axis=1)) < 0.5
    assert result.warp_ba.shape == (120, 160, 2)


def test_sift_on_oxford_pairs_gives_accurate_homographies(shared_data):
    """The HPatches protocol by hand: MAGSAC homography from our matches, mean corner error."""
    for sequence in ("bikes", "leuven", "boat"):
        folder = shared_data / "oxford_affine" / sequence
        image_a, image_b = load_image(folder / "img1.png"), load_image(folder / "img2.png")
        truth = np.loadtxt(folder / "H1to2p")
        result = run_match(create_matcher("sift"), image_a, image_b)
        estimate, _ = cv2.findHomography(
            result.matches[:, :2].astype(np.float64),
            result.matches[:, 2:].astype(np.float64),
            method=cv2.USAC_MAGSAC,
            ransacReprojThreshold=3.0,
        )
        height, width = image_a.size_hw
        corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
        error = np.linalg.norm(project(estimate, corners) - project(truth, corners), axis=1).mean()
        assert error < 3.0, f"{sequence}: mean corner error {error:.2f} px"


def test_progress_and_cancellation(texture):
    stages = []
    control = RunControl(progress=lambda stage, fraction: stages.append((stage, fraction)))
    result = run_match(
        create_matcher("dense-flow"), from_array(texture), from_array(texture), control
    )
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"flow_ab", "flow_ba", "total"} <= set(result.timings)

    cancel = threading.Event()

    def cancel_after_first_flow(stage, fraction):
        if stage == "flow_ab":
            cancel.set()

    control = RunControl(progress=cancel_after_first_flow, cancel=cancel)
    with pytest.raises(Cancelled, match="flow_ba"):
        run_match(create_matcher("dense-flow"), from_array(texture), from_array(texture), control)


def test_registry_and_plugins(texture):
    assert {"sift", "dense-flow"} <= set(matcher_names())
    with pytest.raises(MatchscopeError, match="unknown matcher 'nope'"):
        create_matcher("nope")
    with pytest.raises(MatchscopeError, match="unknown option"):
        create_matcher("sift", {"colour": 1})
    plugin = create_matcher("tests.core.plugin_matchers:identity", {"level": 0.75})
    result = run_match(plugin, from_array(texture), from_array(texture), matcher_name="mine")
    assert result.provenance.matcher == "mine" and result.certainty_ab.max() == 0.75
    with pytest.raises(MatchscopeError, match="no match"):
        create_matcher("tests.core.plugin_matchers:not_a_matcher")
    with pytest.raises(MatchscopeError, match="cannot import"):
        create_matcher("no_such_package.module:factory")
    broken = create_matcher("tests.core.plugin_matchers:wrong_shape")
    with pytest.raises(MatchscopeError, match="contract"):
        run_match(broken, from_array(texture), from_array(texture))


@pytest.fixture(scope="module")
def rendered_pair():
    """The demo scene rendered at 320x240 from two poses, with its exact ground-truth flow."""
    from core.synthetic import default_demo_cameras, ground_truth_flow, render_scene

    intrinsics, pose_a, pose_b = default_demo_cameras()
    intrinsics = intrinsics.copy()
    intrinsics[:2] *= 0.5
    view_a = render_scene(pose_a, intrinsics, size=(240, 320))
    view_b = render_scene(pose_b, intrinsics, size=(240, 320))
    truth, valid = ground_truth_flow(view_a, view_b)
    return view_a.image, view_b.image, truth, valid


def test_matchers_on_a_3d_scene_with_parallax(rendered_pair):
    image_a, image_b, truth, valid = rendered_pair
    dense = run_match(create_matcher("dense-flow"), from_array(image_a), from_array(image_b))
    confident = dense.certainty_ab >= 0.5
    epe = np.linalg.norm(dense.warp_ab - truth, axis=-1)
    assert (confident & valid).sum() > 0.8 * valid.sum()
    assert np.mean(epe[confident & valid]) < 0.8
    assert dense.certainty_ab[~valid].mean() < 0.3 < dense.certainty_ab[valid].mean()

    sparse = run_match(create_matcher("sift"), from_array(image_a), from_array(image_b))
    verified = sparse.matches[sparse.match_certainty >= 0.5]
    cols, rows = np.round(verified[:, :2]).astype(int).T
    visible = valid[rows, cols]
    errors = np.linalg.norm(truth[rows, cols] - verified[:, 2:], axis=1)[visible]
    assert len(errors) >= 50
    assert np.median(errors) < 1.0 and np.mean(errors < 3.0) > 0.9


def test_tensors_from_a_users_matcher_become_numpy(texture):
    torch = pytest.importorskip("torch")

    class TensorMatcher:
        def match(self, rgb_a, rgb_b):
            result = create_matcher("tests.core.plugin_matchers:identity").match(rgb_a, rgb_b)
            result.warp_ab = torch.from_numpy(result.warp_ab)
            result.intermediates["feature"] = torch.zeros(2, 3)
            return result

    result = run_match(TensorMatcher(), from_array(texture), from_array(texture))
    assert isinstance(result.warp_ab, np.ndarray)
    assert isinstance(result.intermediates["feature"], np.ndarray)


@pytest.mark.parametrize(
    ("matcher", "settings", "needle"),
    [
        ("dense-flow", {"fb_sigma": float("nan")}, "fb_sigma must be a finite number"),
        ("dense-flow", {"fb_sigma": 0.0}, "fb_sigma must be > 0"),
        ("dense-flow", {"max_size": 10}, "max_size must be >= 16"),
        ("dense-flow", {"min_certainty": 2.0}, "min_certainty must be >= 0 and <= 1"),
        ("dense-flow", {"seed": -1}, "seed must be >= 0"),
        ("sift", {"max_keypoints": -5}, "max_keypoints must be >= 0, not -5"),
        ("sift", {"ratio": float("inf")}, "ratio must be a finite number"),
        ("sift", {"ratio": 0.0}, "ratio must be > 0 and <= 1"),
        ("sift", {"max_iters": 0}, "max_iters must be >= 1"),
        ("roma", {"num_samples": -1}, "num_samples must be >= 0"),
    ],
)
def test_option_values_are_checked(matcher, settings, needle):
    with pytest.raises(MatchscopeError, match=needle):
        create_matcher(matcher, settings)


def test_an_unknown_option_names_the_matchers_that_take_it():
    with pytest.raises(MatchscopeError) as info:
        create_matcher("sift", {"num_samples": 5})
    message = str(info.value)
    assert "unknown option(s) num_samples" in message
    assert "num_samples is an option of dense-flow, roma-outdoor, roma, roma-indoor" in message


@pytest.mark.parametrize("size_hw", [(1, 1), (8, 8), (11, 11), (3, 200), (200, 5)])
def test_dense_flow_on_tiny_images(size_hw):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*size_hw, 3), dtype=np.uint8)
    result = run_match(create_matcher("dense-flow"), from_array(image), from_array(image))
    assert result.warp_ab.shape == (*size_hw, 2)
    assert result.num_matches >= 1  # an image matched to itself agrees with itself


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ("sift", 0.5),
        ("dense-flow", 0.6),
        ("roma", 0.05),
        ("roma-indoor", 0.05),
        ("tests.core.plugin_matchers:SureMatcher", 0.9),
        ("tests.core.plugin_matchers:identity", DEFAULT_DISPLAY_THRESHOLD),  # none of its own
        ("tests.core.plugin_matchers:missing", DEFAULT_DISPLAY_THRESHOLD),  # run reports it
        ("no.such.module:factory", DEFAULT_DISPLAY_THRESHOLD),
    ],
)
def test_display_threshold_of_each_matcher(matcher, expected):
    assert display_threshold(matcher) == expected
    if ":" not in matcher:  # the same from the matcher object
        assert display_threshold(create_matcher(matcher)) == expected


def test_display_threshold_of_objects_and_bad_values():
    sure = create_matcher("tests.core.plugin_matchers:SureMatcher")
    assert display_threshold(sure) == 0.9
    assert display_threshold(create_matcher("tests.core.plugin_matchers:identity")) == 0.5
    for bad in (1.5, -0.1, "0.3", True, None):
        sure.display_threshold = bad
        assert display_threshold(sure) == DEFAULT_DISPLAY_THRESHOLD
