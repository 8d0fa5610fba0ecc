"""The composed "Export figure": its panels, titles, colour bars, caption, the probe in every
panel, its size in pixels, SVG and PDF, and the error for a panel the result lacks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from core.bench.truth import ResultErrors
from core.errors import MatchscopeError
from core.figure_compose import (
    PANELS,
    FigureInputs,
    available_panels,
    compose_figure,
    export_figure,
)
from core.figure_panels import PROBE_GID
from core.probe import read_probe
from core.result import Provenance
from tests.app.plugins import shift_result
from tests.widgets.test_anchor_view import synthetic_intermediates
from tests.widgets.test_attention_view import RGB_A, RGB_B, dino_result


def roma_like(errors: bool = True) -> FigureInputs:
    """A 200 x 160 RoMa-like result with attention, tokens and anchors, probed at (100, 80)."""
    result = dino_result()
    result.intermediates["anchor_logits_ab"] = synthetic_intermediates()["anchor_logits_ab"]
    result.provenance = Provenance(
        matcher="roma-outdoor",
        settings={"coarse_res": "448", "num_samples": 5000, "attention_block": 2},
    )
    dense = np.abs(np.random.default_rng(0).normal(0, 4, result.certainty_ab.shape))
    truth = ResultErrors(np.ones(result.num_matches), dense) if errors else None
    probe = read_probe(result, 100.0, 80.0)
    return FigureInputs(result, RGB_A, RGB_B, probe, truth, names=("a.png", "b.png"))


def probe_markers(axes) -> int:
    return sum(line.get_gid() == PROBE_GID for line in axes.lines)


def test_every_panel_is_titled_in_order_with_the_probe_and_its_colour_bar():
    inputs = roma_like()
    one_way_without_scales = ("scale_certainty", "scale_warp", "coarse_warp", "consistency")
    assert available_panels(inputs) == [k for k in PANELS if k not in one_way_without_scales]
    composed = compose_figure(inputs, ["certainty", "matches", "anchors", "warp", "error", "b"])
    keys = ["matches", "b", "certainty", "warp", "error", "anchors"]  # the figure's order
    assert list(composed.panels) == keys
    titles = [composed.panels[key].get_title() for key in keys]
    assert [title[:4] for title in titles] == ["(a) ", "(b) ", "(c) ", "(d) ", "(e) ", "(f) "]
    assert titles[1] == "(b) B: b.png (200 × 160 px)"
    for key, axes in composed.panels.items():
        assert probe_markers(axes) == (2 if key == "matches" else 1), key  # A and B in matches
    assert set(composed.colorbars) == {"matches", "b", "certainty", "error", "anchors"}
    labels = {key: bar.ax.get_xlabel() for key, bar in composed.colorbars.items()}
    assert labels["certainty"] == "certainty" and labels["anchors"] == "probability"
    assert labels["error"] == "true error (px)"
    assert composed.colorbars["certainty"].mappable.get_clim() == (0.0, 1.0)
    # the figure holds the panels and their colour bars; the warp has its colour wheel
    assert len(composed.figure.axes) == len(keys) + len(composed.colorbars)
    assert len(composed.panels["warp"].child_axes) == 1


def test_the_probe_is_where_it_was_probed_in_a_and_at_its_match_in_b():
    composed = compose_figure(roma_like(), ["a", "b", "similarity_b", "attention_a"])
    for key, expected in (("a", (100, 80)), ("b", (106, 84)), ("similarity_b", (106, 84))):
        (line,) = [line for line in composed.panels[key].lines if line.get_gid() == PROBE_GID]
        assert (line.get_xdata()[0], line.get_ydata()[0]) == pytest.approx(expected), key
    assert "block 2" in composed.panels["attention_a"].get_title()


def test_the_caption_names_the_matcher_its_changed_settings_and_the_probe():
    composed = compose_figure(roma_like(), ["a"])
    caption = composed.caption
    assert caption.startswith("Matcher: roma-outdoor (coarse_res=448, attention_block=2).")
    assert "num_samples" not in caption  # at its default
    assert "A (100, 80) → B (106.0, 84.0), certainty 0.50" in caption
    texts = [text.get_text().replace("\n", " ") for text in composed.figure.texts]
    assert caption in texts


def test_png_is_width_times_dpi_and_svg_and_pdf_parse(tmp_path):
    inputs = roma_like()
    png = export_figure(inputs, tmp_path / "figure.png", ["a", "certainty"], 3.5, 200)
    picture = np.asarray(Image.open(png).convert("RGB"))
    assert picture.shape[1] == 700 and picture.std() > 20
    wide = export_figure(inputs, tmp_path / "wide.png", ["a", "certainty"], 7.0, 100)
    assert Image.open(wide).width == 700
    svg = export_figure(inputs, tmp_path / "figure.svg", ["a", "warp"])
    root = ET.parse(svg).getroot()
    texts = ["".join(e.itertext()) for e in root.iter() if e.tag.endswith("text")]
    assert "(b) warp A → B" in texts
    pdf = export_figure(inputs, tmp_path / "figure.pdf", ["matches", "anchors"])
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and b"/Type /Page" in data


def test_a_missing_panel_is_a_clear_error():
    inputs = roma_like(errors=False)
    assert "error" not in available_panels(inputs)
    with pytest.raises(MatchscopeError, match="'error' needs ground truth"):
        compose_figure(inputs, ["certainty", "error"])
    sparse = shift_result(160, 200, 6.0, 4.0)
    sparse.warp_ab = sparse.certainty_ab = None
    sparse_inputs = FigureInputs(sparse, RGB_A, RGB_B, read_probe(sparse, 105, 85))
    assert available_panels(sparse_inputs) == ["matches", "a", "b", "certainty"]
    with pytest.raises(MatchscopeError, match="'anchors' needs intermediate anchor_logits_ab"):
        compose_figure(sparse_inputs, ["anchors"])
    with pytest.raises(MatchscopeError, match="unknown figure panel 'flow'"):
        compose_figure(sparse_inputs, ["flow"])
    with pytest.raises(MatchscopeError, match=r"\.png, \.svg or \.pdf"):
        export_figure(sparse_inputs, "figure.jpg", ["a"])


def test_a_sparse_result_draws_its_matches_as_dots():
    sparse = shift_result(160, 200, 6.0, 4.0)
    sparse.warp_ab = sparse.certainty_ab = None
    inputs = FigureInputs(sparse, RGB_A, RGB_B, read_probe(sparse, 105, 85))
    composed = compose_figure(inputs, ["certainty"], width_in=3.5)
    (dots,) = composed.panels["certainty"].collections
    assert len(dots.get_offsets()) == sparse.num_matches
    assert probe_markers(composed.panels["certainty"]) == 1
