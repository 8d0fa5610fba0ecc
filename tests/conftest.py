"""Shared fixtures: the research data in ../shared/data (skipped when absent), small images and a
rendered scene seen from two poses."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"

# No test reaches the network or torch hub's cache: the guard is installed here and, through
# PYTHONPATH, in every Python subprocess; TORCH_HOME is an empty folder that must stay empty.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(NETGUARD), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)
sys.path.insert(0, str(NETGUARD))
import sitecustomize  # noqa: E402, F401  (ours: installs the guard in this process)

sys.path.remove(str(NETGUARD))
TORCH_HOME = Path(tempfile.mkdtemp(prefix="matchscope-tests-torch-home-"))
os.environ["TORCH_HOME"] = str(TORCH_HOME)
# The app's QSettings (weights folder, matcher settings, layout) never come from or go to the
# user's own: every test process and subprocess starts with an empty configuration folder.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="matchscope-tests-config-")


def pytest_sessionfinish(session, exitstatus):
    """Fail the session when anything was written into the tests' TORCH_HOME."""
    written = sorted(str(p.relative_to(TORCH_HOME)) for p in TORCH_HOME.rglob("*"))
    shutil.rmtree(TORCH_HOME, ignore_errors=True)
    if written:
        print(f"\nFAILED: the tests wrote into TORCH_HOME: {', '.join(written[:5])}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class WritesAMarker:
    """Unpickling this object touches a file: a stand-in for arbitrary code in a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def shared_data_dir() -> Path:
    """``$MATCHSCOPE_DATA`` or ../shared/data next to the repository."""
    return Path(os.environ.get("MATCHSCOPE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"research data not found at {root} (set MATCHSCOPE_DATA)")
    return root


@pytest.fixture
def texture() -> np.ndarray:
    """(240, 320, 3) uint8 matchable texture made by the project's renderer."""
    from core.synthetic import make_texture

    return make_texture(320, seed=3)[:240]


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


@pytest.fixture(scope="session")
def homography_folder(tmp_path_factory):
    """Oxford-style sequences ``one`` (img1 against img2, img3) and ``two`` (img1 - img2)."""
    from core.synthetic import make_texture
    from tests.core.bench import layouts

    root = tmp_path_factory.mktemp("oxford")
    texture = make_texture(320, seed=3)[:240]
    layouts.homography_sequence(root / "one", texture, 3, seed=0)
    layouts.homography_sequence(root / "two", texture[::-1].copy(), 2, seed=1)
    return root


@pytest.fixture(scope="session")
def pose_folder(tmp_path_factory, scene_views):
    """``pairs_with_gt.txt`` with the two scene views, once as they are and once with B turned."""
    from tests.core.bench import layouts

    root = tmp_path_factory.mktemp("superglue")
    layouts.superglue_folder(root, scene_views, rotations=[(0, 0), (0, 1)])
    return root


@pytest.fixture(scope="session")
def flow_folder(tmp_path_factory, scene_views, scene_flow):
    """Middlebury ``Scene1.png``, ``Scene2.png`` and ``Scene.flo`` of the scene views."""
    from tests.core.bench import layouts

    root = tmp_path_factory.mktemp("middlebury")
    layouts.middlebury_folder(root, scene_views[0].image, scene_views[1].image, scene_flow)
    return root


@contextlib.contextmanager
def _ram_folder(tmp_path_factory):
    """A folder in RAM (``/dev/shm``) where the machine has one, else a temporary one; removed
    after. Writing a GB-sized checkpoint to this machine's disk takes 6 to 13 s, there 1 s."""
    memory = Path("/dev/shm")
    if not (memory.is_dir() and os.access(memory, os.W_OK)):
        yield tmp_path_factory.mktemp("checkpoints")
        return
    with tempfile.TemporaryDirectory(dir=memory, prefix="matchscope-tests-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    """A folder for a module's large checkpoints (ViT-L sized, a GB or more), removed after it."""
    with _ram_folder(tmp_path_factory) as folder:
        yield folder


@pytest.fixture(scope="session")
def romav2_checkpoint(tmp_path_factory):
    """``romav2.0.1.pt`` as released (one file, ``f.`` in bf16; 1.1 GB) with seeded random
    weights, written once for the modules that load it."""
    import torch

    from core.models.testing import random_romav2

    with _ram_folder(tmp_path_factory) as folder:
        state = random_romav2(seed=5).state_dict()
        state = {k: v.to(torch.bfloat16) if k.startswith("f.") else v for k, v in state.items()}
        torch.save(state, folder / "romav2.0.1.pt")
        del state
        yield folder / "romav2.0.1.pt"
