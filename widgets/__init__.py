"""Reusable Qt views of core results, drawn with pyqtgraph; no model code and no app state.

Views take numpy arrays through setters and report clicks as pixel positions of A
(``clicked_a``) or of B (``clicked_b``), with the radius in that image's pixels that
``SNAP_SCREEN_PX`` screen pixels cover at the view's zoom (how far a click on a sparse result
snaps to a match). Images are shown in pixel coordinates with OpenCV's convention (the centre
of pixel (0, 0) at (0, 0), so a W x H image spans [-0.5, W - 0.5] x [-0.5, H - 0.5]), y down,
aspect locked.

Every `ImagePanel` can draw the pinned probes (`ImagePanel.show_pins`) and show a hover readout
in its top-left corner (`ImagePanel.set_readout`: the value of its layer under the cursor, at
most ``READOUT_HZ`` times a second however fast the mouse moves).
"""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections.abc import Callable

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer, SignalInstance

from core.figures import certainty_lut, error_lut
from core.probe import PinnedProbe, ProbeReading

PROBE_PEN = pg.mkPen((255, 40, 40), width=2)
SNAP_SCREEN_PX = 12.0
"""A click snaps to a match this many screen pixels away, at any zoom."""
PIN_SIZE_PX = 11
PIN_PEN = pg.mkPen((0, 0, 0), width=1.5)
READOUT_HZ = 30
"""Most hover readout updates per second (mouse moves in between are coalesced)."""
READOUT_FILL = pg.mkBrush(0, 0, 0, 170)


@functools.cache
def certainty_colormap() -> pg.ColorMap:
    """The certainty colours of the CLI's figures (viridis) as a pyqtgraph colour map on 0..1
    (one shared instance: views only read it)."""
    lut = certainty_lut()
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut, name="certainty")


@functools.cache
def error_colormap() -> pg.ColorMap:
    """The true-error colours (green -> red) as a pyqtgraph colour map on 0..1 (shown with
    levels 0..``ERROR_SCALE_PX``)."""
    lut = error_lut()
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut, name="error")


GREY_CACHE_SIZE = 4
_greys: list[tuple[weakref.ref, np.ndarray]] = []  # the latest first


def grey(rgb: np.ndarray | None) -> np.ndarray | None:
    """(H, W) uint8 grey of an (H, W, 3) uint8 RGB image (None stays None). The last few
    are remembered by identity (the app never changes an image it shows): a new pair's A is
    shown in grey by five views, twice each."""
    if rgb is None:
        return None
    for index, (ref, cached) in enumerate(_greys):
        if ref() is rgb:
            _greys.insert(0, _greys.pop(index))
            return cached
    result = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    _greys.insert(0, (weakref.ref(rgb), result))
    del _greys[GREY_CACHE_SIZE:]
    return result


COLOUR_BAR_AXIS_WIDTH = 60
"""Pixels for a colour bar's tick labels: pyqtgraph's 45 fit 4 characters, this fits 7."""


def set_colour_bar_range(
    color_bar: pg.ColorBarItem, levels: tuple[float, float], label: str
) -> None:
    """Show ``levels`` on ``color_bar`` with tick labels that fit its axis.

    Values far from 1 (attention of 1/1600 per patch, anchor probabilities of 1e-4) would need
    tick labels like ``0.0006245``, wider than the axis, which pyqtgraph then leaves out; the
    axis shows them in units of a power of ten instead, named in the label (``x 1e-4``), and is
    wide enough for the 4 to 5 significant digits of a range narrower than its values.
    pyqtgraph's own SI prefix is off: it would show a range of (0, 0.99) as 0..990 "(x0.001)".
    """
    low, high = levels
    magnitude = max(abs(low), abs(high))
    exponent = 0 if magnitude == 0 else math.floor(math.log10(magnitude))
    if -1 <= exponent <= 2:
        exponent = 0
    color_bar.setLevels((low, high))
    axis, text = color_bar.axis, label if exponent == 0 else f"{label} (x 1e{exponent})"
    # each setter re-lays the label out (a few ms per probe): only what changed
    if axis.autoSIPrefix:
        axis.enableAutoSIPrefix(False)  # else it rescales (0, 1) ranges to "(x0.001)"
    if axis.fixedWidth != COLOUR_BAR_AXIS_WIDTH:
        axis.setWidth(COLOUR_BAR_AXIS_WIDTH)
    if axis.scale != 10.0**-exponent:
        axis.setScale(10.0**-exponent)
    if axis.labelText != text:
        axis.setLabel(text)


