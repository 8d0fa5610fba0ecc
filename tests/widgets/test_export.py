"""`export_view`: a view to PNG, SVG and PDF files that open and hold the view's content."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtWidgets import QLabel

from core.errors import MatchscopeError
from tests.app.plugins import shift_result
from widgets.export import SCREEN_DPI, export_size, export_view
from widgets.heatmap_view import certainty_view

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def view(qtbot):
    """The Certainty view of a dense result on a 120 x 160 texture, 400 x 300 on screen."""
    pg.setConfigOptions(imageAxisOrder="row-major")
    rng = np.random.default_rng(3)
    rgb = rng.uniform(0, 255, (120, 160, 3)).astype(np.uint8)
    result = shift_result(120, 160, 6.0, 4.0)
    widget = certainty_view()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_data(rgb, result.certainty_ab)
    return widget


def test_png_has_the_asked_width_and_the_views_content(view, tmp_path):
    path = export_view(view, tmp_path / "certainty.png", dpi=150, width_in=4.0)
    image = Image.open(path)
    assert image.size[0] == 600  # 4 in at 150 dpi
    _, height_in = export_size(view, 4.0)
    assert image.size[1] == round(height_in * 150)
    assert image.info["dpi"] == pytest.approx((150, 150), abs=0.1)
    pixels = np.asarray(image.convert("RGB"), np.float32)
    assert pixels.std() > 10
    # the certainty colours are there (viridis' yellow end), not only A's grey
    colour = pixels.max(axis=2) - pixels.min(axis=2)
    assert (colour > 60).mean() > 0.05


def test_png_default_width_is_the_views_size_on_screen(view, tmp_path):
    export_view(view, tmp_path / "view.png", dpi=SCREEN_DPI)
    width, height = Image.open(tmp_path / "view.png").size
    canvas = view.canvas
    assert (width, height) == (canvas.width(), canvas.height())


def test_png_at_twice_the_dpi_is_the_same_picture(view, tmp_path):
    """Text, colour bar and ticks scale with the DPI (pyqtgraph's cached axis pictures would
    scale their text a second time if the image's DPI were set before painting)."""
    screen = export_view(view, tmp_path / "96.png", dpi=96, width_in=4.0)
    sharp = export_view(view, tmp_path / "192.png", dpi=192, width_in=4.0)
    small = np.asarray(Image.open(screen).convert("L"), np.float32)
    large = Image.open(sharp).convert("L").reduce(2)
    assert large.size == (small.shape[1], small.shape[0])
    difference = np.abs(np.asarray(large, np.float32) - small)
    bar = difference[:, -small.shape[1] // 4 :]  # the colour bar and its labels
    assert bar.mean() < 5, bar.mean()  # 2.2 here; 8.4 with the text scaled twice


def test_svg_parses_and_draws_the_image_clipped_to_its_panel(view, tmp_path):
    view.panel.view.setRange(xRange=(20, 60), yRange=(20, 50), padding=0)  # zoomed in
    path = export_view(view, tmp_path / "certainty.svg", dpi=300, width_in=3.5)
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "88.9mm"  # 3.5 in
    assert len(root.findall(f".//{SVG}image")) >= 2  # A in grey and the certainty map
    assert len(root.findall(f".//{SVG}path")) + len(root.findall(f".//{SVG}polyline")) > 5
    assert root.findall(f".//{SVG}clipPath")  # a zoomed image stays inside its panel
    texts = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "certainty" in texts


def test_pdf_is_one_page_of_the_asked_size(view, tmp_path):
    path = export_view(view, tmp_path / "certainty.pdf", dpi=200, width_in=3.5)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 1000
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1  # one page (not /Pages)
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box is not None
    _, height_in = export_size(view, 3.5)
    assert float(box[1]) == pytest.approx(3.5 * 72, abs=1.0)  # points
    assert float(box[2]) == pytest.approx(height_in * 72, abs=1.0)


def test_a_widget_without_a_canvas_exports_itself(qtbot, tmp_path):
    label = QLabel("no canvas here, only text")
    qtbot.addWidget(label)
    label.resize(300, 60)
    label.show()
    path = export_view(label, tmp_path / "label.png", dpi=192)
    image = np.asarray(Image.open(path).convert("L"), np.float32)
    assert image.shape == (120, 600) and image.std() > 5


@pytest.mark.parametrize(
    ("name", "needle"),
    [("view.jpg", "export as .png, .svg or .pdf"), ("missing/folder/view.png", "cannot write")],
)
def test_wrong_paths_are_one_line_errors(view, tmp_path, name, needle):
    with pytest.raises(MatchscopeError, match=needle) as error:
        export_view(view, tmp_path / name)
    assert "\n" not in str(error.value)
