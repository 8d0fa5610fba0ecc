"""`AppState` without Qt: the probe, stale requests, the threshold, images and errors."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from app.state import AppState
from core.imageio import from_array
from core.probe import MAX_PINS, ProbeReading
from core.result import MatchResult, Provenance
from tests.app.plugins import shift_result
from tests.conftest import REPO


@pytest.fixture
def state() -> AppState:
    state = AppState("dense-flow", {"max_size": 64})
    state.set_images(
        from_array(np.zeros((40, 60, 3), np.uint8)), from_array(np.zeros((40, 60, 3), np.uint8))
    )
    return state


def record(signal) -> list:
    calls = []
    signal.connect(lambda *args: calls.append(args))
    return calls


def test_state_imports_without_qt():
    script = (
        "import sys, app.state, app.benchmark; "
        "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_click_computes_the_probe_once_there_is_a_result(state):
    probes = record(state.probe_changed)
    state.click_a(10, 10)
    assert state.probe is None and probes == []  # no result yet: nothing to probe

    request = state.begin_request()
    assert state.set_result(request, shift_result(40, 60, 6.0, 4.0))
    assert (state.probe.xa, state.probe.ya) == (30.0, 20.0)  # a new result starts at A's centre

    state.click_a(12.4, 7.6)
    probe = state.probe
    assert (probe.xa, probe.ya, probe.xb, probe.yb) == (12.0, 8.0, 18.0, 12.0)
    assert probe.source == "warp" and probe.certainty == pytest.approx(12 / 59)
    assert probes[-1] == (probe,)


def test_a_new_result_keeps_the_probed_pixel(state):
    state.set_result(state.begin_request(), shift_result(40, 60, 6.0, 4.0))
    state.click_a(5, 9)
    state.set_result(state.begin_request(), shift_result(40, 60, -2.0, 1.0))
    assert (state.probe.xa, state.probe.ya, state.probe.xb, state.probe.yb) == (5, 9, 3, 10)


def test_stale_results_errors_and_progress_are_dropped(state):
    progress = record(state.progress_changed)
    old = state.begin_request()
    new = state.begin_request()
    assert new > old
    state.set_progress(old, "flow_ab", 0.3)
    assert not state.set_result(old, shift_result(40, 60, 1.0, 1.0))
    assert not state.set_failed(old, "boom")
    assert not state.set_cancelled(old)
    assert state.result is None and state.error == "" and state.running
    assert ("flow_ab", 0.3) not in progress

    state.set_progress(new, "flow_ab", 0.3)
    assert progress[-1] == ("flow_ab", 0.3)
    finished = record(state.run_finished)
    assert state.set_result(new, shift_result(40, 60, 1.0, 1.0))
    assert state.result is not None and not state.running and finished == [("ok",)]
    assert not state.set_result(new, shift_result(40, 60, 2.0, 2.0))  # already answered


def test_new_images_clear_result_probe_and_running_request(state):
    request = state.begin_request()
    state.set_images(state.image_b, state.image_a)
    assert not state.running
    assert not state.set_result(request, shift_result(40, 60, 1.0, 1.0))
    state.set_result(state.begin_request(), shift_result(40, 60, 1.0, 1.0))
    results, probes = record(state.result_changed), record(state.probe_changed)
    state.set_images(state.image_a, None)
    assert state.result is None and state.probe is None
    assert results == [(None,)] and probes == [(None,)]
    assert not state.has_pair


def test_threshold_is_clipped_and_emitted_on_change(state):
    changes = record(state.threshold_changed)
    assert state.threshold == 0.6  # dense-flow's display threshold
    state.set_threshold(0.8)
    state.set_threshold(0.8)
    state.set_threshold(7)
    assert changes == [(0.8,), (1.0,)] and state.threshold == 1.0


def test_threshold_starts_at_each_chosen_matchers_display_threshold(state):
    assert AppState("roma").threshold == 0.05
    assert AppState("tests.core.plugin_matchers:SureMatcher").threshold == 0.9
    changes = record(state.threshold_changed)
    state.set_threshold(0.3)  # the user's choice holds while the matcher stays
    state.set_matcher("dense-flow", {"max_size": 32})
    assert state.threshold == 0.3
    state.set_matcher("roma")
    state.set_matcher("sift")
    assert changes == [(0.3,), (0.05,), (0.5,)] and state.threshold == 0.5


def test_failures_and_cancellation_are_reported(state):
    finished = record(state.run_finished)
    state.set_failed(state.begin_request(), "sift: ratio must lie in (0, 1]")
    assert state.error == "sift: ratio must lie in (0, 1]" and "ratio" in state.status
    state.set_cancelled(state.begin_request())
    assert state.error == "" and "cancelled" in state.status.lower()
    assert finished == [("failed",), ("cancelled",)]


def test_cancelling_shows_at_once_and_holds_back_progress_until_the_run_stops(state):
    assert not state.set_cancelling()  # nothing runs
    progress = record(state.progress_changed)
    request = state.begin_request()
    state.set_progress(request, "match", 0.4)
    assert state.set_cancelling() and not state.set_cancelling()
    assert state.status == "Cancelling…" and state.running and state.cancelling
    state.set_progress(request, "coarse: backbone block 3/24", 0.5)  # still on its way out
    assert progress == [("start", 0.0), ("match", 0.4), ("Cancelling…", 0.4)]
    assert state.set_cancelled(request, abandoned=True)
    assert not state.running and not state.cancelling and "did not stop" in state.status
    assert not state.set_result(request, shift_result(40, 60, 1.0, 1.0))  # its late result


def test_each_matcher_keeps_its_settings(state):
    state.set_matcher("sift")
    assert state.settings == {}
    state.set_matcher("sift", {"ratio": 0.7})
    state.set_matcher("dense-flow")
    assert state.settings == {"max_size": 64}
    state.set_matcher("sift")
    assert state.settings == {"ratio": 0.7}


def test_a_bad_image_is_an_error_not_an_exception(state, tmp_path):
    before = state.image_a
    assert not state.load("a", str(tmp_path / "missing.png"))
    assert "missing.png: no such file" in state.error and state.image_a is before


def test_a_pair_loads_whole_or_not_at_all(state, tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((8, 10, 3), np.uint8))
    changes = record(state.images_changed)
    assert not state.load_pair(str(good), str(tmp_path / "bad.png"))
    assert "bad.png" in state.error and changes == []
    assert state.load_pair(str(good), str(good))
    assert state.image_a.size_hw == (8, 10) and changes == [()] and state.error == ""


def sparse_result() -> MatchResult:
    return MatchResult(
        matches=np.array([[3, 4, 9, 8], [50, 30, 56, 34]], np.float32),
        match_certainty=np.array([0.6, 0.9], np.float32),
        provenance=Provenance(size_a=(40, 60), size_b=(40, 60)),
    )


def test_a_sparse_result_starts_the_probe_at_its_surest_match(state):
    state.set_result(state.begin_request(), sparse_result())
    probe = state.probe
    assert (probe.xa, probe.ya, probe.xb, probe.yb, probe.source) == (50, 30, 56, 34, "match")


def test_a_click_snaps_within_the_radius_the_view_gives(state):
    state.set_result(state.begin_request(), sparse_result())
    state.click_a(3.0, 14.0, snap_radius=5.0)  # 10 px from the match at (3, 4)
    assert not state.probe.has_match
    state.click_a(3.0, 14.0, snap_radius=12.0)  # zoomed out: 12 px on screen span more of A
    assert (state.probe.xa, state.probe.ya, state.probe.source) == (3, 4, "match")
    state.click_a(3.0, 14.0)  # no radius (e.g. a new result): the last click's
    assert state.probe.source == "match" and state.snap_radius == 12.0


def test_a_pair_with_ground_truth_gives_errors_and_the_truth_at_the_probe(state):
    from core.bench.truth import GroundTruth

    H = np.array([[1.0, 0.0, 6.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]])  # what shift_result does
    truth = GroundTruth("homography", homography=H)
    image = from_array(np.zeros((40, 60, 3), np.uint8))
    state.set_images(image, image, truth)
    result = shift_result(40, 60, 6.0, 5.0)  # one pixel off in y
    request = state.begin_request()
    state.set_result(request, result, truth.errors_of(result))
    np.testing.assert_allclose(state.truth_errors.matches, 1.0, atol=1e-6)
    np.testing.assert_allclose(state.truth_errors.dense, 1.0, atol=1e-6)
    assert "median end-point error 1.00 px" in state.status
    state.click_a(30, 20)
    assert state.probe_truth.position_b == pytest.approx((36.0, 24.0))
    assert state.probe_truth.error == pytest.approx(1.0)
    state.set_images(image, image)  # other images: no truth any more
    assert state.ground_truth is None and state.truth_errors is None and state.probe_truth is None


def test_benchmark_state_drops_stale_runs_and_names_its_command():
    from app.benchmark import BenchmarkOptions, BenchmarkState
    from core.errors import MatchscopeError

    bench = BenchmarkState()
    with pytest.raises(MatchscopeError, match="at least one matcher"):
        bench.begin(BenchmarkOptions("data"))
    options = BenchmarkOptions("my data", {"sift": {"max_keypoints": 4000}, "roma": {}}, 5, 2)
    first = bench.begin(options)
    second = bench.begin(options)
    finished = record(bench.finished)
    assert not bench.set_failed(first, "old") and finished == []
    assert bench.set_cancelled(second) and finished == [("cancelled", "benchmark cancelled")]
    assert options.command() == (
        "matchscope bench pairs --dataset 'my data' --matcher sift --matcher roma "
        "--set sift.max_keypoints=4000 --max-pairs 5 --ransac-runs 2"
    )
    with pytest.raises(MatchscopeError, match="no finished benchmark"):
        bench.write_report("anywhere")


def test_benchmarks_use_each_matchers_settings_without_intermediates():
    state = AppState("roma", {"intermediates": True, "coarse_res": 448})
    state.weights_dir = "/weights"
    assert state.run_settings()["intermediates"] is True
    assert state.settings_for("roma") == {"coarse_res": 448, "settings_dir": "/weights"}
    assert state.settings_for("sift") == {}


def test_keypoint_matchers_keep_intermediates_by_default_and_select_keypoints():
    from tests.core.keypoint_results import keypoint_result

    state = AppState("xfeat")
    assert state.keep_intermediates and state.run_settings() == {"intermediates": True}
    state.set_keep_intermediates(False)
    assert "intermediates" not in state.run_settings()
    assert not AppState("sift").keep_intermediates
    assert not AppState("aliked-lightglue", {"intermediates": False}).keep_intermediates

    selected = record(state.keypoint_changed)
    state.select_keypoint(80, 30)
    assert state.keypoint is None and selected == []  # no result yet
    assert state.set_result(state.begin_request(), keypoint_result())
    assert selected == [(None,)]
    state.select_keypoint(85, 33, snap_radius=6.0)
    assert state.keypoint.index == 1 and selected[-1] == (state.keypoint,)
    state.select_keypoint(85, 33, snap_radius=5.0)  # 5.83 px away
    assert state.keypoint is None


def test_the_scale_is_chosen_among_the_results_and_falls_back_to_final(state):
    from core.scales import FINAL
    from tests.core.scale_results import scale_result

    scales = record(state.scale_changed)
    assert state.scale == FINAL
    assert not state.set_scale("coarse_s8")  # no result yet
    state.set_result(state.begin_request(), scale_result())
    assert state.set_scale("coarse_s8") and state.scale == "coarse_s8"
    assert not state.set_scale("coarse_s32") and state.scale == "coarse_s8"
    state.set_result(state.begin_request(), scale_result(symmetric=False))
    assert state.scale == "coarse_s8" and scales == [("coarse_s8",)]  # the new one has it too
    seen = []
    state.result_changed.connect(lambda result: seen.append(state.scale))
    state.set_result(state.begin_request(), shift_result(40, 60, 6.0, 4.0))  # only its final
    assert state.scale == FINAL and seen == [FINAL] and scales[-1] == (FINAL,)


def test_a_click_in_b_probes_b_to_a_and_keeps_its_origin_across_results(state):
    from tests.app.plugins import SYMMETRIC_CERTAINTY_BA, symmetric_shift_result

    state.set_result(state.begin_request(), symmetric_shift_result(40, 60, 6.0, 4.0))
    state.click_b(20.3, 9.8, snap_radius=3)
    probe = state.probe
    assert (probe.origin, probe.source) == ("b", "warp")
    assert (probe.xb, probe.yb, probe.xa, probe.ya) == (20, 10, 14, 6)  # from warp_ba
    assert probe.certainty == SYMMETRIC_CERTAINTY_BA

    state.set_result(state.begin_request(), symmetric_shift_result(40, 60, 2.0, 1.0))
    probe = state.probe  # the same pixel of B, read from the new result
    assert (probe.origin, probe.xb, probe.yb, probe.xa, probe.ya) == ("b", 20, 10, 18, 9)

    state.set_result(state.begin_request(), shift_result(40, 60, 6.0, 4.0))  # no warp_ba
    probe = state.probe  # the match whose B end (21, 9) is nearest
    assert (probe.origin, probe.source, probe.xa, probe.ya) == ("b", "match", 15, 5)

    state.set_result(state.begin_request(), sparse_result())  # no match near B's (21, 9)
    probe = state.probe  # back to the probe's pixel of A
    assert (probe.origin, probe.xa, probe.ya, probe.has_match) == ("a", 15, 5, False)


def test_a_click_in_b_without_a_match_keeps_the_probe(state):
    state.set_result(state.begin_request(), sparse_result())
    before = state.probe
    state.click_b(2, 2, snap_radius=3)
    assert state.probe == before and "No match in A for B's pixel (2, 2)" in state.status
    state.click_b(10, 9, snap_radius=3)  # near the B end (9, 8) of the first match
    assert state.probe == ProbeReading(3.0, 4.0, 9.0, 8.0, pytest.approx(0.6), "match", "b")


def test_pins_keep_their_colours_and_readings_and_at_most_eight(state):
    pins = record(state.pins_changed)
    assert not state.pin_probe()  # no probe yet
    state.set_result(state.begin_request(), shift_result(40, 60, 6.0, 4.0))
    for x in range(MAX_PINS):
        state.click_a(x, 5)
        assert state.pin_probe()
    assert [pin.colour for pin in state.pinned] == list(range(MAX_PINS))
    assert len(pins) == MAX_PINS and pins[-1] == (state.pinned,)
    state.click_a(30, 30)
    assert not state.pin_probe() and f"At most {MAX_PINS} pinned" in state.status
    assert len(state.pinned) == MAX_PINS and len(pins) == MAX_PINS

    state.unpin(2)
    assert [pin.colour for pin in state.pinned] == [0, 1, 3, 4, 5, 6, 7]
    state.click_a(3, 5)
    assert not state.pin_probe() and "pinned already" in state.status
    assert state.pin_probe(ProbeReading(30.0, 30.0, 36.0, 34.0, 0.5, "warp"))
    assert state.pinned[-1].colour == 2  # the colour that was freed

    state.set_result(state.begin_request(), shift_result(40, 60, -2.0, 1.0))  # read again
    assert (state.pinned[-1].reading.xb, state.pinned[-1].reading.yb) == (28, 31)
    assert [pin.colour for pin in state.pinned] == [0, 1, 3, 4, 5, 6, 7, 2]
    state.unpin(99)  # out of range: nothing
    state.clear_pins()
    assert state.pinned == [] and pins[-1] == ([],)

    assert state.pin_pixel(10, 10, "b")  # a workspace's pin of B (no warp_ba: the matches)
    assert state.pinned[0].reading.origin == "b"
    state.set_images(state.image_a, state.image_b)  # new images: pins go with the result
    assert state.pinned == [] and pins[-1] == ([],)
