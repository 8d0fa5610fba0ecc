"""`TrajectoryView` on Qt's offscreen platform (no OpenGL, as in the window's tests): it builds,
takes a scene and a current frame without errors, and refuses to export with a clear message."""

import pytest

from core.errors import MatchscopeError
from tests.widgets.opengl import has_opengl
from tests.widgets.vo_scenes import circle_scene


@pytest.mark.skipif(has_opengl, reason="this process has OpenGL")
def test_without_opengl_the_view_still_takes_a_scene(qtbot, tmp_path):
    from widgets.trajectory_view import TrajectoryView

    view = TrajectoryView()
    qtbot.addWidget(view)
    view.show()
    view.set_scene(circle_scene())
    view.set_current(4)
    view.set_colour_mode("depth")
    qtbot.wait(20)
    assert view.layer_boxes["truth"].isEnabled() and view.point_limits is not None
    with pytest.raises(MatchscopeError, match="no OpenGL"):
        view.export_png(tmp_path / "view.png")
