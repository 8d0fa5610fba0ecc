"""`PairView`: image placement, real clicks, linked views, match lines and the probe marks."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtWidgets import QApplication

from core.probe import PIN_COLOURS, PinnedProbe, ProbeReading, read_probe
from core.result import MatchResult, Provenance
from tests.widgets.hover import canvas_pos, hover, move_mouse
from widgets import READOUT_HZ
from widgets.pair_view import PairView

H, W = 160, 200


@pytest.fixture
def view(qtbot) -> PairView:
    view = PairView()
    qtbot.addWidget(view)
    view.resize(900, 420)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(0)
    view.set_images(
        rng.integers(0, 255, (H, W, 3), np.uint8),
        rng.integers(0, 255, (H, W, 3), np.uint8),
        "a.png",
        "b.png",
    )
    return view


def widget_pos(view: PairView, panel_view, x: float, y: float):
    """Where pixel (x, y) of a panel is on the canvas' viewport."""
    return view.canvas.mapFromScene(panel_view.mapViewToScene(QPointF(x, y)))


def paint(view: PairView) -> None:
    """Repaint now: pyqtgraph applies new view ranges to the transforms just before painting."""
    view.canvas.viewport().repaint()


def random_matches(count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matches = rng.uniform(0, [W - 1, H - 1, W - 1, H - 1], (count, 4)).astype(np.float32)
    return matches, rng.uniform(0, 1, count).astype(np.float32)


def test_pixel_centres_sit_on_integer_coordinates(view):
    image = view.panel_a.image
    assert image.mapRectToParent(image.boundingRect()) == QRectF(-0.5, -0.5, W, H)
    assert view.panel_a.title.text == "A: a.png  (200x160)"


def test_a_real_click_reports_the_pixel_of_a(view, qtbot):
    pos = widget_pos(view, view.view_a, 37, 121)
    with qtbot.waitSignal(view.clicked_a, timeout=2000) as clicked:
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    x, y, _ = clicked.args
    assert abs(x - 37) < 0.5 and abs(y - 121) < 0.5

    with qtbot.assertNotEmitted(view.clicked_a, wait=100):  # B is not A
        pos_b = widget_pos(view, view.view_b, 37, 121)
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos_b)


def test_a_real_click_in_b_reports_the_pixel_of_b(view, qtbot):
    pos = widget_pos(view, view.view_b, 150, 20)
    with qtbot.assertNotEmitted(view.clicked_a, wait=100):
        with qtbot.waitSignal(view.clicked_b, timeout=2000) as clicked:
            qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    x, y, radius = clicked.args
    assert abs(x - 150) < 0.5 and abs(y - 20) < 0.5 and radius > 0


def test_hovering_shows_the_pixel_and_the_nearest_match_in_the_corner(view, qtbot):
    view.set_matches(np.array([[30, 40, 150, 22]], np.float32), np.array([0.625], np.float32))
    text = hover(qtbot, view.canvas, view.panel_b, 150, 20)
    assert text.startswith("B (")
    x, y = (float(v) for v in text.split("\n")[0][3:-1].split(", "))
    assert abs(x - 150) < 0.5 and abs(y - 20) < 0.5
    assert "match → A (30.0, 40.0), certainty 0.625" in text
    corner = view.panel_b.readout.text.mapToItem(view.view_b, QPointF(0, 0))
    assert (corner.x(), corner.y()) == (2, 2)  # the view's top-left corner, at any zoom
    assert "match" not in hover(qtbot, view.canvas, view.panel_a, 150, 150)  # none near

    QApplication.sendEvent(view.canvas.viewport(), QEvent(QEvent.Type.Leave))
    assert not view.panel_b.readout.text.isVisible()


def test_many_moves_within_one_interval_make_one_readout_update(view, qtbot, monkeypatch):
    monkeypatch.setitem(pg.CONFIG_OPTIONS, "mouseRateLimit", 0)  # the scene passes every move
    moves, calls = [], []
    view.canvas.scene().sigMouseMoved.connect(moves.append)
    view.panel_a.set_readout(lambda x, y: calls.append((x, y)) or f"{x:.0f}")
    points = [canvas_pos(view.canvas, view.panel_a, 20 + k, 30) for k in range(40)]
    for pos in points:  # far faster than READOUT_HZ
        move_mouse(view.canvas, pos)
    qtbot.wait(round(3000 / READOUT_HZ))
    assert len(moves) == 40 and len(calls) == 1  # one lookup, at the latest position
    assert calls[0] == pytest.approx((59, 30), abs=0.5)
    assert view.panel_a.readout.text.toPlainText() == "59"


def test_pins_are_coloured_dots_in_a_and_b(view):
    pins = [
        PinnedProbe(ProbeReading(10.0, 20.0, 15.0, 24.0, 0.9, "warp"), 0),
        PinnedProbe(ProbeReading(50.0, 60.0, 55.0, 64.0, 0.8, "warp", "b"), 3),
        PinnedProbe(ProbeReading(70.0, 80.0), 1),  # no match: a dot in A only
    ]
    view.set_pins(pins)
    drawn_a, drawn_b = view.panel_a.pins.data, view.panel_b.pins.data
    assert [(p["x"], p["y"]) for p in drawn_a] == [(10, 20), (50, 60), (70, 80)]
    assert [(p["x"], p["y"]) for p in drawn_b] == [(15, 24), (55, 64)]
    colours = [p["brush"].color().getRgb()[:3] for p in drawn_a]
    assert colours == [PIN_COLOURS[0], PIN_COLOURS[3], PIN_COLOURS[1]]
    view.set_pins([])
    assert len(view.panel_a.pins.data) == 0


