"""`CompareView` alone: the run lists, two sparse runs, B's frame with each run's answer marked."""

from __future__ import annotations

import numpy as np

from core.compare import compare_probe, compare_runs
from core.result import MatchResult, Provenance
from core.run_store import RunStore
from widgets.compare_view import SHOW_B, CompareView


def sparse(dx: float) -> MatchResult:
    a = np.array([[10, 10], [30, 20]], np.float32)
    return MatchResult(
        matches=np.column_stack([a, a + np.float32([dx, 0])]),
        match_certainty=np.array([0.25, 1.0], np.float32),
        provenance=Provenance(size_a=(40, 60), size_b=(40, 60)),
    )


def test_two_sparse_runs_are_listed_and_their_b_answers_marked(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    chosen = []
    view.runs_chosen.connect(lambda *ids: chosen.append(ids))
    store = RunStore()
    runs = [store.add(sparse(dx), f"sift {dx}", "pair") for dx in (2.0, 5.0)]
    view.set_runs(runs, 2, 1)
    assert view.chosen() == (2, 1) and chosen == []  # set by the window: no signal
    view.run_boxes[0].setCurrentIndex(0)
    view.run_boxes[0].activated.emit(0)  # what a choice in the list sends
    assert chosen == [(1, 1)]

    rgb = np.zeros((40, 60, 3), np.uint8)
    view.set_data(rgb, rgb, tuple(runs), compare_runs(*runs))
    assert view.diff.panel.title.text == "two sparse runs: no dense warp to compare with"
    view.show_box.setCurrentText(SHOW_B)
    xs, ys = view.layers[1].points.getData()
    np.testing.assert_array_equal(np.column_stack([xs, ys]), [[15, 10], [35, 20]])  # B ends
    view.set_probe(compare_probe(runs[0].result, runs[1].result, 30, 20))
    for layer, xb in zip(view.layers, (32, 35), strict=True):
        marker = layer.panel.marker
        assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (xb, 20)
    assert "at A (30, 20) the runs are 3.00 px apart in B" in view.probe_text.toPlainText()
    view.set_data(None, None, None, None)
    assert not view.layers[0].panel.marker.isVisible() and view.probe_text.toPlainText() == ""
