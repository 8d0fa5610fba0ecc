"""The window's 3D dock with OpenGL (under xvfb, see `tests.widgets.opengl`): real clicks on a
camera move the timeline, on a map point fill the inspector."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.app.test_window import make_window
from tests.widgets.opengl import SKIP_REASON, has_opengl

pytestmark = pytest.mark.skipif(not has_opengl, reason=SKIP_REASON)
MATCHER = "tests.app.plugins:ShiftMatcher"


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A VO run over 20 frames of the synthetic room, saved with its KITTI folder."""
    from core.sequence import open_sequence
    from core.vo.run import run_vo, write_outputs
    from core.vo.scene import sequence_source
    from core.vo.synthetic import SyntheticSequence, write_kitti_layout

    root = tmp_path_factory.mktemp("vo_gl")
    folder = write_kitti_layout(root / "room", SyntheticSequence(20, (240, 320)))
    reader = open_sequence(folder)
    run = run_vo(reader, "orb")
    run.source = sequence_source(str(folder))
    write_outputs(root / "run", reader, run, with_eval=False)
    return root / "run"


def click(qtbot, widget, pixel) -> None:
    qtbot.mouseClick(
        widget, Qt.MouseButton.LeftButton, pos=QPoint(round(pixel[0]), round(pixel[1]))
    )


def test_clicks_in_the_3d_dock_move_the_timeline_and_inspect_a_point(qtbot, saved_run):
    window = make_window(qtbot, MATCHER)
    assert window.open_vo_run(str(saved_run)) and window.sequence is not None
    view, dock = window.trajectory_view, window.trajectory_dock
    dock.setFloating(True)  # room for the path's cameras to lie apart
    dock.resize(900, 700)
    qtbot.waitExposed(view.canvas_widget)
    qtbot.wait(100)
    size = np.array([view.canvas_widget.width(), view.canvas_widget.height()])
    frames = np.array([view.screen_position_of_frame(p) for p in range(len(view.scene))])
    hits = [view.pick(tuple(pixel))[0] for pixel in frames]
    frame = next(hit for hit in reversed(hits) if hit not in (None, 0))  # what a click picks
    click(qtbot, view.canvas_widget, frames[hits.index(frame)])
    qtbot.waitUntil(lambda: window.sequence.position == frame)
    assert window.timeline.position == frame
    scene = view.scene
    for index in np.argsort(-scene.observation_counts):  # a well-seen point away from cameras
        pixel = np.array(view.screen_position_of_point(int(index)))
        on_screen = (pixel > 10).all() and (pixel < size - 10).all()
        if on_screen and np.hypot(*(frames - pixel).T).min() > 20:
            break
    else:
        raise AssertionError("every point is near a camera")
    picked = view.pick(tuple(pixel))[1]  # the point the click picks (the nearest drawn)
    click(qtbot, view.canvas_widget, pixel)
    qtbot.waitUntil(lambda: window.vo_panel.chosen_point == picked)
    positions = scene.reprojection(picked)[0]
    assert window.vo_panel.table.rowCount() == len(positions) >= 2