class Title(pg.LabelItem):
    """A panel's title: setting the text it has already does nothing (pyqtgraph lays a label
    out again on every ``setText``, a millisecond each, and a sequence's scrub sets every
    title on each frame)."""

    def setText(self, text: str, **options) -> None:
        if options or text != getattr(self, "text", None):
            super().setText(text, **options)


class ImagePanel:
    """A titled ViewBox (y down, aspect locked) showing one image, with a probe marker."""

    def __init__(
        self, canvas: pg.GraphicsLayoutWidget, row: int, col: int, title: str, marker: bool = True
    ):
        self.title = Title(title)
        canvas.addItem(self.title, row=row, col=col)
        self.view = canvas.addViewBox(row=row + 1, col=col, lockAspect=True, invertY=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.marker = pg.TargetItem(size=18, movable=False, pen=PROBE_PEN) if marker else None
        if self.marker is not None:
            self.marker.setZValue(10)
            self.marker.hide()
            self.view.addItem(self.marker)
        self.pins = pg.ScatterPlotItem(pxMode=True, size=PIN_SIZE_PX, pen=PIN_PEN)
        self.pins.setZValue(9)  # over the layers, under the probe marker
        self.view.addItem(self.pins, ignoreBounds=True)
        self.readout: HoverReadout | None = None  # made by set_readout
        self.size_hw: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray | None, **kwargs) -> None:
        """Show an (H, W, 3) uint8 or (H, W) array (``kwargs`` go to ``ImageItem.setImage``).

        The view fits the image when its size differs from the previous one's.
        """
        if image is None:
            self.image.clear()
            self.size_hw = None
            return
        # uint8 RGB is drawn as it is (levels would rescale every pixel on each paint)
        rgb8 = image.dtype == np.uint8 and image.ndim == 3
        kwargs.setdefault("levels", None if rgb8 else (0, 255))
        self.image.setImage(image, autoLevels=False, **kwargs)
        height, width = image.shape[:2]
        self.image.setRect(QRectF(-0.5, -0.5, width, height))
        if self.size_hw != (height, width):
            self.size_hw = (height, width)
            self.fit()

    def image_rect(self) -> QRectF | None:
        if self.size_hw is None:
            return None
        height, width = self.size_hw
        return QRectF(-0.5, -0.5, width, height)

    def set_marker(self, x: float, y: float) -> None:
        """Put the probe marker at pixel (x, y); hidden when either is NaN."""
        if math.isfinite(x) and math.isfinite(y):
            self.marker.setPos(QPointF(x, y))
            self.marker.show()
        else:
            self.marker.hide()

    def pixel_at(self, scene_pos: QPointF) -> QPointF | None:
        """The pixel position under ``scene_pos``, or None outside this panel's image."""
        rect = self.image_rect()
        if rect is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view.mapSceneToView(scene_pos)
        return point if rect.contains(point) else None

    def snap_radius(self) -> float:
        """How many of the image's pixels ``SNAP_SCREEN_PX`` screen pixels span at the zoom."""
        pixel = self.view.viewPixelSize()
        return SNAP_SCREEN_PX * max(pixel[0], pixel[1])

    def fit(self) -> None:
        rect = self.image_rect()
        if rect is not None:
            self.view.setRange(rect, padding=0.02)

    def show_probe_a(self, probe: ProbeReading | None) -> None:
        """Mark the probe's pixel of A (for panels that show A's frame)."""
        nan = float("nan")
        self.set_marker(*((probe.xa, probe.ya) if probe else (nan, nan)))

    def set_pins(self, points: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
        """Dots of ``PIN_SIZE_PX`` screen pixels at (N, 2) pixels, one RGB colour each; points
        with a NaN coordinate are left out."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        finite = np.flatnonzero(np.isfinite(points).all(axis=1))
        brushes = [pg.mkBrush(*colours[index]) for index in finite]
        self.pins.setData(pos=points[finite], brush=brushes)

    def show_pins(self, pins: list[PinnedProbe], side: str = "a") -> None:
        """Draw ``pins`` at their pixels of A (``side`` "a") or of B ("b") in their colours."""
        ends = [
            (p.reading.xa, p.reading.ya) if side == "a" else (p.reading.xb, p.reading.yb)
            for p in pins
        ]
        self.set_pins(np.array(ends, np.float64).reshape(-1, 2), [p.rgb for p in pins])

    def set_readout(self, lookup: Callable[..., str | None], *args) -> None:
        """Show ``lookup(x, y)`` for the pixel (x, y) under the cursor in the panel's top-left
        corner (hidden for None, outside the image and when the cursor leaves the canvas);
        ``lookup`` should be an array lookup: it runs at most ``READOUT_HZ`` times a second, as
        ``lookup(*args, x, y)``."""
        if self.readout is None:
            self.readout = HoverReadout(self)
        self.readout.set_lookup(lookup, *args)


class NearestPoints:
    """The nearest of (N, 2) points to a pixel, for readouts: the points sorted by x on the first
    query (a hover), so that a query looks only at the slab within the radius in x."""

    def __init__(self, points: np.ndarray):
        self.points = np.asarray(points, np.float64).reshape(-1, 2)
        self._order: np.ndarray | None = None
        self._xs: np.ndarray | None = None  # the points' x, ascending

    def nearest(self, x: float, y: float, radius: float) -> int | None:
        """The index of the point nearest to (x, y) within ``radius``, or None."""
        if self._order is None:
            self._order = np.argsort(self.points[:, 0], kind="stable")
            self._xs = self.points[self._order, 0]
        low = np.searchsorted(self._xs, x - radius, side="left")
        high = np.searchsorted(self._xs, x + radius, side="right")
        candidates = self._order[low:high]
        if candidates.size == 0:
            return None
        near = self.points[candidates]
        distance = np.hypot(near[:, 0] - x, near[:, 1] - y)
        best = int(np.argmin(distance))
        return int(candidates[best]) if distance[best] <= radius else None


class ReadoutText(pg.TextItem):
    """A readout's text: white on dark, left out of exports (a figure never shows the cursor's
    value)."""

    def __init__(self):
        super().__init__(anchor=(0, 0), color=(255, 255, 255), fill=READOUT_FILL)
        self._shown_before_export = False

    def setExportMode(self, export: bool, opts=None) -> None:
        super().setExportMode(export, opts)
        if export:
            self._shown_before_export = self.isVisible()
            self.hide()
        else:
            self.setVisible(self._shown_before_export)


class HoverReadout(QObject):
    """A panel's hover readout: mouse moves over its scene only store the position and start a
    single-shot timer; when it fires, the latest position is looked up once (see
    `ImagePanel.set_readout`).

    It is a child of the panel's canvas widget, so Qt deletes it (and its timer) with the canvas,
    in the GUI thread: a parentless one would be deleted wherever Python's garbage collector
    happens to run, a worker thread included, which crashes Qt.
    """

    def __init__(self, panel: ImagePanel):
        scene = panel.view.scene()
        super().__init__(scene.views()[0])
        self._panel = weakref.ref(panel)  # weak: the panel owns this readout
        self._lookup: Callable[[], Callable | None] = lambda: None
        self._args: tuple = ()
        self.text = ReadoutText()
        self.text.setParentItem(panel.view)  # in the view's own frame: fixed in its corner
        self.text.setPos(2, 2)
        self.text.setZValue(1000)
        self.text.hide()
        self.updates = 0  # lookups made (for tests and benchmarks)
        self._scene_pos: QPointF | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(round(1000 / READOUT_HZ))
        self._timer.timeout.connect(self._update)
        scene.sigMouseMoved.connect(self._on_move)
        for view in scene.views():
            view.viewport().installEventFilter(self)

    def _on_move(self, scene_pos: QPointF) -> None:
        self._scene_pos = QPointF(scene_pos)
        if not self._timer.isActive():
            self._timer.start()

    def set_lookup(self, lookup: Callable[..., str | None], *args) -> None:
        """Read the layer with ``lookup(*args, x, y)``; a view's own method is held weakly (the
        view owns the panel that owns this readout: a strong reference would make a cycle of Qt
        objects, which Python's garbage collector may free in a worker thread, where Qt
        deadlocks), so ``args`` must not hold the view's parts either."""
        self._args = args
        if inspect.ismethod(lookup):
            self._lookup = weakref.WeakMethod(lookup)
        else:
            self._lookup = lambda: lookup

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._timer.stop()
            self._scene_pos = None
            self.text.hide()
        return False

    def _update(self) -> None:
        panel = self._panel()
        if panel is None:
            return
        point = None if self._scene_pos is None else panel.pixel_at(self._scene_pos)
        text = None
        if point is not None:
            self.updates += 1
            lookup = self._lookup()
            text = None if lookup is None else lookup(*self._args, point.x(), point.y())
        if text:
            self.text.setText(text)
            self.text.show()
        else:
            self.text.hide()


def emit_clicks(
    canvas: pg.GraphicsLayoutWidget, panels: list[ImagePanel], signal: SignalInstance
) -> None:
    """Emit ``signal(x, y, snap_radius)`` on left clicks on any of ``panels``: the pixel
    position and :meth:`ImagePanel.snap_radius` of the panel clicked."""

    def on_click(event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for panel in panels:
            point = panel.pixel_at(event.scenePos())
            if point is not None:
                signal.emit(point.x(), point.y(), panel.snap_radius())
                return

    canvas.scene().sigMouseClicked.connect(on_click)
