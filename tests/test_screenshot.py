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
                            "warp"])  # fmt: skip
    for name in names:
        image = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"), np.float32)
        assert image.std() > 5, name
