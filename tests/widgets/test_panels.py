"""The shared pieces of `widgets` that keep a sequence's scrub cheap: images drawn as they are,
titles laid out only when they change, a grey image made once per image."""

import numpy as np
import pyqtgraph as pg

from widgets import ImagePanel, grey


def test_grey_is_made_once_per_image_and_follows_a_new_one():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    second = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    assert grey(None) is None
    made = grey(first)
    assert made.shape == (12, 16) and made.dtype == np.uint8
    assert grey(first) is made  # the same image: the same grey
    other = grey(second)
    assert other is not made and not np.array_equal(other, made)
    assert grey(first) is made
    assert grey(first.copy()) is not made  # another array, though equal: made again


def test_a_title_set_to_its_own_text_is_not_laid_out_again(qtbot):
    canvas = pg.GraphicsLayoutWidget()
    qtbot.addWidget(canvas)
    panel = ImagePanel(canvas, 0, 0, "A")
    laid_out = []
    panel.title.item.setHtml = lambda html, original=panel.title.item.setHtml: (
        laid_out.append(html),
        original(html),
    )
    panel.title.setText("A")
    assert laid_out == []
    panel.title.setText("A: frame 2")
    assert len(laid_out) == 1 and "frame 2" in laid_out[0]
    assert panel.title.text == "A: frame 2"


def test_an_rgb_image_is_drawn_without_levels_and_a_grey_one_with_them(qtbot):
    canvas = pg.GraphicsLayoutWidget()
    qtbot.addWidget(canvas)
    panel = ImagePanel(canvas, 0, 0, "A")
    panel.set_image(np.zeros((8, 10, 3), np.uint8))
    assert panel.image.levels is None  # pyqtgraph would rescale every pixel on each paint
    panel.set_image(np.zeros((8, 10), np.uint8))
    assert list(panel.image.levels) == [0, 255]
    assert panel.size_hw == (8, 10)


def test_a_scale_selector_is_refilled_only_when_its_scales_change(qtbot):
    from widgets.scale_selector import ScaleSelector

    box = ScaleSelector()
    qtbot.addWidget(box)
    inserted = []
    box.model().rowsInserted.connect(lambda *_: inserted.append(1))
    scales = ["coarse_s8", "final"]
    box.set_scales(scales, "final")
    assert box.scales() == scales and box.isEnabled() and len(inserted) == 2
    box.set_scales(scales, "coarse_s8")  # the next frame's result: the same scales
    assert len(inserted) == 2 and box.currentData() == "coarse_s8"
    box.set_scales([], "coarse_s8")
    assert box.scales() == ["final"] and not box.isEnabled() and box.currentData() == "final"
