"""The benchmark report's plots: one column wide, readable, axes fitted to the data, pairs
named or numbered with integers, and written as PNG, SVG and PDF."""

import xml.etree.ElementTree as ET

import numpy as np
from matplotlib.text import Text
from PIL import Image

from core.bench.datasets import POSE
from core.bench.metrics import POSE_THRESHOLDS_DEG
from core.bench.report import (
    CUMULATIVE_PNG,
    PER_PAIR_PNG,
    plot_cumulative,
    plot_per_pair,
    write_report,
)


def results(errors: dict[str, list]) -> dict:
    """Pose bench results of matchers with the given per-pair errors (None: failed)."""
    matchers = {
        name: {
            "kind": POSE,
            "pairs": len(values),
            "auc": {str(t): 0.5 for t in POSE_THRESHOLDS_DEG},
            "seconds_per_pair": 0.1,
            "peak_mb": 100.0,
            "per_pair": [
                {"a": "graf/img1.png", "b": f"graf/img{i + 2}.png", "error": value}
                for i, value in enumerate(values)
            ],
        }
        for name, values in errors.items()
    }
    return {"dataset": "graf", "matchers": matchers}


def _texts(figure) -> list[Text]:
    return [text for text in figure.findobj(Text) if text.get_text() and text.get_visible()]


def test_cumulative_axes_fit_the_data_and_show_a_curve_at_one():
    # every pose error below 2 degrees (the curve's AUC range is 20); sift reaches 1.0
    figure = plot_cumulative(results({"sift": [0.3, 1.1, 1.9], "roma": [0.2, None, 0.5]}))
    axes = figure.axes[0]
    assert 1.9 <= axes.get_xlim()[1] <= 5
    assert axes.get_ylim()[1] > 1.0
    sift = next(line for line in axes.get_lines() if line.get_label() == "sift")
    assert sift.get_ydata().max() == 1.0 and not sift.get_clip_on()
    assert figure.get_size_inches()[0] == 3.5
    assert min(text.get_fontsize() for text in _texts(figure)) >= 7
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["sift", "roma"]


def test_cumulative_keeps_the_auc_range_when_an_error_is_beyond_it():
    figure = plot_cumulative(results({"sift": [0.3, 25.0]}))
    assert figure.axes[0].get_xlim()[1] == 20


def test_per_pair_names_few_pairs_and_numbers_many_with_integers():
    few = plot_per_pair(results({"sift": [0.3, None, 1.9]})).axes[0]
    labels = [label.get_text() for label in few.get_xticklabels()]
    assert labels == ["graf/img1-img2", "graf/img1-img3", "graf/img1-img4"]
    many = plot_per_pair(results({"sift": list(np.linspace(0.1, 3, 40))})).axes[0]
    ticks = [tick for tick in many.get_xticks() if -0.5 <= tick <= 39.5]
    assert len(ticks) >= 4 and all(float(tick).is_integer() for tick in ticks)
    assert many.get_xlim() == (-0.5, 39.5) and "pair" in many.get_xlabel()
    assert min(text.get_fontsize() for text in _texts(many.figure)) >= 7


def test_report_writes_each_plot_as_png_svg_and_pdf(tmp_path):
    write_report(results({"sift": [0.3, None, 1.9]}), tmp_path, "python main.py bench", [])
    for name in (CUMULATIVE_PNG, PER_PAIR_PNG):
        png = tmp_path / name
        assert Image.open(png).width == 1050  # 3.5 in at 300 dpi
        root = ET.parse(png.with_suffix(".svg")).getroot()
        texts = ["".join(e.itertext()) for e in root.iter() if e.tag.endswith("text")]
        assert any(text.startswith("graf: ") for text in texts)
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert f"]({CUMULATIVE_PNG})" in (tmp_path / "report.md").read_text()


def test_long_pair_names_are_elided_and_a_single_pair_stays_horizontal():
    from core.bench.report import _PAIR_LABEL_CHARS, _pair_label

    label = _pair_label("RubberWhale1.png", "RubberWhale2.png")
    assert len(label) == _PAIR_LABEL_CHARS and label.startswith("Rubber") and "…" in label
    assert _pair_label("graf/img1.png", "graf/img2.png") == "graf/img1-img2"
