"""`AppState.runs`: every result taken goes into the session's run store, within its budget."""

from __future__ import annotations

import numpy as np

from app.state import AppState
from core.imageio import from_array
from core.run_store import DEFAULT_BUDGET_BYTES
from tests.app.plugins import shift_result


def test_each_result_is_stored_with_its_label_pair_and_budget():
    state = AppState("dense-flow", {"preset": "fast"})
    image = from_array(np.zeros((40, 60, 3), np.uint8))
    state.set_images(image, image)
    changes = []
    state.runs_changed.connect(lambda: changes.append(len(state.runs)))
    assert state.runs.budget == DEFAULT_BUDGET_BYTES

    state.set_result(state.begin_request(), shift_result(40, 60, 6.0, 4.0))
    stale = state.begin_request()
    state.set_matcher("sift")
    state.set_result(state.begin_request(), shift_result(40, 60, 1.0, 0.0))
    assert not state.set_result(stale, shift_result(40, 60, 0.0, 0.0))  # dropped: not stored
    runs = state.runs.runs_on(state.pair_key)
    assert [run.label for run in runs] == ["dense-flow (preset=fast)", "sift"] and changes == [1, 2]
    assert runs[1] is state.runs.current and runs[1].result is state.result

    one_run = runs[1].nbytes
    state.set_run_budget(one_run)  # the older run goes
    assert state.runs.runs_on(state.pair_key) == [runs[1]] and changes[-1] == 1
    state.set_run_budget(one_run // 2)  # the current run stays, over budget
    state.set_result(state.begin_request(), shift_result(40, 60, 2.0, 0.0))
    assert len(state.runs) == 1 and "over the run budget" in state.status

    other = from_array(np.ones((40, 60, 3), np.uint8))
    state.set_images(other, image)
    assert state.runs.runs_on(state.pair_key) == []  # other pixels: no runs on this pair
