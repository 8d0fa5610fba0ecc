"""`RunStore`: byte accounting, least-recently-used eviction, the current run kept, same-pair
lookup."""

from __future__ import annotations

import numpy as np
import pytest

from core.bench.truth import ResultErrors
from core.errors import MatchscopeError
from core.result import MatchResult
from core.run_store import MIB, RunStore, budget_from_mib, machine_memory_bytes, pair_key, run_label


def result_of(kib: int) -> MatchResult:
    """A sparse result holding ``kib`` KiB in one intermediate plus 2 matches (40 bytes)."""
    return MatchResult(
        matches=np.zeros((2, 4), np.float32),
        match_certainty=np.ones(2, np.float32),
        intermediates={"blob": np.zeros(kib * 1024, np.uint8)},
    )


def test_nbytes_counts_every_array_intermediates_included():
    result = MatchResult(
        warp_ab=np.zeros((4, 5, 2), np.float32),  # 160
        certainty_ab=np.zeros((4, 5), np.float32),  # 80
        matches=np.zeros((3, 4), np.float32),  # 48
        match_certainty=np.zeros(3, np.float32),  # 12
        intermediates={"a": np.zeros((2, 2), np.float64), "b": np.zeros(7, np.uint8)},  # 32 + 7
    )
    assert result.nbytes == 160 + 80 + 48 + 12 + 32 + 7


def test_runs_are_evicted_least_recently_used_first():
    store = RunStore(budget=3 * 1024 + 200)  # three 1 KiB runs fit, four do not
    first, second, _ = (store.add(result_of(1), f"run {i}", "pair") for i in range(3))
    assert [run.run_id for run in store.runs_on("pair")] == [1, 2, 3]
    assert store.nbytes == 3 * (1024 + 40) and not store.over_budget
    assert store.get(first.run_id) is first  # used again: now the second is the oldest used
    fourth = store.add(result_of(1), "run 3", "pair")
    assert [run.run_id for run in store.runs_on("pair")] == [1, 3, 4]
    assert store.get(second.run_id) is None
    assert store.current is fourth and store.nbytes <= store.budget


def test_the_current_run_stays_even_over_budget():
    store = RunStore(budget=2048)
    store.add(result_of(1), "small", "pair")
    big = store.add(result_of(4), "big", "pair")
    assert store.runs_on("pair") == [big] and store.over_budget
    assert store.add(result_of(1), "small again", "pair").run_id == 3  # the big one goes
    assert [run.label for run in store.runs_on("pair")] == ["small again"]
    assert not store.over_budget


def test_a_lower_budget_drops_runs_at_once():
    store = RunStore()
    runs = [store.add(result_of(1), str(i), "pair") for i in range(4)]
    dropped = store.set_budget(2 * 1024 + 100)  # two runs of 1064 bytes fit
    assert dropped == runs[:2] and store.runs_on("pair") == runs[2:]
    assert store.set_budget(10) == [runs[2]] and store.runs_on("pair") == [runs[3]]


def test_truth_errors_count_in_a_runs_bytes():
    errors = ResultErrors(np.zeros(2, np.float32), np.zeros((4, 5), np.float32))
    store = RunStore()
    run = store.add(result_of(1), "with truth", "pair", truth_errors=errors)
    assert run.nbytes == 1024 + 40 + 8 + 80 == store.nbytes


def test_runs_on_the_same_pixels_are_found_by_content():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 255, (2, 6, 8, 3), dtype=np.uint8)
    store = RunStore()
    one = store.add(result_of(1), "sift", pair_key(a, b), ("x/a.png", "x/b.png"))
    store.add(result_of(1), "other pair", pair_key(b, a))
    two = store.add(result_of(1), "dense-flow", pair_key(a.copy(), b.copy()), ("a.jpg", "b.jpg"))
    assert store.runs_on(pair_key(a, b)) == [one, two]
    assert pair_key(a, b) != pair_key(a[:, :6], b) and one.paths == ("x/a.png", "x/b.png")


def test_labels_name_the_changed_settings():
    assert run_label("sift", {}) == "sift"
    settings = {"preset": "fast", "max_size": 200, "settings_dir": "/weights"}
    assert run_label("dense-flow", settings) == "dense-flow (max_size=200, preset=fast)"
    assert RunStore().add(result_of(1), "sift", "p").title == "1: sift"


def test_a_budget_in_mib_is_checked_against_64_mib_and_the_machine():
    assert budget_from_mib(" 2048 ") == 2048 * MIB and budget_from_mib("64") == 64 * MIB
    ram = machine_memory_bytes()
    assert ram is not None and ram > 64 * MIB
    for text, message in (("63", "use 64 MiB to"), ("x", "not a whole number")):
        with pytest.raises(MatchscopeError, match=message):
            budget_from_mib(text)
    with pytest.raises(MatchscopeError, match="this machine's memory"):
        budget_from_mib(str(ram // MIB + 1))
