"""`AttentionView`: the head selector, the colour bar's range, real clicks and the hint."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.probe import ProbeReading
from tests.app.plugins import shift_result
from tests.widgets import tick_labels
from tests.widgets.test_anchor_view import H_A, W_A, synthetic_result
from widgets.attention_view import HINT, AttentionView

RGB_A = np.random.default_rng(1).integers(0, 255, (H_A, W_A, 3), np.uint8)


@pytest.fixture
def view(qtbot) -> AttentionView:
    view = AttentionView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_the_head_selector_changes_the_attention_image(view):
    result = synthetic_result(heads=3)
    attention = result.intermediates["attention_a"]
    view.set_data(RGB_A, result)
    names = [view.head_box.itemText(i) for i in range(view.head_box.count())]
    assert names == ["mean of heads", "head 0", "head 1", "head 2"]
    assert view.head_box.isEnabled()
    assert np.allclose(view.heatmap.image, attention.mean(axis=0))

    view.head_box.setCurrentIndex(2)  # head 1: peaks at cell (1, 2)
    shown = view.heatmap.image
    assert np.array_equal(shown, attention[1])
    assert np.unravel_index(shown.argmax(), shown.shape) == (1, 2)
    assert view.color_bar.levels() == pytest.approx((shown.min(), shown.max()))
    assert view.label.text() == f"head 1: min {shown.min():.3g}, max {shown.max():.3g}"
    cell = view.heatmap.mapToParent(QPointF(2.5, 1.5))  # the peak cell's centre in A's pixels
    assert (cell.x(), cell.y()) == pytest.approx((2.5 * W_A / 8 - 0.5, 1.5 * H_A / 8 - 0.5))

    view.set_data(RGB_A, synthetic_result(heads=3))  # as many heads: the choice stays
    assert view.head_box.currentText() == "head 1"
    view.set_data(RGB_A, synthetic_result(heads=1))  # one head kept by the run
    assert [view.head_box.itemText(i) for i in range(view.head_box.count())] == ["the kept head"]
    assert not view.head_box.isEnabled()


def test_a_real_click_reports_the_pixel_of_a_and_the_probe_is_marked(view, qtbot):
    view.set_data(RGB_A, synthetic_result())
    view.canvas.viewport().repaint()  # apply the view range to the transforms
    pos = view.canvas.mapFromScene(view.panel.view.mapViewToScene(QPointF(37, 121)))
    with qtbot.waitSignal(view.clicked_a, timeout=2000) as clicked:
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    x, y, _ = clicked.args
    assert abs(x - 37) < 0.5 and abs(y - 121) < 0.5

    view.set_probe(ProbeReading(37.0, 121.0, 43.0, 125.0, 0.5, "warp"))
    marker = view.panel.marker
    assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (37.0, 121.0)


def test_without_intermediates_the_view_shows_the_hint(view):
    view.set_data(RGB_A, synthetic_result())
    view.set_data(RGB_A, shift_result(H_A, W_A, 6.0, 4.0))
    assert view.label.text() == HINT
    assert view.heatmap.image is None
    assert view.head_box.count() == 0 and not view.head_box.isEnabled()


def test_a_narrow_range_of_attention_keeps_its_tick_labels(view, qtbot):
    """The mean of many heads is close to uniform (1/64 here, +- 1e-6): labels like 0.0156245
    would not fit the colour bar; they are shown in units of 1e-2, named in the label."""
    result = synthetic_result()
    uniform = np.full((4, 8, 8), 1 / 64, np.float32)
    result.intermediates["attention_a"] = uniform + np.linspace(0, 1e-5, 64).reshape(1, 8, 8)
    view.set_data(RGB_A, result)
    qtbot.wait(10)
    labels = tick_labels(view.color_bar.axis)
    assert len(labels) >= 2
    assert all(float(text) == pytest.approx(1.5625, abs=2e-3) for text in labels)
    assert view.color_bar.axis.labelText == "attention (x 1e-2)"

    result.intermediates["attention_a"] = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    view.set_data(RGB_A, result)
    qtbot.wait(10)
    assert "1.0" in tick_labels(view.color_bar.axis)
    assert view.color_bar.axis.labelText == "attention"


def test_the_head_box_shows_its_whole_text_in_a_narrow_dock(view, qtbot):
    view.set_data(RGB_A, synthetic_result(heads=3))
    view.resize(180, 300)
    qtbot.wait(10)
    box = view.head_box
    assert box.currentText() == "mean of heads"
    assert box.width() >= box.sizeHint().width()
    assert box.fontMetrics().horizontalAdvance("mean of heads") < box.width()
