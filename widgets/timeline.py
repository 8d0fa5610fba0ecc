"""`TimelineWidget`: a sequence's timeline, as in a video player: a scrub bar with the frames
that could not be decoded (red ticks), the pairs with a result (a green strip) and the loop range
(a shaded band); buttons to step, play and loop; the pairing shown ("t, t+k" or "t, reference").

The app owns the current frame: the widget asks for one with ``position_requested(position)``
and the app answers with :meth:`TimelineWidget.set_position` once that frame is shown. Playback
advances only after that answer, so a slow app drops ticks instead of queueing them. Positions
are 0-based (``frames[i].position == i``), in the label and the spin boxes alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QMouseEvent, QPainter, QPalette, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.sequence.base import FrameInfo

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Playback speeds offered, as multiples of the sequence's frame rate."""
DEFAULT_FPS = 10.0
"""Frames per second played for a sequence without timestamps."""
FPS_RANGE = (1.0, 120.0)
JUMP_FRAMES = 10
"""Positions stepped by Shift+Left / Shift+Right."""
PAIRING_MODES = (("t, t+k", "step"), ("t, reference", "reference"))
TRANSPORT = (  # the buttons: name, icon, tooltip, the method a click calls
    ("first", "SP_MediaSkipBackward", "First frame (Home)", "go_first"),
    ("back", "SP_MediaSeekBackward", "Previous frame (Left; Shift+Left: 10 back)", "step_back"),
    ("play", "SP_MediaPlay", "Play (Space)", "toggle_play"),
    ("forward", "SP_MediaSeekForward", "Next frame (Right; Shift+Right: 10 on)", "step_forward"),
    ("last", "SP_MediaSkipForward", "Last frame (End)", "go_last"),
)
SHORTCUTS = (  # name, key, the method it calls
    ("play", "Space", "toggle_play"),
    ("back", "Left", "step_back"),
    ("forward", "Right", "step_forward"),
    ("back_10", "Shift+Left", "jump_back"),
    ("forward_10", "Shift+Right", "jump_forward"),
    ("first", "Home", "go_first"),
    ("last", "End", "go_last"),
)
BAD_COLOUR = QColor(220, 40, 40)
DONE_COLOUR = QColor(40, 180, 80)
LOOP_COLOUR = QColor(255, 190, 0)
LOOP_ALPHA = (50, 120)  # the band's alpha with Loop off, on
# the bar's rows, in pixels from its top: the groove (ticks, band, handle), then the done strip
GROOVE_TOP, GROOVE_HEIGHT, STRIP_TOP, STRIP_HEIGHT, BAR_HEIGHT = 3, 12, 17, 4, 24
HANDLE_WIDTH = 6
MAX_TICK_PX = 3.0
"""Widest a bad frame's tick is drawn (a frame's cell is wider when N < the bar's width)."""


def frames_per_second(frames: list[FrameInfo]) -> float:
    """1 / the median time between timestamped frames, clamped to ``FPS_RANGE``;
    ``DEFAULT_FPS`` with fewer than two timestamps."""
    stamps = np.array([f.timestamp for f in frames if f.timestamp is not None], np.float64)
    steps = np.diff(stamps)
    steps = steps[steps > 0]
    if steps.size == 0:
        return DEFAULT_FPS
    return float(np.clip(1.0 / np.median(steps), *FPS_RANGE))


def pixel_spans(
    positions: np.ndarray, x0: float, spacing: float, half_px: float, width_px: int
) -> np.ndarray:
    """(M, 2) int [left, right) pixel columns covered by marks centred at ``x0 + positions *
    spacing`` and ``half_px`` wide each side (at least one column), overlapping ones merged: at
    most ``width_px / 2`` spans whatever the number of positions."""
    if positions.size == 0 or width_px <= 0:
        return np.zeros((0, 2), np.int64)
    centres = x0 + positions * spacing
    left = np.clip(np.floor(centres - half_px), 0, width_px - 1).astype(np.int64)
    right = np.clip(np.ceil(centres + half_px).astype(np.int64), left + 1, width_px)
    depth = np.cumsum(np.bincount(left, minlength=width_px + 1)[:width_px])
    depth -= np.cumsum(np.bincount(right, minlength=width_px + 1)[:width_px])
    covered = np.concatenate([[0], (depth > 0).astype(np.int8), [0]])
    return np.flatnonzero(np.diff(covered)).reshape(-1, 2)


