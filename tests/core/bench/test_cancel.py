"""`bench cancel`: latencies from a run's check times, the abandoned plugin, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from core.bench import cancel


def test_a_cancel_waits_for_the_next_check():
    latencies = cancel.instant_latencies([1.0, 2.0, 5.0], end=6.0)
    assert len(latencies) == cancel.INSTANTS
    assert latencies[0] == pytest.approx(1.0)  # at 0 s: the check at 1 s
    assert latencies.max() == pytest.approx(3.0, abs=0.01)  # from 2 s to 5 s
    assert (latencies > 0).all() and latencies[-1] == pytest.approx(0.006)  # then the end
    inside = cancel.instant_latencies([1.0, 2.0, 5.0], end=6.0, window=(1.0, 2.0))
    assert inside.max() == pytest.approx(1.0) and np.median(inside) == pytest.approx(0.5, abs=0.01)


def test_a_plugin_that_ignores_cancel_is_abandoned_on_time():
    plugin = cancel.plugin_abandonment(abandon_after=0.2)
    assert 0.2 <= plugin["latency_s"] < 0.8 and plugin["late_outcome_dropped"]


def test_the_command_measures_a_small_roma(tmp_path, monkeypatch, capsys):
    measure_plugin = cancel.plugin_abandonment
    monkeypatch.setattr(cancel, "plugin_abandonment", lambda: measure_plugin(0.2))
    path = tmp_path / "cancel.json"
    small = ["--backbone", "dinov2_vits14", "--coarse-res", "56", "--upsample-res", "0"]
    assert main(["bench", "cancel", *small, "--points", "1", "--json", str(path)]) == 0
    summary = json.loads(path.read_text())
    assert summary["checks"] > 50  # the model checks inside its pass
    assert summary["every_instant"]["max_s"] <= summary["stage_checks_only"]["max_s"]
    # the checks are spread through the forward pass (the median: one scheduling hiccup of the
    # shared machine can stretch a single gap, as it did once in CI)
    assert summary["forward_pass"]["median_s"] < summary["full_run_s"] / 10
    assert summary["cancelled_runs"][0]["outcome"] in ("cancelled", "done")
    assert summary["plugin"]["late_outcome_dropped"]
    out = capsys.readouterr().out
    assert "Cancel latency: roma" in out and "abandoned" in out and "load average" in out
