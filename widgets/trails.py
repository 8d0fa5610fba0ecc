"""`TrailItems`: the recent paths of a sequence's tracks over the image of their frame, coloured
by the tracks' age or certainty, and one chosen track's whole path (see
:class:`core.sequence.tracks.Trails`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from widgets import certainty_colormap

if TYPE_CHECKING:  # the widgets do not import the sequence readers
    from core.sequence.tracks import Trails

TRAIL_BINS = 16
"""Trails are drawn as one path per colour bin (one pen each)."""
TRAIL_COLOURINGS = ("age", "certainty")
"""What colours a trail: its track's age (relative to the oldest shown) or its mean certainty."""
UNKNOWN_TRAIL_PEN = pg.mkPen((160, 160, 160, 200), width=1, cosmetic=True)
HIGHLIGHT_PEN = pg.mkPen((255, 230, 40), width=3, cosmetic=True)
HIGHLIGHT_DOT_PX = 5


def age_colormap() -> pg.ColorMap:
    """Trail colours by age on 0..1: plasma (unlike the certainty colours' viridis) from its
    violet on, young tracks being too dark below that to show over a dark image."""
    stops = np.linspace(0.0, 1.0, 64)
    colours = pg.colormap.get("plasma").map(0.25 + 0.75 * stops, mode="byte")
    return pg.ColorMap(stops, colours, name="age")


def _bin_pens(colormap: pg.ColorMap) -> list[QPen]:
    centres = (np.arange(TRAIL_BINS) + 0.5) / TRAIL_BINS
    return [
        pg.mkPen(colormap.mapToQColor(float(value)), width=1, cosmetic=True) for value in centres
    ]


class TrailItems(pg.ItemGroup):
    """Trails in the pixel coordinates of the view they are added to: a path per colour bin
    (cosmetic pens: 500 trails of 30 points are a handful of paths), and over them the
    highlighted track, a thick yellow path with a dot at each observation."""

    def __init__(self):
        super().__init__()
        self.setZValue(5)  # over the image, under the pins (9) and the probe's marks
        self._pens = {
            "age": _bin_pens(age_colormap()),
            "certainty": _bin_pens(certainty_colormap()),
        }
        self.colour_by = "age"
        self.trails: Trails | None = None
        # made once and reused: a frame's trails replace the paths, not the items
        self.unknown = QGraphicsPathItem(self)
        self.unknown.setPen(UNKNOWN_TRAIL_PEN)
        self.bins = [QGraphicsPathItem(self) for _ in range(TRAIL_BINS)]
        self.highlight_path = QGraphicsPathItem(self)
        self.highlight_path.setPen(HIGHLIGHT_PEN)
        self.highlight_path.setZValue(1)
        self.highlight_dots = pg.ScatterPlotItem(
            pxMode=True, size=HIGHLIGHT_DOT_PX, pen=pg.mkPen("k"), brush=pg.mkBrush(255, 255, 255)
        )
        self.highlight_dots.setParentItem(self)
        self.highlight_dots.setZValue(2)
        for item in (self.unknown, *self.bins, self.highlight_path, self.highlight_dots):
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._set_pens()

    def set_trails(self, trails: Trails | None, colour_by: str | None = None) -> None:
        """Draw ``trails`` (None: none), each a polyline through its points, coloured by
        ``colour_by`` (one of ``TRAIL_COLOURINGS``; None: as before)."""
        if colour_by is not None and colour_by != self.colour_by:
            self.colour_by = colour_by
            self._set_pens()
        self.trails = trails
        items = [*self.bins, self.unknown]  # the last is the bin of unknown values (-1)
        if trails is None:
            for item in items:
                item.setPath(QPainterPath())
            return
        if self.colour_by == "age":
            values = trails.age / max(float(trails.age.max(initial=0)), 1.0)
        else:
            values = np.clip(trails.certainty, 0.0, 1.0)
        known = np.isfinite(values)
        bins = np.full(len(trails), -1)
        bins[known] = np.minimum((values[known] * TRAIL_BINS).astype(int), TRAIL_BINS - 1)
        # a NaN after each trail ends its polyline
        x = np.insert(trails.points[:, 0], trails.offsets[1:], np.nan)
        y = np.insert(trails.points[:, 1], trails.offsets[1:], np.nan)
        point_bins = np.repeat(bins, np.diff(trails.offsets) + 1)
        for index, item in enumerate(items):
            chosen = point_bins == (index if index < TRAIL_BINS else -1)
            if chosen.any():
                item.setPath(pg.arrayToQPath(x[chosen], y[chosen], connect="finite"))
            else:
                item.setPath(QPainterPath())

    def highlight(self, points: np.ndarray | None) -> None:
        """Draw one track's whole path through its (K, 2) pixels, a dot at each; None: none."""
        if points is None or len(points) == 0:
            self.highlight_path.setPath(QPainterPath())
            self.highlight_dots.setData(pos=np.zeros((0, 2)))
            return
        points = np.asarray(points, np.float64).reshape(-1, 2)
        self.highlight_path.setPath(pg.arrayToQPath(points[:, 0], points[:, 1]))
        self.highlight_dots.setData(pos=points)

    def drawn_paths(self) -> list[QGraphicsPathItem]:
        """The trail paths drawn now (one per colour bin in use)."""
        return [item for item in (*self.bins, self.unknown) if not item.path().isEmpty()]

    def _set_pens(self) -> None:
        for item, pen in zip(self.bins, self._pens[self.colour_by], strict=True):
            item.setPen(pen)
