"""Runs the OpenGL widget tests (`tests.widgets.opengl.OPENGL_MODULES`) in one subprocess under
a virtual X server with Qt's xcb platform: this process's Qt is offscreen, without OpenGL."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.widgets.opengl import OPENGL_MODULES, has_opengl

pytestmark = pytest.mark.xvfb


@pytest.mark.skipif(has_opengl, reason="this process has OpenGL: the modules run in it")
def test_opengl_views_under_xvfb(tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed (Debian package xvfb; `make test` installs it)")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "xcb",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    env.pop("DISPLAY", None)
    done = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, "-m", "pytest",
         "-q", "-p", "no:cacheprovider", *OPENGL_MODULES],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    report = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert re.search(r"\b\d+ passed", done.stdout) and " skipped" not in done.stdout, report
