"""`TimelineWidget`: real drags and clicks on the scrub bar, steps over bad frames, playback that
waits for the app, the loop range, a parent window's shortcuts, the pairing controls, painting."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.sequence.base import FrameInfo
from widgets.timeline import (
    BAD_COLOUR,
    DONE_COLOUR,
    GROOVE_HEIGHT,
    GROOVE_TOP,
    STRIP_TOP,
    TimelineWidget,
    frames_per_second,
    pixel_spans,
)


def make_frames(count: int, fps: float | None = 25.0) -> list[FrameInfo]:
    """``count`` frames with ids "000000" ..., timestamped at ``fps`` (None: no timestamps)."""
    return [
        FrameInfo(i, f"{i:06d}", None if fps is None else i / fps, f"{i:06d}.png")
        for i in range(count)
    ]


class App:
    """Records the timeline's requests and, like the window, answers each with set_position
    (``answer=False``: an app still busy with the first request)."""

    def __init__(self, timeline: TimelineWidget, answer: bool = True):
        self.timeline, self.answer = timeline, answer
        self.requests: list[int] = []
        timeline.position_requested.connect(self.on_request)

    def on_request(self, position: int) -> None:
        self.requests.append(position)
        if self.answer:
            self.timeline.set_position(position)


@pytest.fixture
def timeline(qtbot) -> TimelineWidget:
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    widget.resize(900, 80)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_frames(make_frames(50))
    return widget


def bar_point(timeline: TimelineWidget, position: int) -> QPoint:
    """Where ``position`` is on the bar, in the bar's pixels."""
    return QPoint(round(timeline.bar.x_at(position)), GROOVE_TOP + GROOVE_HEIGHT // 2)


def fast(timeline: TimelineWidget, qtbot) -> None:
    """120 fps timestamps at 8x: a tick every millisecond."""
    timeline.set_frames(make_frames(len(timeline.frames), fps=120.0))
    timeline.speed_box.setCurrentIndex(timeline.speed_box.findText("8x"))
    assert timeline.interval_ms == 1


def test_the_label_shows_the_position_id_and_timestamp(timeline):
    assert timeline.fps == pytest.approx(25.0)
    assert timeline.interval_ms == 40
    assert timeline.label.text() == "frame 0 / 49 · id 000000 · 0.000 s"
    timeline.set_position(12)
    assert timeline.position == 12
    assert timeline.label.text() == "frame 12 / 49 · id 000012 · 0.480 s"
    timeline.set_frames([FrameInfo(i, i * 10) for i in range(5)])
    assert (timeline.fps, timeline.interval_ms) == (10.0, 100)
    assert timeline.label.text() == "frame 0 / 4 · id 0"


def test_frames_per_second_is_the_median_step_clamped():
    assert frames_per_second(make_frames(20, fps=30.0)) == pytest.approx(30.0)
    assert frames_per_second(make_frames(20, fps=1000.0)) == 120.0
    assert frames_per_second(make_frames(20, fps=None)) == 10.0
    assert frames_per_second(make_frames(1)) == 10.0


def test_dragging_the_bar_requests_every_position_it_passes(timeline, qtbot):
    app = App(timeline)
    timeline.set_bad_frames({5})
    bar = timeline.bar
    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=bar_point(timeline, 2))
    for position in range(3, 11):
        qtbot.mouseMove(bar, bar_point(timeline, position))
        assert bar.position == position  # the handle follows the cursor
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=bar_point(timeline, 10))
    assert app.requests == list(range(2, 11))  # the bad frame 5 included: a drag lands anywhere
    assert timeline.position == 10
    qtbot.mouseMove(bar, bar_point(timeline, 20))  # released: moving no longer drags
    assert app.requests[-1] == 10


def test_the_handle_stays_under_the_cursor_while_the_app_catches_up(timeline, qtbot):
    App(timeline, answer=False)
    bar = timeline.bar
    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=bar_point(timeline, 30))
    timeline.set_position(4)  # the app shows an older request
    assert (bar.position, timeline.position) == (30, 4)
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=bar_point(timeline, 30))
    timeline.set_position(30)
    assert bar.position == 30


