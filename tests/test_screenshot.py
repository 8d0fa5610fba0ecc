"""The whole window, headless: `main.py A B --screenshot PATH` under a virtual X server."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

pytestmark = pytest.mark.xvfb


def xvfb_run(*args, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed (Debian package xvfb; `make test` installs it)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    return subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, str(REPO / "main.py"),
         *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip


def test_screenshot_of_the_demo_pair(tmp_path):
    shot = tmp_path / "window.png"
    done = xvfb_run("--matcher", "dense-flow", "--screenshot", shot, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[0] >= 600 and image.shape[1] >= 1000  # the whole window, not a widget
    # the window shows real content: many distinct colours, not a blank or single-colour frame
    colours = np.unique(image.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 2000


def test_screenshot_with_a_missing_image_exits_2(tmp_path):
    shot = tmp_path / "window.png"
    done = xvfb_run(tmp_path / "missing.png", REPO / "assets/demo/scene_b.png",
                    "--screenshot", shot, tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "missing.png: no such file" in done.stderr


def test_screenshot_views_of_the_demo_pair_with_a_probe(tmp_path):
    folder = tmp_path / "views"
    done = xvfb_run("--matcher", "sift", "--screenshot-views", folder, "--probe", "200,150",
                    tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(path.stem for path in folder.glob("*.png"))
    assert names == sorted(["pair_view", "anchors", "attention", "benchmarks", "certainty",
                            "compare", "keypoints", "matches", "probe", "true_error",
                            "uncertainty", "warp"])  # fmt: skip
    for name in names:
        image = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"), np.float32)
        assert image.std() > 5, name


VIEWS = ["pair_view", "anchors", "attention", "benchmarks", "certainty", "compare", "keypoints",
         "matches", "probe", "true_error", "uncertainty", "warp"]  # fmt: skip
PICTURES = {"pair_view", "certainty", "warp", "anchors", "attention"}
"""Views that draw images (the others are mostly text and widgets)."""


def assert_views_drawn(folder, pictures=PICTURES):
    """Every view's PNG exists, decodes, has a sensible size and is not blank."""
    assert sorted(path.stem for path in folder.glob("*.png")) == sorted(VIEWS)
    for name in VIEWS:
        image = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"))
        height, width = image.shape[:2]
        assert height >= 100 and width >= 150, (name, image.shape)
        assert image.astype(np.float32).std() > 5, name
        colours = len(np.unique(image.reshape(-1, 3), axis=0))
        assert colours > (500 if name in pictures else 16), (name, colours)


def test_screenshot_views_of_random_weight_roma_with_intermediates(tmp_path, checkpoint_dir):
    import torch

    from core.models.testing import random_roma

    model = random_roma("dinov2_vits14", seed=0)
    torch.save(model.state_dict(), checkpoint_dir / "roma.pth")
    torch.save(model.backbone.state_dict(), checkpoint_dir / "dino.pth")
    del model
    folder = tmp_path / "views"
    done = xvfb_run("--matcher", "roma", "--intermediates", "--roma-weights",
                    checkpoint_dir / "roma.pth", "--dino-weights", checkpoint_dir / "dino.pth",
                    "--set", "backbone=dinov2_vits14",
                    "--set", "coarse_res=112", "--set", "upsample_res=0", "--set",
                    "num_samples=500", "--screenshot-views", folder, "--probe", "200,150",
                    tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert_views_drawn(folder)


def test_screenshot_views_of_a_learned_sparse_matcher(tmp_path):
    folder = tmp_path / "views"
    done = xvfb_run("--matcher", "aliked-lightglue", "--screenshot-views", folder,
                    tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # a sparse result: its anchors and attention views say why they are empty
    assert_views_drawn(folder, PICTURES - {"anchors", "attention"} | {"keypoints"})
