"""OpenGL widget tests (vispy): they need Qt's xcb platform on an X server, which the suite's
offscreen platform (one per process) does not give. `test_opengl_views.py` runs the modules of
`OPENGL_MODULES` in a subprocess under ``xvfb-run`` with ``QT_QPA_PLATFORM=xcb``; run alone
without an X display, they skip."""

import os

import pytest

OPENGL_MODULES = ("tests/widgets/test_trajectory_view.py",)
CHILD_FLAG = "MATCHSCOPE_OPENGL_TESTS"
"""Set in the subprocess that runs `OPENGL_MODULES` (its pytest must not skip them)."""

has_opengl = os.environ.get("QT_QPA_PLATFORM") == "xcb" and bool(os.environ.get("DISPLAY"))
needs_opengl = pytest.mark.skipif(
    not has_opengl,
    reason="needs OpenGL (QT_QPA_PLATFORM=xcb on an X display); "
    "tests/widgets/test_opengl_views.py runs it under xvfb-run",
)