def test_a_click_on_the_bar_jumps_there(timeline, qtbot):
    app = App(timeline)
    qtbot.mouseClick(timeline.bar, Qt.MouseButton.LeftButton, pos=bar_point(timeline, 37))
    assert app.requests == [37]
    assert timeline.label.text().startswith("frame 37 / 49")


def test_the_step_buttons_request_one_position_on_and_back(timeline, qtbot):
    app = App(timeline)
    qtbot.mouseClick(timeline.buttons["forward"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(timeline.buttons["forward"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(timeline.buttons["back"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(timeline.buttons["last"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(timeline.buttons["forward"], Qt.MouseButton.LeftButton)  # at the end
    qtbot.mouseClick(timeline.buttons["first"], Qt.MouseButton.LeftButton)
    assert app.requests == [1, 2, 1, 49, 0]
    assert "(Right" in timeline.buttons["forward"].toolTip()
    assert "(Space)" in timeline.buttons["play"].toolTip()


def test_stepping_skips_bad_frames(timeline, qtbot):
    app = App(timeline)
    timeline.set_bad_frames([1, 2, 5, 48, 49, 1000, -3])
    for _ in range(3):
        qtbot.mouseClick(timeline.buttons["forward"], Qt.MouseButton.LeftButton)
    for _ in range(3):
        qtbot.mouseClick(timeline.buttons["back"], Qt.MouseButton.LeftButton)
    assert app.requests == [3, 4, 6, 4, 3, 0]
    qtbot.mouseClick(timeline.buttons["last"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(timeline.buttons["forward"], Qt.MouseButton.LeftButton)  # only bad ones left
    assert app.requests[-1] == 47
    assert len(app.requests) == 7
    timeline.set_position(2)
    assert timeline.label.text().endswith("· not decodable")


def test_play_advances_and_pauses_at_the_end(timeline, qtbot):
    fast(timeline, qtbot)
    app = App(timeline)
    playing = []
    timeline.playing_changed.connect(playing.append)
    timeline.set_bad_frames({46})
    timeline.set_position(43)
    qtbot.mouseClick(timeline.buttons["play"], Qt.MouseButton.LeftButton)
    assert timeline.playing
    qtbot.waitUntil(lambda: not timeline.playing, timeout=5000)
    assert app.requests == [44, 45, 47, 48, 49]
    assert playing == [True, False]
    timeline.play()  # at the end without Loop: from the start again
    assert app.requests[-1] == 0
    timeline.pause()


def test_play_with_loop_wraps_within_the_range(timeline, qtbot):
    fast(timeline, qtbot)
    app = App(timeline)
    timeline.set_position(3)
    qtbot.mouseClick(timeline.in_button, Qt.MouseButton.LeftButton)
    timeline.set_position(6)
    qtbot.mouseClick(timeline.out_button, Qt.MouseButton.LeftButton)
    assert timeline.loop_range == (3, 6)
    qtbot.mouseClick(timeline.loop_box, Qt.MouseButton.LeftButton, pos=QPoint(8, 8))
    assert timeline.looping
    timeline.set_position(5)
    timeline.play()
    qtbot.waitUntil(lambda: len(app.requests) >= 8, timeout=5000)
    timeline.pause()
    assert app.requests[:8] == [6, 3, 4, 5, 6, 3, 4, 5]
    timeline.set_position(1)
    qtbot.mouseClick(timeline.out_button, Qt.MouseButton.LeftButton)  # before In: In follows
    assert timeline.loop_range == (1, 1)
    timeline.set_position(9)
    qtbot.mouseClick(timeline.in_button, Qt.MouseButton.LeftButton)  # after Out: Out follows
    assert timeline.loop_range == (9, 9)
    timeline.set_loop_range(70, -2)
    assert timeline.loop_range == (0, 49)


def test_playback_waits_for_the_app_to_show_each_frame(timeline, qtbot):
    fast(timeline, qtbot)
    app = App(timeline, answer=False)
    timeline.play()
    qtbot.waitUntil(lambda: timeline.dropped_ticks >= 10, timeout=5000)
    assert app.requests == [1]  # no answer yet: ticks are dropped, not queued
    timeline.set_position(1)
    qtbot.waitUntil(lambda: len(app.requests) == 2, timeout=1000)
    qtbot.wait(30)
    timeline.pause()
    assert app.requests == [1, 2]


@pytest.fixture
def window(qtbot) -> tuple[QWidget, TimelineWidget]:
    """A window holding a timeline of 50 frames, with the timeline's shortcuts."""
    window = QWidget()
    qtbot.addWidget(window)
    timeline = TimelineWidget()
    QVBoxLayout(window).addWidget(timeline)
    timeline.set_frames(make_frames(50))
    timeline.install_shortcuts(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    return window, timeline


def test_shortcuts_of_the_window_step_play_and_jump(window, qtbot):
    window, timeline = window
    app = App(timeline)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_End)
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.keyClick(window, Qt.Key.Key_Home)
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert app.requests == [1, 49, 39, 38, 0, 10]
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert timeline.playing
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not timeline.playing
    timeline.set_frames([])
    assert not any(shortcut.isEnabled() for shortcut in timeline.shortcuts.values())
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not timeline.playing


def test_the_pairing_controls_emit_pairing_changed(timeline, qtbot):
    changes = []
    timeline.pairing_changed.connect(lambda *args: changes.append(args))
    assert (timeline.mode, timeline.step, timeline.reference) == ("step", 1, 0)
    assert not timeline.reference_box.isEnabled()
    qtbot.keyClick(timeline.k_box, Qt.Key.Key_Up)
    qtbot.keyClick(timeline.mode_box, Qt.Key.Key_Down)
    assert timeline.reference_box.isEnabled() and not timeline.k_box.isEnabled()
    qtbot.keyClick(timeline.reference_box, Qt.Key.Key_Up)
    assert changes == [("step", 2, 0), ("reference", 2, 0), ("reference", 2, 1)]
    timeline.set_pairing("step", 5, 70)
    assert (timeline.mode, timeline.step, timeline.reference) == ("step", 5, 49)
    assert timeline.k_box.isEnabled()
    assert len(changes) == 3
    assert timeline.k_box.maximum() == 49
    with pytest.raises(ValueError, match="pairing mode"):
        timeline.set_pairing("stereo", 1, 0)


def test_without_frames_everything_is_disabled(qtbot):
    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    timeline.show()
    app = App(timeline)
    assert not timeline.isEnabled()
    assert not timeline.buttons["forward"].isEnabled()
    assert timeline.label.text() == "no sequence"
    qtbot.mouseClick(timeline.buttons["forward"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(timeline.bar, Qt.MouseButton.LeftButton)
    timeline.play()
    timeline.step_forward()
    assert not timeline.playing
    assert app.requests == []
    timeline.set_frames(make_frames(3))
    assert timeline.isEnabled()


def test_5000_frames_paint_as_a_few_spans(timeline, qtbot):
    timeline.set_frames(make_frames(5000))
    timeline.set_bad_frames(range(0, 2500, 3))
    timeline.set_done_pairs(range(4000))
    timeline.set_loop_range(100, 4500)
    timeline.loop_box.setChecked(True)
    bar = timeline.bar
    image = bar.grab().toImage()
    assert not image.isNull()
    assert all(len(spans) <= 2 for spans in bar._mark_spans().values())  # one each, + rounding

    def colour(position: int, y: int) -> QColor:
        return image.pixelColor(round(bar.x_at(position)), y)

    assert colour(1000, GROOVE_TOP + 4) == BAD_COLOUR
    assert colour(3000, GROOVE_TOP + 4) != BAD_COLOUR
    assert colour(3000, STRIP_TOP + 1) == DONE_COLOUR
    assert colour(4800, STRIP_TOP + 1) != DONE_COLOUR


def test_pixel_spans_merge_overlapping_marks():
    spans = pixel_spans(np.array([0, 1, 2, 10]), 5.0, 10.0, 5.0, 200)
    assert spans.tolist() == [[0, 30], [100, 110]]
    thin = pixel_spans(np.array([3]), 5.0, 10.0, 0.2, 200)
    assert thin.tolist() == [[34, 36]]
    many = pixel_spans(np.arange(0, 5000, 2), 4.0, 0.15, 0.07, 760)
    assert len(many) == 1
    assert pixel_spans(np.zeros(0, np.int64), 4.0, 1.0, 0.5, 760).shape == (0, 2)
