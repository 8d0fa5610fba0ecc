"""`bench ui` at a tiny size: the JSON it writes (keys and sane values, no timing limits)."""

import json

import numpy as np

from app import bench_ui
from app.cli import main
from core.bench.ui_data import TINY, make_ui_pair, make_ui_result


def test_the_synthetic_result_has_every_roma_intermediate():
    result = make_ui_result(TINY)
    result.validate(size_a=(96, 96))
    inter = result.intermediates
    assert (
        inter["anchor_logits_ab"].shape == (4, 4, 64)
        and inter["anchor_logits_ab"].dtype == np.float16
    )
    assert inter["attention_a"].shape == (2, 2, 4, 4) and inter["backbone_b"].shape == (4, 4, 16)
    for direction in ("ab", "ba"):
        assert inter[f"coarse_warp_{direction}"].shape == (4, 4, 2)
        for scale, side in ((16, 4), (8, 7), (4, 14), (2, 28), (1, 56)):
            assert inter[f"coarse_s{scale}_warp_{direction}"].shape == (side, side, 2)
            assert inter[f"coarse_s{scale}_certainty_{direction}"].shape == (side, side)
        for scale in (8, 4, 2, 1):
            assert inter[f"upsample_s{scale}_warp_{direction}"].shape == (96 // scale,) * 2 + (2,)
    assert result.num_matches == 50 and set(result.intermediate_docs) == set(inter)
    rgb_a, rgb_b = make_ui_pair(TINY)
    assert rgb_a.shape == rgb_b.shape == (96, 96, 3) and rgb_a.std() > 10


def test_probe_points_cover_a():
    points = bench_ui.probe_points(200, (864, 432), seed=0)
    assert points.shape == (200, 2) and len(np.unique(points, axis=0)) == 200
    assert points[:, 0].min() < 50 and points[:, 0].max() > 382  # x over A's width
    assert points[:, 1].min() < 100 and points[:, 1].max() > 764


def test_bench_ui_writes_its_figures(qapp, tmp_path, capsys):
    path = tmp_path / "ui.json"
    argv = ["bench", "ui", "--tiny", "--probes", "5", "--raises", "1", "--startup-runs", "1"]
    argv += ["--seek-frames", "40", "--seeks", "10", "--memory-frames", "50"]
    argv += ["--scrub-frames", "8"]
    assert main([*argv, "--json", str(path)]) == 0
    summary = json.loads(path.read_text())
    assert list(summary)[: len(bench_ui.JSON_KEYS)] == list(bench_ui.JSON_KEYS)
    assert summary["probes"] == 5 and summary["timed_out"] == 0
    assert 0 < summary["probe_update_ms_median"] <= summary["probe_update_ms_p95"] < 5000
    assert {"Certainty", "Probe", "Warp", "pair view"} <= set(summary["visible_views"])
    assert set(summary["tabbed_docks"]) == {
        "True error", "Uncertainty", "Anchors", "Attention", "Benchmarks", "Keypoints",
        "Matches", "Compare",
    }  # fmt: skip
    assert all(0 < value < 5000 for value in summary["dock_raise_ms_p95_by_dock"].values())
    assert summary["dock_raise_ms_p95"] == max(summary["dock_raise_ms_p95_by_dock"].values())
    assert 0 < summary["reference_startup_s"] < summary["startup_s"] < 120
    assert summary["machine"]["cpu_count"] >= 1 and summary["peak_mb"] > 0
    assert summary["seeks"]["seek_exact"] and summary["seeks"]["frames"] == 40
    assert 0 < summary["seek_ms_median"] <= summary["seek_ms_p95"] < 5000
    assert 0 < summary["sequential_decode_ms"] < 5000
    assert summary["sequence_memory"]["sequence_frames"] == 50
    assert summary["sequence_peak_over_budget_mb"] < 0  # 64 x 48 frames never fill the caches
    assert summary["scrub_frames"] == 7 and summary["scrub_timed_out"] == 0
    assert summary["scrub_fps"] > 0 and {"Timeline", "Statistics"} <= set(
        summary["scrub_visible_views"]
    )
    out = capsys.readouterr().out
    assert "scrub (7 frames 64 x 48" in out
    assert "probe update (5 probes)" in out and "seek (10 random exact seeks" in out
    assert "sequence memory (50 frames 64 x 48" in out


def test_colour_bars_lay_their_label_out_only_when_it_changes(qapp, monkeypatch):
    import pyqtgraph as pg

    from widgets import certainty_colormap, set_colour_bar_range

    bar = pg.ColorBarItem(values=(0, 1), colorMap=certainty_colormap(), interactive=False)
    set_colour_bar_range(bar, (0.0, 0.004), "probability")
    calls = []
    monkeypatch.setattr(bar.axis, "setLabel", lambda *args: calls.append(args))
    set_colour_bar_range(bar, (0.0, 0.005), "probability")  # a probe: same label
    assert calls == [] and bar.axis.labelText == "probability (x 1e-3)"
    set_colour_bar_range(bar, (0.0, 0.5), "probability")
    assert calls == [("probability",)]


def test_certainty_lut_is_made_once_and_read_only():
    from core.figures import certainty_lut

    assert certainty_lut() is certainty_lut() and not certainty_lut().flags.writeable
