"""OpenGL widget tests (vispy): they need Qt's xcb platform on an X server, which the suite's
offscreen platform (one per process) does not give. `test_opengl_views.py` runs the modules of
`OPENGL_MODULES` in a subprocess under ``xvfb-run`` with ``QT_QPA_PLATFORM=xcb``; run alone
without an X display, they skip."""

import os

OPENGL_MODULES = ("tests/widgets/test_trajectory_view.py", "tests/app/test_window_vo_opengl.py")

has_opengl = os.environ.get("QT_QPA_PLATFORM") == "xcb" and bool(os.environ.get("DISPLAY"))
SKIP_REASON = (
    "needs OpenGL (QT_QPA_PLATFORM=xcb on an X display); "
    "tests/widgets/test_opengl_views.py runs it under xvfb-run"
)
