"""`bench roma-speed`'s balanced-sampling timing: ours and romatch's on the same candidates."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from core.bench import sampling_speed


def grid(size: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric (2, size, size, 2) warp (a mild zoom) and its (2, size, size) certainty."""
    rng = np.random.default_rng(seed)
    centres = (np.arange(size) + 0.5) / size * 2 - 1
    xy = np.stack(np.meshgrid(centres, centres), axis=-1)
    warp = np.stack([0.8 * xy, xy / 0.8]).astype(np.float32)
    return warp, rng.uniform(0.01, 0.5, (2, size, size)).astype(np.float32)


def test_both_samplers_are_timed_on_the_same_candidates():
    pytest.importorskip("romatch", exc_type=ImportError)
    warp, certainty = grid()
    timing = sampling_speed.measure_sampling(warp, certainty, 100, True, repeats=2, warmup=1)
    assert timing["candidates"] == 2 * 24 * 24 and timing["num_samples"] == 100
    assert len(timing["ours_runs_s"]) == len(timing["reference_runs_s"]) == 2
    assert timing["ours_s"] == pytest.approx(np.mean(timing["ours_runs_s"]))
    assert timing["speedup"] == pytest.approx(timing["reference_s"] / timing["ours_s"])
    assert timing["reference_note"] is None
    line = sampling_speed.report_line(timing)
    assert "100 of 1,152 candidates" in line and "x (reference_s / ours_s" in line


def test_one_direction_and_no_reference(monkeypatch):
    warp, certainty = grid()
    timing = sampling_speed.measure_sampling(
        warp[:1], certainty[:1], 50, False, warmup=0, with_reference=False
    )
    assert timing["candidates"] == 24 * 24 and len(timing["ours_runs_s"]) == 1
    assert timing["reference_s"] is None and timing["speedup"] is None
    assert sampling_speed.report_line(timing).endswith("romatch not asked for (--only ours)")
    monkeypatch.setitem(sys.modules, "romatch.models.matcher", None)  # not installed
    timing = sampling_speed.measure_sampling(warp, certainty, 50, True, warmup=0)
    assert timing["reference_s"] is None and timing["reference_note"] == "romatch not installed"
