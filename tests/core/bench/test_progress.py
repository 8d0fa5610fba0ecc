"""`core.bench.pairs.benchmark` as the app drives it: progress events and cancellation."""

from __future__ import annotations

import threading

import pytest

from core.bench.pairs import benchmark, plan_benchmark
from core.errors import Cancelled, MatchscopeError
from tests.core.bench import layouts

NEEDS_WEIGHTS = "tests.core.bench.test_pairs:needs_weights"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from core.synthetic import make_texture

    root = tmp_path_factory.mktemp("oxford")
    layouts.homography_sequence(root, make_texture(160, seed=3)[:120], count=4)
    return root


def test_progress_reports_each_matchers_start_and_every_pair(folder):
    plan = plan_benchmark(folder, {"sift": {}, NEEDS_WEIGHTS: {}}, max_pairs=2)
    events = []
    results = benchmark(plan.dataset, plan.pairs, plan.matchers, plan.protocol, events.append)
    assert [(e.matcher, e.done, e.total) for e in events] == [
        ("sift", 0, 2),
        ("sift", 1, 2),
        ("sift", 2, 2),
        (NEEDS_WEIGHTS, 0, 2),  # fails on its first pair: skipped
    ]
    assert [e.pair for e in events[1:3]] == plan.pairs
    per_pair = results["matchers"]["sift"]["per_pair"]
    assert [e.score.error for e in events[1:3]] == [p["error"] for p in per_pair]
    assert "weights not found" in results["matchers"][NEEDS_WEIGHTS]["skipped"]
    assert any("sift" in line for line in plan.header)


def test_cancel_stops_between_pairs(folder):
    plan = plan_benchmark(folder, {"sift": {}})
    cancel = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append(progress.done)
        if progress.done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        benchmark(plan.dataset, plan.pairs, plan.matchers, plan.protocol, on_progress, cancel)
    assert seen == [0, 1]


@pytest.mark.parametrize(("option", "value"), [("max_pairs", 0), ("ransac_runs", 0)])
def test_plan_refuses_non_positive_counts(folder, option, value):
    with pytest.raises(MatchscopeError, match=">= 1"):
        plan_benchmark(folder, {"sift": {}}, **{option: value})
