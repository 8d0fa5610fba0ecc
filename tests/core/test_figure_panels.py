"""The figure's panels of the scales (certainty and warp at the chosen scale, the coarse warp, the
forward-backward consistency, A's grid over B), the anchor inspector's marks, the pinned probes
in every panel in their colours, and what a panel needs when the result lacks it."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from core.anchor_probe import inspect_anchors
from core.errors import MatchscopeError
from core.figure_compose import FigureInputs, available_panels, compose_figure
from core.figure_panels import (
    COARSE_GID,
    GRID_COLOUR,
    MIN_MODE_SHOWN,
    MODE_GID,
    PATH_GID,
    PIN_GID,
    PROBE_GID,
)
from core.probe import PIN_COLOURS, PinnedProbe, read_probe
from core.scales import deformed_grid, scale_maps
from tests.core import anchor_results, scale_results

SCALE_PANELS = ["scale_certainty", "scale_warp", "coarse_warp", "consistency", "grid"]
RNG = np.random.default_rng(0)


def scale_inputs(scale: str = "coarse_s8", symmetric: bool = True) -> FigureInputs:
    """The synthetic every-scale result (B -> A off by 2 px in x), probed at (20, 20), with
    two pins (colours 0 and 3)."""
    result = scale_results.scale_result(symmetric, back_error=(2.0, 0.0))
    rgb = RNG.integers(0, 255, (scale_results.H, scale_results.W, 3), dtype=np.uint8)
    pins = (
        PinnedProbe(read_probe(result, 10, 10), 0),
        PinnedProbe(read_probe(result, 40, 30), 3),
    )
    return FigureInputs(result, rgb, rgb.copy(), read_probe(result, 20, 20), scale=scale, pins=pins)


def marks(axes, gid: str) -> list:
    return [line for line in axes.lines if line.get_gid() == gid]


def test_the_scale_panels_show_the_chosen_scale_with_titles_and_colour_bars():
    inputs = scale_inputs()
    assert set(SCALE_PANELS) <= set(available_panels(inputs))
    composed = compose_figure(inputs, SCALE_PANELS)
    assert list(composed.panels) == SCALE_PANELS
    titles = {key: ax.get_title().replace("\n", " ") for key, ax in composed.panels.items()}
    assert titles["scale_certainty"] == "(a) certainty of A → B at coarse pass, scale 8"
    assert titles["scale_warp"].startswith("(b) warp A → B at coarse pass, scale 8")
    assert titles["coarse_warp"].startswith("(c) coarse warp A → B (anchors)")
    assert titles["consistency"].startswith("(d) forward-backward consistency at coarse pass")
    assert titles["grid"].startswith("(e) A's grid over B at coarse pass, scale 8")
    assert set(composed.colorbars) == {"scale_certainty", "consistency"}
    bars = composed.colorbars
    assert bars["scale_certainty"].mappable.get_clim() == (0.0, 1.0)
    assert bars["consistency"].ax.get_xlabel() == "|warp_ba(warp_ab(x)) − x| (px of A)"
    assert bars["consistency"].mappable.get_clim() == (0.0, 10.0)
    shown = composed.panels["scale_certainty"].images[0].get_array()
    np.testing.assert_allclose(shown, scale_results.CERTAINTY["coarse_s8"], atol=1e-6)
    distance = composed.panels["consistency"].images[-1].get_array()
    assert np.ma.median(distance) == pytest.approx(2.0, abs=1e-3)  # the B -> A error
    # the coarse warp (shift (1, -1)) is coloured on the scale's flow scale (shift (3, 1)), as
    # the dock colours it
    texts = [text.get_text().replace("\n", " ") for text in composed.figure.texts]
    scale_text, coarse_text = (text for text in texts if text.startswith("flow colours"))
    assert scale_text == coarse_text
    assert 3.0 < float(scale_text.split("full at ")[1].split()[0]) < 4.0
    (grid,) = [line for line in composed.panels["grid"].lines if line.get_gid() is None]
    assert to_rgb(grid.get_color()) == to_rgb(GRID_COLOUR)
    maps = scale_maps(inputs.result, "coarse_s8")  # A's grid through the s8 warp, not the final
    expected = deformed_grid(maps.warp, maps.certainty)
    np.testing.assert_array_equal(grid.get_xydata(), expected)
    assert np.nanmedian(expected[:, 0] - np.nanmedian(expected[:, 0])) == pytest.approx(0.0)


def test_pins_are_drawn_in_every_panel_in_their_colours_beside_the_probe():
    inputs = scale_inputs()
    keys = ["matches", "a", "b", "certainty", "warp", *SCALE_PANELS]
    composed = compose_figure(inputs, keys)
    expected = [to_rgb(np.array(PIN_COLOURS[i]) / 255) for i in (0, 3)]
    for key, axes in composed.panels.items():
        per_pin = 2 if key == "matches" else 1  # both ends in the matches panel
        pins = marks(axes, PIN_GID)
        colours = [to_rgb(line.get_markeredgecolor()) for line in pins]
        assert sorted(colours) == sorted(expected * per_pin), key
        assert len(marks(axes, PROBE_GID)) == per_pin, key
    (pin_a,) = [p for p in marks(composed.panels["a"], PIN_GID) if p.get_xdata()[0] == 40]
    assert pin_a.get_ydata()[0] == 30
    grid_pins = {
        (p.get_xdata()[0], p.get_ydata()[0]) for p in marks(composed.panels["grid"], PIN_GID)
    }
    assert grid_pins == {(16.0, 14.0), (46.0, 34.0)}  # at their matches in B: + (6, 4)


def test_the_anchors_panel_numbers_the_modes_and_draws_the_coarse_anchors_and_path():
    result = anchor_results.anchor_result()
    size_a, size_b = (
        (anchor_results.H_A, anchor_results.W_A),
        (anchor_results.H_B, anchor_results.W_B),
    )
    rgb_a = RNG.integers(0, 255, (*size_a, 3), dtype=np.uint8)
    rgb_b = RNG.integers(0, 255, (*size_b, 3), dtype=np.uint8)
    probe = read_probe(result, 25.0, 5.0)  # A's cell (0, 1): two equal modes
    composed = compose_figure(FigureInputs(result, rgb_a, rgb_b, probe), ["anchors"])
    axes = composed.panels["anchors"]
    inspection = inspect_anchors(result, 25.0, 5.0, size_a, size_b)
    labels = [text for text in axes.texts if text.get_gid() == MODE_GID]
    assert [text.get_text() for text in labels] == [
        f"{rank}: {mode.probability:.2f}"
        for rank, mode in enumerate(inspection.modes, 1)
        if mode.probability >= MIN_MODE_SHOWN
    ]
    assert [text.get_text() for text in labels] == ["1: 0.49", "2: 0.49"]  # bimodal, no 0.00
    assert labels[0].xy == pytest.approx((inspection.modes[0].x, inspection.modes[0].y))
    squares = marks(axes, COARSE_GID)
    assert len(squares) == 5
    assert (squares[0].get_xdata()[0], squares[0].get_ydata()[0]) == pytest.approx(
        (inspection.coarse_anchors[0].x, inspection.coarse_anchors[0].y)
    )
    (path,) = marks(axes, PATH_GID)
    assert len(path.get_xdata()) == len(inspection.path) == 11  # anchors, 9 refiners, final
    assert path.get_xydata()[-1] == pytest.approx((28.0, 7.0))  # the final match: + (3, 2)
    assert composed.colorbars["anchors"].ax.get_xlabel() == "probability"


def test_the_scale_panels_say_what_they_need():
    at_final = scale_inputs("final")  # the headless default
    assert "scale_certainty" not in available_panels(at_final)
    assert {"coarse_warp", "consistency", "grid"} <= set(available_panels(at_final))
    with pytest.raises(MatchscopeError, match="'scale_warp' needs the intermediates of a chosen"):
        compose_figure(at_final, ["scale_warp"])
    one_way = scale_inputs(symmetric=False)
    assert "consistency" not in available_panels(one_way)
    with pytest.raises(MatchscopeError, match="'consistency' needs a symmetric result"):
        compose_figure(one_way, ["consistency"])
    plain = scale_inputs()
    plain.result.intermediates.clear()  # no scales: coarse_s8 is not there any more
    with pytest.raises(MatchscopeError, match="'coarse_warp' needs intermediate coarse_warp_ab"):
        compose_figure(plain, ["coarse_warp"])
    with pytest.raises(MatchscopeError, match="'grid' needs a dense result with the scale"):
        compose_figure(plain, ["grid"])