def test_linked_views_share_their_pixel_range(view):
    assert view.link_box.isChecked()
    view.view_a.setRange(QRectF(20, 30, 40, 30), padding=0)
    assert np.allclose(view.view_b.viewRange(), view.view_a.viewRange())

    view.link_box.setChecked(False)
    view.view_a.setRange(QRectF(100, 100, 20, 20), padding=0)
    assert not np.allclose(view.view_b.viewRange(), view.view_a.viewRange())


def test_lines_follow_threshold_and_visible_region(view):
    matches, certainty = random_matches(10_000)
    view.max_lines_box.setValue(20_000)
    view.set_matches(matches, certainty)
    view.set_threshold(0.25)
    assert view.lines.drawn_count == np.count_nonzero(certainty >= 0.25)
    view.set_threshold(0.75)
    assert view.lines.drawn_count == np.count_nonzero(certainty >= 0.75)

    view.max_lines_box.setValue(500)
    assert view.lines.drawn_count == 500

    view.max_lines_box.setValue(20_000)
    view.view_a.setRange(QRectF(0, 0, 50, 40), padding=0)  # linked: B shows the same pixels
    paint(view)
    shown = view.view_a.viewRect()
    inside = np.all(
        (matches >= [shown.left(), shown.top()] * 2)
        & (matches <= [shown.right(), shown.bottom()] * 2),
        axis=1,
    )
    assert view.lines.drawn_count == np.count_nonzero(inside & (certainty >= 0.75))

    view.set_matches(None, None)
    assert view.lines.drawn_count == 0


def test_probe_marks_follow_each_views_transform(view):
    view.link_box.setChecked(False)
    view.view_b.setRange(QRectF(50, 20, 100, 80), padding=0)
    paint(view)
    view.set_probe(ProbeReading(30.0, 40.0, 90.0, 60.0, 0.9, "warp"))
    mark_a, mark_b = view.lines.probe_ends
    assert view.view_a.mapSceneToView(mark_a) == QPointF(30.0, 40.0)
    assert view.view_b.mapSceneToView(mark_b).x() == pytest.approx(90.0)
    assert view.view_b.mapSceneToView(mark_b).y() == pytest.approx(60.0)

    view.view_b.setRange(QRectF(100, 100, 50, 50), padding=0)  # B end scrolled out of view
    paint(view)
    assert view.lines.probe_ends[1] is None

    view.set_probe(ProbeReading(3.0, 4.0))  # no match: only the A mark
    assert len(view.lines.probe_ends) == 1
    view.set_probe(None)
    assert view.lines.probe_ends == []


def test_clicks_snap_to_a_sparse_match_within_screen_pixels_at_any_zoom(view, qtbot):
    """The probe snaps to a match SNAP_SCREEN_PX screen pixels away, zoomed out or in."""
    from widgets import SNAP_SCREEN_PX

    result = MatchResult(
        matches=np.array([[100, 80, 110, 84]], np.float32),
        match_certainty=np.ones(1, np.float32),
        provenance=Provenance(size_a=(H, W), size_b=(H, W)),
    )
    readings = []
    view.clicked_a.connect(lambda x, y, radius: readings.append(read_probe(result, x, y, radius)))
    for shown in (QRectF(-0.5, -0.5, W, H), QRectF(90, 70, 20, 20)):  # whole, then zoomed in
        view.view_a.setRange(shown, padding=0)
        paint(view)
        match = QPointF(widget_pos(view, view.view_a, 100, 80))
        for offset, snaps in ((0.6 * SNAP_SCREEN_PX, True), (1.5 * SNAP_SCREEN_PX, False)):
            pos = (match + QPointF(offset, 0)).toPoint()
            qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
            assert readings[-1].has_match == snaps, (shown, offset)
        assert (readings[-2].xa, readings[-2].ya) == (100, 80)


def test_a_probe_repaints_its_marks_not_the_match_lines(view):
    """The lines are cached at screen resolution and the probe's marks are a child item: moving
    the probe dirties a small rectangle and leaves the lines' cache alone."""
    from PySide6.QtWidgets import QGraphicsItem

    matches, certainty = random_matches(300)
    view.set_matches(matches, certainty)
    paint(view)
    lines = view.lines
    assert lines.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache
    view.set_probe(ProbeReading(50.0, 60.0, 120.0, 80.0, 0.9, "warp"))
    marks = lines.marks.mapRectToScene(lines.marks.boundingRect())
    whole = lines.boundingRect()
    assert marks.width() * marks.height() < 0.2 * whole.width() * whole.height()
    for end in lines.probe_ends:  # both marks lie inside the rectangle that is repainted
        assert marks.contains(end)
