"""matches.png as a paper figure: its size in pixels and bytes, what it draws, and its SVG and
PDF forms."""

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from PIL import Image

from core.figures import draw_matches, save_figure
from core.synthetic import make_texture


@pytest.fixture(scope="module")
def big_pair():
    """A 3072 x 2048 textured A, a 2048 x 1536 B and 3000 matches with certainty 0..1."""
    rgb_a = cv2.resize(make_texture(512, seed=1), (3072, 2048), interpolation=cv2.INTER_CUBIC)
    rgb_b = cv2.resize(make_texture(512, seed=2), (2048, 1536), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    points_a = rng.uniform([0, 0], [3071, 2047], (3000, 2))
    points_b = rng.uniform([0, 0], [2047, 1535], (3000, 2))
    return rgb_a, rgb_b, np.hstack([points_a, points_b]), rng.uniform(0, 1, 3000)


def _figure(big_pair, **kwargs):
    rgb_a, rgb_b, matches, certainty = big_pair
    return draw_matches(
        rgb_a, rgb_b, matches, certainty, threshold=0.5, max_lines=400,
        names=("a.png", "b.png"), caption="sift (max_keypoints=4000)", **kwargs,
    )  # fmt: skip


def test_png_at_the_asked_width_and_under_a_megabyte(big_pair, tmp_path):
    path = tmp_path / "matches.png"
    save_figure(_figure(big_pair, width_in=3.5, dpi=300), path, palette=True)
    picture = Image.open(path)
    assert picture.width == 1050
    assert 0.3 < picture.height / picture.width < 0.6  # A and B at the same height, one row
    assert path.stat().st_size < 1_000_000
    pixels = np.asarray(picture.convert("L"), np.float64)
    assert pixels.std() > 20  # not blank
    save_figure(_figure(big_pair), path, palette=True)  # the defaults: 7 in at 200 dpi
    assert Image.open(path).width == 1400 and path.stat().st_size < 1_000_000


def test_images_are_downsampled_to_the_figures_pixels(big_pair):
    figure = _figure(big_pair)  # 7 in at 200 dpi: 1380 px for A, a 2% gap and B
    widths = [image.get_array().shape[1] for image in figure.axes[0].images]
    assert len(widths) == 2 and 1330 < sum(widths) <= 1380


def test_draws_at_most_max_lines_of_the_matches_at_or_above_the_threshold(big_pair):
    certainty = big_pair[3]
    figure = _figure(big_pair)
    (lines,) = [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    assert segments.shape == (400, 2, 2)
    matches = big_pair[2]
    drawn = [int(np.flatnonzero(matches[:, 0] == x)[0]) for x in segments[:, 0, 0]]
    np.testing.assert_allclose(segments[:, 0], matches[drawn, :2])
    assert certainty[drawn].min() >= 0.5
    assert np.all(np.diff(certainty[drawn]) >= 0)  # the most certain drawn last, on top
    texts = [text.get_text() for text in figure.texts]
    passing = int((certainty >= 0.5).sum())
    assert texts == [
        f"sift (max_keypoints=4000): {passing} of 3000 matches with certainty ≥ 0.5, 400 drawn"
    ]
    titles = [text.get_text() for text in figure.axes[0].texts]
    assert titles == ["A: a.png (3072 × 2048 px)", "B: b.png (2048 × 1536 px)"]


def test_svg_has_the_titles_as_text_and_pdf_opens(big_pair, tmp_path):
    figure = _figure(big_pair, width_in=3.5, dpi=100)
    save_figure(figure, tmp_path / "matches.svg")
    root = ET.parse(tmp_path / "matches.svg").getroot()
    texts = ["".join(element.itertext()) for element in root.iter() if element.tag.endswith("text")]
    assert "A: a.png (3072 × 2048 px)" in texts and "certainty" in texts
    save_figure(figure, tmp_path / "matches.pdf")
    assert (tmp_path / "matches.pdf").read_bytes()[:5] == b"%PDF-"
