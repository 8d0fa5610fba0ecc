"""Trails in `PairView`: the tracks' recent paths over A, their controls, and a chosen track."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt

from core.figures import certainty_lut
from core.sequence.tracks import TrackSet, Trails
from widgets.pair_view import DEFAULT_TRAIL_LENGTH, PairView
from widgets.trails import TRAIL_BINS, age_colormap

H, W = 160, 200


@pytest.fixture
def view(qtbot) -> PairView:
    view = PairView()
    qtbot.addWidget(view)
    view.resize(900, 420)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), np.uint8)
    view.set_images(frame, frame, "000004", "000005")
    return view


def three_trails() -> Trails:
    """Three trails of 2, 3 and 4 points: ages 2, 5 and 10, certainty 0.1, 0.5 and 0.9."""
    points = [[10, 10], [20, 12], [50, 60], [55, 62], [60, 64], [100, 100], [110, 95]]
    points += [[120, 90], [130, 85]]
    return Trails(
        points=np.array(points, np.float32),
        offsets=np.array([0, 2, 5, 9]),
        track_ids=np.array([1, 2, 3]),
        age=np.array([2, 5, 10]),
        certainty=np.array([0.1, 0.5, 0.9], np.float32),
    )


def pen_colours(view: PairView) -> list[tuple[int, int, int]]:
    return [item.pen().color().getRgb()[:3] for item in view.trails.drawn_paths()]


def widget_pos(view: PairView, x: float, y: float):
    return view.canvas.mapFromScene(view.view_a.mapViewToScene(QPointF(x, y)))


def test_trails_are_one_path_per_colour_bin_through_their_points(view):
    assert not view.trail_controls.isVisible()  # no sequence yet
    trails = three_trails()
    view.set_trails(trails)
    assert view.trail_controls.isVisible() and view.tracks_box.isChecked()
    drawn = view.trails.drawn_paths()
    assert len(drawn) == 3  # ages 2/10, 5/10 and 10/10 fall in three bins
    covered = QRectF()
    for item in drawn:
        covered = covered.united(item.path().boundingRect())
    for x, y in trails.points:
        assert covered.adjusted(-1e-3, -1e-3, 1e-3, 1e-3).contains(QPointF(x, y))
    assert covered == QRectF(10, 10, 120, 90)
    # over the image, under the pins and the probe's marks
    image, pins = view.panel_a.image, view.panel_a.pins
    assert image.zValue() < view.trails.zValue() < pins.zValue()
    assert view.trails.parentItem() is view.view_a.childGroup


def test_same_bin_trails_share_one_path_and_a_single_point_draws_nothing(view):
    trails = three_trails()
    trails.age = np.array([10, 10, 10])
    view.set_trails(trails)
    assert len(view.trails.drawn_paths()) == 1

    single = Trails(np.array([[5, 5]], np.float32), np.array([0, 1]), *[np.ones(1)] * 3)
    view.set_trails(single, "certainty")
    assert all(item.path().length() == 0 for item in view.trails.drawn_paths())


def test_colouring_by_age_or_certainty_picks_the_pens(view, qtbot):
    view.set_trails(three_trails())
    by_age = pen_colours(view)
    oldest = age_colormap().mapToQColor((TRAIL_BINS - 0.5) / TRAIL_BINS).getRgb()[:3]
    assert by_age[-1] == oldest  # bins ascending: the age-10 trail is last

    with qtbot.waitSignal(view.trail_options_changed, timeout=1000) as changed:
        view.trail_colour_box.setFocus()
        qtbot.keyClick(view.trail_colour_box, Qt.Key.Key_Down)
    assert changed.args == [DEFAULT_TRAIL_LENGTH, "certainty"]
    assert view.trail_colour_by == "certainty"
    by_certainty = pen_colours(view)
    assert by_certainty != by_age and len(by_certainty) == 3
    lut = certainty_lut()
    for certainty, colour in zip((0.1, 0.5, 0.9), by_certainty, strict=True):
        centre = (int(certainty * TRAIL_BINS) + 0.5) / TRAIL_BINS
        assert np.abs(np.subtract(colour, lut[round(centre * 255)])).max() <= 2

    view.set_trails(three_trails(), "age")  # the window may choose; the box follows
    assert view.trail_colour_box.currentText() == "age" and pen_colours(view) == by_age


def test_the_length_box_asks_for_other_trails(view, qtbot):
    view.set_trails(three_trails())
    assert view.trail_length == DEFAULT_TRAIL_LENGTH == 10
    box = view.trail_length_box
    assert (box.minimum(), box.maximum()) == (2, 200)
    with qtbot.waitSignal(view.trail_options_changed, timeout=1000) as changed:
        box.setFocus()
        qtbot.keyClick(box, Qt.Key.Key_Up)
    assert changed.args == [11, "age"] and view.trail_length == 11


def test_the_tracks_box_shows_and_hides_the_trails(view, qtbot):
    view.set_trails(three_trails())
    assert view.trails.isVisible()
    qtbot.mouseClick(view.tracks_box, Qt.MouseButton.LeftButton)
    assert not view.tracks_box.isChecked() and not view.trails.isVisible()
    qtbot.mouseClick(view.tracks_box, Qt.MouseButton.LeftButton)
    assert view.trails.isVisible()


def test_a_click_on_a_trail_finds_its_track_to_highlight(view, qtbot):
    """The window's part: the click's pixel goes to `TrackSet.track_at`, the track's points
    to `highlight_track`."""
    tracks = TrackSet()
    start, step = np.array([[40.0, 30.0], [150.0, 120.0]]), np.array([5.0, 2.0])
    for position_a in range(4):
        a, b = start + position_a * step, start + (position_a + 1) * step
        tracks.add_pair(position_a, np.hstack([a, b]), np.full(2, 0.8, np.float32))
    view.set_trails(tracks.trails(4, DEFAULT_TRAIL_LENGTH))

    def follow(x: float, y: float, radius: float) -> None:
        track_id = tracks.track_at(4, x, y, radius)
        view.highlight_track(None if track_id is None else tracks.track(track_id).points)

    view.track_clicked.connect(follow)
    with qtbot.waitSignal(view.track_clicked, timeout=2000) as clicked:
        qtbot.mouseClick(
            view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(view, 171, 127)
        )  # 1 px off the second track's observation in frame 4 (170, 128)
    x, y, radius = clicked.args
    assert abs(x - 171) < 0.5 and abs(y - 127) < 0.5 and radius > 1.5
    dots = np.column_stack(view.trails.highlight_dots.getData())
    np.testing.assert_allclose(dots, start[1] + np.arange(5)[:, None] * step)
    assert view.trails.highlight_path.path().boundingRect() == QRectF(150, 120, 20, 8)
    assert view.trails.highlight_path.zValue() > 0  # over the trails

    qtbot.mouseClick(view.tracks_box, Qt.MouseButton.LeftButton)  # hidden: clicks are probes
    with qtbot.assertNotEmitted(view.track_clicked, wait=100):
        with qtbot.waitSignal(view.clicked_a, timeout=2000):
            qtbot.mouseClick(
                view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(view, 60, 38)
            )


def test_no_trails_clear_the_paths_and_the_highlight(view):
    view.set_trails(three_trails())
    view.highlight_track(np.array([[10, 10], [20, 12]], np.float32))
    view.set_trails(None)
    assert view.trails.drawn_paths() == []
    assert view.trails.highlight_path.path().isEmpty()
    assert len(view.trails.highlight_dots.getData()[0]) == 0
    assert view.trail_controls.isVisible()  # the controls stay once there were trails


def test_many_long_trails_stay_a_few_paths(view):
    rng = np.random.default_rng(3)
    count, length = 500, 30
    walks = rng.uniform(0, [W, H], (count, 1, 2)) + rng.normal(0, 1, (count, length, 2)).cumsum(1)
    trails = Trails(
        points=walks.reshape(-1, 2).astype(np.float32),
        offsets=np.arange(count + 1) * length,
        track_ids=np.arange(count),
        age=rng.integers(1, 200, count),
        certainty=rng.uniform(0, 1, count).astype(np.float32),
    )
    view.set_trails(trails)
    view.canvas.viewport().repaint()
    assert len(view.trails.drawn_paths()) <= TRAIL_BINS
    elements = sum(item.path().elementCount() for item in view.trails.drawn_paths())
    assert count * length <= elements <= count * (length + 1)  # NaN breaks may be moves
