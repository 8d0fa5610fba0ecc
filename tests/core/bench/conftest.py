"""Fixtures of the benchmark tests: a rendered scene seen from two poses (made here)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def scene_views():
    """Two 240x320 :class:`core.synthetic.SceneView` of the demo room (the demo cameras at half
    resolution): B is 0.4 m right of and 0.3 m ahead of A, turned about 10 degrees."""
    from core.synthetic import default_demo_cameras, render_scene

    K, pose_a, pose_b = default_demo_cameras()
    K = K.copy()
    K[:2] *= 0.5
    return render_scene(pose_a, K, size=(240, 320)), render_scene(pose_b, K, size=(240, 320))


@pytest.fixture(scope="session")
def scene_flow(scene_views):
    """(H, W, 2) true flow A -> B of ``scene_views``, NaN where unknown (occluded, outside B)."""
    from core.synthetic import ground_truth_flow

    warp, valid = ground_truth_flow(*scene_views)
    height, width = valid.shape
    ys, xs = np.mgrid[0:height, 0:width]
    flow = warp - np.stack([xs, ys], axis=-1)
    flow[~valid] = np.nan
    return flow.astype(np.float32)
