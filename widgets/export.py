"""Export a view to PNG, SVG or PDF at a chosen DPI.

A view with a pyqtgraph canvas (``pg.GraphicsView``, e.g. a ``GraphicsLayoutWidget``) exports
that canvas: its images, overlays, titles and colour bars, as they are on screen (the same zoom),
without the controls around it. Any other widget (a table, the Probe panel) exports itself.

Size: ``width_in`` inches wide (default: its width on screen at :data:`SCREEN_DPI` pixels per
inch), the height from the view's aspect; line widths, text and markers scale with it, so the
picture looks as on screen. PNG: ``width_in * dpi`` pixels, the DPI stored in the file. SVG (1.1,
with clipping) and PDF (one page of ``width_in`` x ``height_in`` inches) are vector: lines and
text at any zoom, images embedded at their own pixels (sharper than any DPI), so ``dpi`` changes
only the PNG.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.exporters import Exporter
from PySide6.QtCore import QCoreApplication, QEvent, QMarginsF, QPoint, QRectF, QSize, QSizeF
from PySide6.QtGui import QColor, QImage, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from core.errors import MatchscopeError

FORMATS = ("png", "svg", "pdf")
SCREEN_DPI = 96.0
"""Pixels per inch of a view on screen (Qt's logical DPI): sets the default width in inches."""
DEFAULT_DPI = 300
MAX_PNG_PIXELS = 100_000_000
"""A PNG larger than this (width x height) is refused: it would take gigabytes to paint."""


def export_canvas(widget: QWidget) -> pg.GraphicsView | None:
    """The pyqtgraph canvas a view draws in (the widget itself, or its first one), or None."""
    if isinstance(widget, pg.GraphicsView):
        return widget
    return widget.findChild(pg.GraphicsView)


def export_source(widget: QWidget) -> QWidget:
    """What :func:`export_view` paints for ``widget``: its canvas, or the widget itself."""
    return export_canvas(widget) or widget


def export_size(widget: QWidget, width_in: float | None = None) -> tuple[float, float]:
    """(width, height) in inches of ``widget``'s export: ``width_in`` wide (default: as on
    screen), the height from the exported part's aspect."""
    source = export_source(widget)
    width_px, height_px = max(source.width(), 1), max(source.height(), 1)
    width = width_px / SCREEN_DPI if width_in is None else float(width_in)
    return width, width * height_px / width_px


def export_view(
    widget: QWidget,
    path: str | os.PathLike,
    dpi: float = DEFAULT_DPI,
    width_in: float | None = None,
) -> Path:
    """Write ``widget`` (see the module notes) to ``path``; the format is the suffix
    (.png, .svg or .pdf). Raises :class:`MatchscopeError` with a one-line reason when the
    format, size or path is wrong; returns the path written."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise MatchscopeError(f"{path.name}: export as .png, .svg or .pdf, not '{path.suffix}'")
    if not dpi > 0 or (width_in is not None and not width_in > 0):
        raise MatchscopeError(f"{path.name}: the DPI and the width must be positive")
    QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)  # pending layouts
    width, height = export_size(widget, width_in)
    _check_writable(path)
    if kind == "png":
        pixels = QSize(max(round(width * dpi), 1), max(round(height * dpi), 1))
        if pixels.width() * pixels.height() > MAX_PNG_PIXELS:
            raise MatchscopeError(
                f"{path.name}: {pixels.width()} x {pixels.height()} pixels is too large: "
                "lower the DPI or the width"
            )
        image = QImage(pixels, QImage.Format.Format_ARGB32)
        image.fill(_background(widget))
        _paint(widget, image, QRectF(0, 0, pixels.width(), pixels.height()))
        dots_per_metre = round(dpi / 0.0254)  # after painting: text would scale with it
        image.setDotsPerMeterX(dots_per_metre)
        image.setDotsPerMeterY(dots_per_metre)
        if not image.save(str(path), "PNG"):
            raise MatchscopeError(f"{path}: cannot write the PNG")
        return path
    # vector: drawn at the screen's resolution (pyqtgraph's cached axis pictures scale their
    # text with the device's DPI), sized in inches; images are embedded at their own pixels
    size = QSize(max(round(width * SCREEN_DPI), 1), max(round(height * SCREEN_DPI), 1))
    target = QRectF(0, 0, size.width(), size.height())
    if kind == "svg":
        generator = QSvgGenerator(QSvgGenerator.SvgVersion.Svg11)  # Tiny 1.2 has no clipping
        generator.setFileName(str(path))
        generator.setSize(size)
        generator.setResolution(round(SCREEN_DPI))
        generator.setViewBox(target)
        generator.setTitle(path.stem)
        _paint(widget, generator, target)
    else:
        writer = QPdfWriter(str(path))
        writer.setResolution(round(SCREEN_DPI))
        writer.setPageSize(QPageSize(QSizeF(width, height), QPageSize.Unit.Inch))
        writer.setPageMargins(QMarginsF(0, 0, 0, 0))
        writer.setTitle(path.stem)
        writer.setCreator("Matchscope")
        _paint(widget, writer, QRectF(0, 0, writer.width(), writer.height()))
    return path


def _check_writable(path: Path) -> None:
    """Raise a one-line error unless ``path`` can be written (it is created, empty)."""
    try:
        with path.open("wb"):
            pass
    except OSError as exc:
        raise MatchscopeError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _background(widget: QWidget) -> QColor:
    canvas = export_canvas(widget)
    if canvas is not None:
        return canvas.backgroundBrush().color()
    return widget.palette().window().color()


def _paint(widget: QWidget, device, target: QRectF) -> None:
    """Paint ``widget``'s export into ``target`` of the paint ``device``."""
    painter = QPainter()
    if not painter.begin(device):
        raise MatchscopeError("cannot paint the export (the file could not be opened)")
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        canvas = export_canvas(widget)
        if canvas is None:
            scale = target.width() / max(widget.width(), 1)
            painter.fillRect(target, _background(widget))
            painter.scale(scale, scale)
            widget.render(painter, QPoint(0, 0))
            return
        source = canvas.viewport().rect()
        # pyqtgraph's export mode: items drawn in screen pixels (dots, pixel-wide pens) scale too
        items = Exporter(canvas.scene())
        items.setExportMode(
            True,
            {
                "antialias": True,
                "background": _background(widget),
                "painter": painter,
                "resolutionScale": target.width() / max(source.width(), 1),
            },
        )
        try:
            canvas.render(painter, target, source)
        finally:
            items.setExportMode(False)
    finally:
        painter.end()
