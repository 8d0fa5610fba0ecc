"""`RunControl.checkpoint` and `Job`: cancellation inside a stage, and abandoning a run that
ignores cancel (no Qt)."""

from __future__ import annotations

import threading
import time

import pytest

from core.errors import Cancelled
from core.run import ABANDON_AFTER_S, Job, RunControl


def test_a_checkpoint_maps_its_fractions_into_the_stage_and_raises_once_cancelled():
    seen = []
    control = RunControl(progress=lambda stage, fraction: seen.append((stage, fraction)))
    checkpoint = control.checkpoint(0.1, 0.9)
    checkpoint("coarse: backbone block 1/24", 0.0)
    checkpoint("upsample: refiner s2", 0.5)
    assert seen == [("coarse: backbone block 1/24", 0.1), ("upsample: refiner s2", 0.5)]
    control.cancel.set()
    with pytest.raises(Cancelled, match="during upsample: refiner s1"):
        checkpoint("upsample: refiner s1", 0.9)
    assert len(seen) == 2


def ended_job(work, abandon_after: float):
    """A `Job` and a list of (seconds since start, outcome) that its `on_end` fills."""
    ends = []
    start = time.monotonic()
    job = Job(work, lambda outcome: ends.append((time.monotonic() - start, outcome)), abandon_after)
    return job, ends


def test_a_job_that_stops_on_cancel_ends_with_its_outcome():
    def work(cancel: threading.Event) -> str:
        return "stopped" if cancel.wait(5.0) else "finished"

    job, ends = ended_job(work, abandon_after=5.0)
    job.cancel()
    assert job.join(2.0)
    assert [outcome for _, outcome in ends] == ["stopped"]


def test_a_job_that_ignores_cancel_is_abandoned_and_its_late_outcome_dropped():
    release = threading.Event()

    def work(cancel: threading.Event) -> str:
        release.wait(5.0)  # never looks at cancel
        return "late result"

    job, ends = ended_job(work, abandon_after=0.2)
    job.cancel()
    deadline = time.monotonic() + 2.0
    while not ends and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [outcome for _, outcome in ends] == [None] and 0.2 <= ends[0][0] < 1.0
    assert job.running  # its thread goes on in the background
    release.set()
    assert job.join(2.0)
    assert [outcome for _, outcome in ends] == [None]  # the late result was dropped


def test_without_cancel_a_slow_job_is_not_abandoned():
    job, ends = ended_job(lambda cancel: time.sleep(0.3) or "done", abandon_after=0.05)
    assert job.join(2.0) and [outcome for _, outcome in ends] == ["done"]
    job.cancel()  # after the end: nothing more
    time.sleep(0.1)
    assert len(ends) == 1 and ABANDON_AFTER_S == 2.0