class ScrubBar(QWidget):
    """The bar: position 0 at the left, N - 1 at the right. Pressing jumps to the position under
    the cursor and dragging follows it: ``dragged(position)`` at every change (the owner moves
    the handle with :meth:`set_position`). Marks are drawn as merged pixel spans (cached per
    width): 5000+ frames cost at most a few hundred rects."""

    dragged = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedHeight(BAR_HEIGHT)
        self.setMinimumWidth(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.count = 0
        self.position = 0
        self.dragging = False
        self.bad = np.zeros(0, bool)
        self.done = np.zeros(0, bool)
        self.loop = (0, 0, False)  # first, last position, Loop on
        self._spans: dict[str, np.ndarray] = {}
        self._spans_width = -1

    def set_marks(self, bad: np.ndarray, done: np.ndarray) -> None:
        """(N,) bool: frames that could not be decoded, positions whose pair has a result."""
        self.bad, self.done = bad, done
        self._spans_width = -1
        self.update()

    def set_position(self, position: int) -> None:
        self.position = position
        self.update()

    def _geometry(self) -> tuple[float, float]:
        """The x of position 0 and the pixels between neighbouring positions."""
        margin = HANDLE_WIDTH / 2 + 1
        usable = max(self.width() - 2 * margin, 1.0)
        return margin, usable / max(self.count - 1, 1)

    def x_at(self, position: int) -> float:
        """The x (pixels in the bar) of ``position``'s centre."""
        x0, spacing = self._geometry()
        return x0 + position * spacing

    def position_at(self, x: float) -> int:
        """The position nearest to x (pixels in the bar), clamped to 0 .. N - 1."""
        x0, spacing = self._geometry()
        return int(min(max(round((x - x0) / spacing), 0), max(self.count - 1, 0)))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.count == 0:
            return super().mousePressEvent(event)
        self.dragging = True
        self._drag_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.dragging:
            self._drag_to(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.dragging = False

    def _drag_to(self, x: float) -> None:
        if (position := self.position_at(x)) != self.position:
            self.dragged.emit(position)

    def _mark_spans(self) -> dict[str, np.ndarray]:
        if self._spans_width != self.width():
            x0, spacing = self._geometry()
            cell = spacing / 2 if self.count > 1 else 1.0
            self._spans = {
                "bad": pixel_spans(
                    np.flatnonzero(self.bad), x0, spacing, min(cell, MAX_TICK_PX / 2), self.width()
                ),
                "done": pixel_spans(np.flatnonzero(self.done), x0, spacing, cell, self.width()),
            }
            self._spans_width = self.width()
        return self._spans

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        groove = QRect(0, GROOVE_TOP, self.width(), GROOVE_HEIGHT)
        painter.fillRect(groove, palette.color(QPalette.ColorRole.Base))
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawRect(groove.adjusted(0, 0, -1, -1))
        if self.count == 0:
            return
        first, last, looping = self.loop
        if looping or (first, last) != (0, self.count - 1):
            _, spacing = self._geometry()
            left = math.floor(self.x_at(first) - spacing / 2)
            right = math.ceil(self.x_at(last) + spacing / 2)
            band = QColor(LOOP_COLOUR)
            band.setAlpha(LOOP_ALPHA[looping])
            painter.fillRect(left, GROOVE_TOP, right - left, GROOVE_HEIGHT, band)
        spans = self._mark_spans()
        for left, right in spans["bad"].tolist():
            painter.fillRect(left, GROOVE_TOP, right - left, GROOVE_HEIGHT, BAD_COLOUR)
        for left, right in spans["done"].tolist():
            painter.fillRect(left, STRIP_TOP, right - left, STRIP_HEIGHT, DONE_COLOUR)
        handle = QRect(round(self.x_at(self.position) - HANDLE_WIDTH / 2), 1, HANDLE_WIDTH, 0)
        handle.setBottom(GROOVE_TOP + GROOVE_HEIGHT + 1)
        painter.setPen(palette.color(QPalette.ColorRole.Dark))
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        painter.drawRect(handle)


class TimelineWidget(QWidget):
    """The timeline of a sequence's ``frames`` (see the module's docstring for the protocol).

    Signals: ``position_requested(position)`` (dragging, clicks, steps, Home/End, playback; never
    :meth:`set_position`), ``playing_changed(playing)``, and ``pairing_changed(mode, k,
    reference)`` with mode "step" (pair t, t + k) or "reference" (pair t, reference position),
    never emitted by :meth:`set_pairing`. Everything is disabled while there are no frames.
    """

    position_requested = Signal(int)
    playing_changed = Signal(bool)
    pairing_changed = Signal(str, int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.frames: list[FrameInfo] = []
        self.fps = DEFAULT_FPS
        self.shortcuts: dict[str, QShortcut] = {}
        self.dropped_ticks = 0  # playback ticks skipped while the app had not answered
        self._position = 0
        self._pending = False  # a position was requested and the app has not set one since
        self._loop_range = (0, 0)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self.bar = ScrubBar()
        self.bar.dragged.connect(self._request)
        self.label = QLabel()
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a new frame never lays the dock area out again (a repaint of its docks per frame)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addLayout(self._build_transport())
        layout.addLayout(self._build_options())
        self._enable_pairing()
        self.set_frames([])

    def _build_transport(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.buttons: dict[str, QToolButton] = {}
        for name, icon, tooltip, method in TRANSPORT:
            button = self.buttons[name] = QToolButton(toolTip=tooltip)
            button.setIcon(self.style().standardIcon(getattr(QStyle.StandardPixmap, icon)))
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and arrows stay shortcuts
            button.clicked.connect(getattr(self, method))
            row.addWidget(button)
        row.addWidget(self.bar, 1)
        return row

    def _build_options(self) -> QHBoxLayout:
        self.speed_box = QComboBox(toolTip="Playback speed, times the sequence's frame rate")
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}x", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.currentIndexChanged.connect(self._update_interval)
        self.loop_box = QCheckBox("Loop", toolTip="Play in a loop over the range of In .. Out")
        self.loop_box.toggled.connect(self._show_loop)
        self.in_button = QToolButton(text="In", toolTip="Start the loop range at this frame")
        self.in_button.clicked.connect(self.loop_in)
        self.out_button = QToolButton(text="Out", toolTip="End the loop range at this frame")
        self.out_button.clicked.connect(self.loop_out)
        self.mode_box = QComboBox(toolTip="The pair shown: a frame and k later, or a reference")
        for text, mode in PAIRING_MODES:
            self.mode_box.addItem(text, mode)
        self.k_box = QSpinBox(prefix="k ", toolTip="k: positions from a frame to its partner")
        self.reference_box = QSpinBox(prefix="ref ", toolTip="The reference frame's position")
        self.mode_box.currentIndexChanged.connect(self._on_pairing)
        self.k_box.valueChanged.connect(self._on_pairing)
        self.reference_box.valueChanged.connect(self._on_pairing)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        for widget in (self.speed_box, self.loop_box, self.in_button, self.out_button):
            row.addWidget(widget)
        row.addSpacing(12)
        for widget in (self.mode_box, self.k_box, self.reference_box):
            row.addWidget(widget)
        return row

    # -- what the app sets -------------------------------------------------------------------

    def set_frames(self, frames: list[FrameInfo]) -> None:
        """Show ``frames`` (positions 0 .. N - 1; [] disables everything) at position 0, with no
        marks, the whole sequence as the loop range, and playback paused."""
        self.pause()
        self.frames = list(frames)
        count, last = len(self.frames), max(len(self.frames) - 1, 0)
        self.fps = frames_per_second(self.frames)
        self._update_interval()
        self.bar.count, self.bar.dragging = count, False
        self.bar.set_marks(np.zeros(count, bool), np.zeros(count, bool))
        self._loop_range = (0, last)
        for box, low in ((self.k_box, 1), (self.reference_box, 0)):
            blocked = box.blockSignals(True)
            box.setRange(low, max(last, low))
            box.blockSignals(blocked)
        self.setEnabled(count > 0)
        for shortcut in self.shortcuts.values():
            shortcut.setEnabled(count > 0)
        self._show_loop()
        self.set_position(0)

    def set_position(self, position: int) -> None:
        """The app shows frame ``position`` now (clamped; never emits ``position_requested``).
        Call it after every request, with the old position when refusing one: playback waits
        for it. While the bar is dragged its handle stays under the cursor."""
        self._position = min(max(int(position), 0), max(len(self.frames) - 1, 0))
        self._pending = False
        if not self.bar.dragging:
            self._show(self._position)

    @property
    def position(self) -> int:
        """The position the app last set with :meth:`set_position`."""
        return self._position

    def set_bad_frames(self, positions: Iterable[int]) -> None:
        """Mark frames that could not be decoded (red ticks; positions out of range ignored):
        stepping and playback skip them, dragging and clicks can land on them."""
        self.bar.set_marks(self._mask(positions), self.bar.done)
        self._show(self.bar.position)

    def set_done_pairs(self, positions: Iterable[int]) -> None:
        """Mark the positions whose pair has a result (a green strip under the bar)."""
        self.bar.set_marks(self.bar.bad, self._mask(positions))

    def _mask(self, positions: Iterable[int]) -> np.ndarray:
        """(N,) bool, True at ``positions`` in 0 .. N - 1."""
        mask = np.zeros(len(self.frames), bool)
        indices = np.fromiter((int(p) for p in positions), np.int64)
        mask[indices[(indices >= 0) & (indices < mask.size)]] = True
        return mask

    def set_loop_range(self, first: int, last: int) -> None:
        """Loop over positions ``first`` .. ``last`` (inclusive; clamped, in order)."""
        end = max(len(self.frames) - 1, 0)
        first, last = sorted(min(max(int(p), 0), end) for p in (first, last))
        self._loop_range = (first, last)
        self._show_loop()

    def loop_in(self) -> None:
        """Start the loop range at the shown frame (its end follows when it lay before)."""
        position = self.bar.position
        self.set_loop_range(position, max(position, self._loop_range[1]))

    def loop_out(self) -> None:
        """End the loop range at the shown frame (its start follows when it lay after)."""
        position = self.bar.position
        self.set_loop_range(min(self._loop_range[0], position), position)

    @property
    def loop_range(self) -> tuple[int, int]:
        """(first, last) positions of the loop range, inclusive."""
        return self._loop_range

    @property
    def looping(self) -> bool:
        return self.loop_box.isChecked()

    def _show_loop(self) -> None:
        self.bar.loop = (*self._loop_range, self.looping)
        self.bar.update()

    def set_pairing(self, mode: str, k: int, reference: int) -> None:
        """Show the pairing ``mode`` ("step" or "reference"), ``k`` and ``reference`` (clamped
        to 1 .. N - 1 and 0 .. N - 1) without emitting ``pairing_changed``."""
        index = self.mode_box.findData(mode)
        if index < 0:
            raise ValueError(f"pairing mode {mode!r}: expected 'step' or 'reference'")
        boxes = (self.mode_box, self.k_box, self.reference_box)
        blocked = [box.blockSignals(True) for box in boxes]
        self.mode_box.setCurrentIndex(index)
        self.k_box.setValue(k)
        self.reference_box.setValue(reference)
        for box, was_blocked in zip(boxes, blocked, strict=True):
            box.blockSignals(was_blocked)
        self._enable_pairing()

    @property
    def mode(self) -> str:
        """The pairing: "step" (pair t, t + k) or "reference" (pair t, the reference)."""
        return self.mode_box.currentData()

    @property
    def step(self) -> int:
        """k of the "t, t+k" pairing, in positions."""
        return self.k_box.value()

    @property
    def reference(self) -> int:
        return self.reference_box.value()

    def _on_pairing(self) -> None:
        self._enable_pairing()
        self.pairing_changed.emit(self.mode, self.step, self.reference)

    def _enable_pairing(self) -> None:
        self.k_box.setEnabled(self.mode == "step")
        self.reference_box.setEnabled(self.mode == "reference")

    def install_shortcuts(self, window: QWidget) -> None:
        """Keys anywhere in ``window``: Space plays or pauses, Left/Right step, Shift+Left/Right
        step ``JUMP_FRAMES``, Home/End go to the first/last frame (``shortcuts``: name ->
        QShortcut). Disabled while there are no frames: they take no keys from the window."""
        for shortcut in self.shortcuts.values():
            shortcut.setEnabled(False)
            shortcut.deleteLater()
        self.shortcuts = {}
        for name, key, method in SHORTCUTS:
            shortcut = self.shortcuts[name] = QShortcut(QKeySequence(key), window)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.setEnabled(bool(self.frames))
            shortcut.activated.connect(getattr(self, method))

    # -- stepping ----------------------------------------------------------------------------

    def _show(self, position: int) -> None:
        """Move the handle to ``position`` and label it, e.g. "frame 12 / 499 · id 000012 ·
        1.234 s" (the position, the last position, the frame's id, its timestamp if any)."""
        self.bar.set_position(position)
        if not self.frames:
            self.label.setText("no sequence")
            return
        frame = self.frames[position]
        parts = [f"frame {position} / {len(self.frames) - 1}", f"id {frame.frame_id}"]
        if frame.timestamp is not None:
            parts.append(f"{frame.timestamp:.3f} s")
        if self.bar.bad[position]:
            parts.append("not decodable")
        self.label.setText(" · ".join(parts))

    def _request(self, position: int) -> None:
        if position != self.bar.position:
            self._show(position)
            self._pending = True
            self.position_requested.emit(position)

    def _decodable(self, position: int, direction: int, limit: int | None = None) -> int | None:
        """The first position from ``position`` on in ``direction`` (+1 or -1) up to ``limit``
        (inclusive; default: the sequence's end) that is no bad frame; None when there is none."""
        if limit is None:
            limit = len(self.frames) - 1 if direction > 0 else 0
        while (limit - position) * direction >= 0:
            if not self.bar.bad[position]:
                return position
            position += direction
        return None

    def _go(self, position: int, direction: int) -> None:
        """Ask for ``position`` (clamped), or the first decodable frame after it in
        ``direction``; no move when only bad frames lie there."""
        if self.frames:
            position = min(max(position, 0), len(self.frames) - 1)
            if (decodable := self._decodable(position, direction)) is not None:
                self._request(decodable)

    def step_back(self) -> None:
        self._go(self.bar.position - 1, -1)

    def step_forward(self) -> None:
        self._go(self.bar.position + 1, 1)

    def jump_back(self) -> None:
        self._go(self.bar.position - JUMP_FRAMES, -1)

    def jump_forward(self) -> None:
        self._go(self.bar.position + JUMP_FRAMES, 1)

    def go_first(self) -> None:
        self._go(0, 1)

    def go_last(self) -> None:
        self._go(len(self.frames) - 1, -1)

    # -- playback ----------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def interval_ms(self) -> int:
        """Milliseconds between playback ticks: 1000 / (fps * speed), at least 1."""
        return self._timer.interval()

    def _update_interval(self) -> None:
        self._timer.setInterval(max(1, round(1000.0 / (self.fps * self.speed_box.currentData()))))

    def play(self) -> None:
        """Ask for the next position every :attr:`interval_ms`; from the last frame without
        Loop, play starts over at the first."""
        if not self.frames or self.playing:
            return
        if not self.looping and self._decodable(self.bar.position + 1, 1) is None:
            self.go_first()
        self._timer.start()
        self._show_playing(True)

    def pause(self) -> None:
        if self.playing:
            self._timer.stop()
            self._show_playing(False)

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def _show_playing(self, playing: bool) -> None:
        icon = getattr(QStyle.StandardPixmap, "SP_MediaPause" if playing else "SP_MediaPlay")
        self.buttons["play"].setIcon(self.style().standardIcon(icon))
        self.buttons["play"].setToolTip(f"{'Pause' if playing else 'Play'} (Space)")
        self.playing_changed.emit(playing)

    def _tick(self) -> None:
        """Ask for the next decodable position, unless the app has not shown the last one yet
        (the tick is dropped); after the end, wrap to the loop range's first frame or pause."""
        if self._pending:
            self.dropped_ticks += 1
            return
        current, position = self.bar.position, None
        if not self.looping:
            position = self._decodable(current + 1, 1)
        else:
            first, last = self._loop_range
            if first <= current < last:
                position = self._decodable(current + 1, 1, last)
            if position is None:
                position = self._decodable(first, 1, last)
        if position is None:
            self.pause()
        else:
            self._request(position)
