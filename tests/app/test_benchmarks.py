"""The Benchmarks dock end to end: a dataset run in the worker with real clicks, its tables
against the command line's numbers, and a clicked pair opened with its ground truth drawn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.cli import main
from app.state import AppState
from tests.app.test_window import click_pixel, make_window

SIFT = "sift"
SLOW = "tests.app.plugins:SlowMatcher"
FAST_FLOW = {"max_size": 400, "num_samples": 400, "preset": "fast"}


def check_only(window, names: list[str]) -> None:
    view = window.benchmark_view
    for row in range(view.matcher_list.count()):
        item = view.matcher_list.item(row)
        checked = item.text() in names
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)


def run_benchmark(qtbot, window, folder, matchers: list[str], timeout=60_000) -> dict:
    """Type the folder, tick the matchers, click Run and wait for the results."""
    view = window.benchmark_view
    window.benchmark_dock.raise_()
    view.dataset_edit.setText(str(folder))
    check_only(window, matchers)
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.bench_state.running, timeout=timeout)
    assert window.bench_state.results is not None, view.message.text()
    return window.bench_state.results


def click_cell(qtbot, table, row: int, column: int) -> None:
    rect = table.visualItemRect(table.item(row, column))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def accuracy(results: dict) -> dict:
    """The results without the timings and memory, which differ between runs."""

    def strip(entry: dict) -> dict:
        kept = {k: v for k, v in entry.items() if k not in ("seconds_per_pair", "peak_mb")}
        if "sequences" in kept:
            kept["sequences"] = {name: strip(part) for name, part in kept["sequences"].items()}
        return kept

    return {name: strip(entry) for name, entry in results["matchers"].items()}


def cli_results(capsys, tmp_path, folder, *args) -> dict:
    out = tmp_path / "cli.json"
    assert main(["bench", "pairs", "--dataset", str(folder), *args, "--json", str(out)]) == 0
    capsys.readouterr()
    return json.loads(out.read_text())


def test_the_dock_reproduces_the_cli_and_opens_a_pair_with_its_truth(
    qtbot, capsys, tmp_path, homography_folder
):
    window = make_window(qtbot, SIFT)
    results = run_benchmark(qtbot, window, homography_folder, [SIFT])
    cli = cli_results(capsys, tmp_path, homography_folder, "--matcher", SIFT)
    assert accuracy(results) == accuracy(cli)

    view = window.benchmark_view
    columns = range(view.summary_table.columnCount())
    summary = [view.summary_table.item(0, c).text() for c in columns]
    header = [view.summary_table.horizontalHeaderItem(c).text() for c in columns]
    assert summary[0] == SIFT and summary[header.index("AUC@3px")] == (
        f"{results['matchers'][SIFT]['auc_px']['3']:.3f}"
    )
    table = view.pairs_table
    assert table.rowCount() == 3
    error_column = table.columnCount() - 1
    per_pair = results["matchers"][SIFT]["per_pair"]
    for row in range(3):
        assert float(table.item(row, error_column).text()) == pytest.approx(
            per_pair[row]["error"], abs=1e-3
        )
    assert view.save_button.isEnabled()

    click_cell(qtbot, table, 1, error_column)  # pair 2: one/img1 - one/img3
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20_000)
    assert state.matcher == SIFT and window.matcher_combo.currentText() == SIFT
    assert state.ground_truth.kind == "homography"
    assert state.image_b.path.endswith("img3.png")
    errors = state.truth_errors.matches
    assert errors.shape == (state.result.num_matches,)
    assert np.median(errors) < 1.5  # SIFT on an exact homography
    pair_view = window.pair_view
    assert pair_view.shows_errors and not pair_view.threshold_line.isVisible()
    assert "end-point error" in pair_view.color_bar.getAxis("left").labelText
    assert "end-point error" in state.status

    click_pixel(qtbot, window, 100, 80)
    truth = state.probe_truth
    assert truth is not None and truth.position_b is not None
    assert len(pair_view.lines.truth_ends) == 1
    shown = window.probe_panel.fields["true error"].text()
    if state.probe.has_match:
        assert shown == f"{truth.error:.2f} px"
    # opening other images drops the truth: lines go back to certainty
    state.set_images(state.image_a, state.image_b)
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20_000)
    assert state.ground_truth is None and not pair_view.shows_errors
    assert window.probe_panel.fields["true error"].text() == "–"

    window.save_benchmark_report(str(tmp_path / "report"))
    assert (tmp_path / "report" / "report.md").is_file()
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved == results
    assert "--matcher sift" in (tmp_path / "report" / "report.md").read_text()


def test_a_flow_pair_shows_its_epe_map(qtbot, flow_folder):
    window = make_window(qtbot, "dense-flow", FAST_FLOW)
    results = run_benchmark(qtbot, window, flow_folder, ["dense-flow"])
    epe = results["matchers"]["dense-flow"]["epe"]
    click_cell(qtbot, window.benchmark_view.pairs_table, 0, 0)  # the row: the first matcher
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20_000)
    dense = state.truth_errors.dense
    assert dense is not None and dense.shape == state.result.size_a
    assert float(np.nanmean(dense)) == pytest.approx(epe, rel=1e-4)  # the table's EPE
    shown = window.error_view.heatmap.image
    np.testing.assert_array_equal(shown, dense)
    assert "end-point error" in window.error_view.panel.title.text
    assert window.error_dock.isVisible()


@pytest.mark.parametrize("matcher", ["tests.core.plugin_matchers:partial", SIFT])
def test_the_true_error_dock_shows_a_dense_map_at_any_coverage_and_sparse_dots(
    qtbot, flow_folder, matcher
):
    window = make_window(qtbot, matcher)
    results = run_benchmark(qtbot, window, flow_folder, [matcher])
    click_cell(qtbot, window.benchmark_view.pairs_table, 0, 0)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20_000)
    view, title = window.error_view, window.error_view.panel.title.text
    if matcher == SIFT:  # sparse: its errors at its matches, and no map
        assert state.truth_errors.dense is None and view.heatmap.image is None
        assert len(view.points.points()) == state.result.num_matches
        assert "sparse" in title and results["matchers"][SIFT]["coverage"] is None
        assert len(window.certainty_view.points.points()) == state.result.num_matches
        return
    coverage = results["matchers"][matcher]["coverage"]
    assert 0.0 < coverage < 0.2  # the top tenth of A, where the flow is known
    np.testing.assert_array_equal(view.heatmap.image, state.truth_errors.dense)
    assert np.isfinite(view.heatmap.image).any() and "sparse" not in title
    assert len(view.points.points()) == 0


def test_a_pose_pair_draws_the_epipolar_line(qtbot, pose_folder):
    window = make_window(qtbot, SIFT)
    run_benchmark(qtbot, window, pose_folder, [SIFT])
    click_cell(qtbot, window.benchmark_view.pairs_table, 0, 1)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20_000)
    assert state.ground_truth.kind == "pose"
    assert "epipolar error" in window.pair_view.color_bar.getAxis("left").labelText
    x, y = (float(v) for v in state.result.matches[0, :2])
    click_pixel(qtbot, window, x, y)
    truth = state.probe_truth
    assert truth.line_b is not None and math.isclose(np.hypot(*truth.line_b[:2]), 1.0)
    assert len(window.pair_view.lines.truth_ends) == 2
    assert state.truth_errors.dense is None  # sparse: the map stays empty
    assert "sparse" in window.error_view.panel.title.text


def test_cancel_stops_the_benchmark_and_the_app_goes_on(qtbot, homography_folder):
    window = make_window(qtbot, SLOW, {"stages": 200, "seconds": 0.05})
    view = window.benchmark_view
    window.benchmark_dock.raise_()
    view.dataset_edit.setText(str(homography_folder))
    check_only(window, [SLOW])
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.bench_state.plan is not None, timeout=5000)
    assert view.cancel_button.isEnabled() and not view.run_button.isEnabled()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.bench_state.running, timeout=5000)
    assert "cancelled" in view.message.text()
    assert window.bench_state.results is None and view.run_button.isEnabled()
    assert window.bench_runner.wait(5.0)


@pytest.mark.parametrize(
    ("folder", "needle"),
    [("", "choose a dataset folder"), ("/nonexistent/dataset", "/nonexistent/dataset")],
)
def test_a_bad_dataset_is_a_message_not_a_crash(qtbot, folder, needle):
    window = make_window(qtbot, SIFT)
    view = window.benchmark_view
    window.benchmark_dock.raise_()
    view.dataset_edit.setText(folder)
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.bench_state.running, timeout=5000)
    assert needle in view.message.text() and "font-weight: bold" in view.message.styleSheet()
    assert view.run_button.isEnabled()


def test_the_command_line_starts_a_benchmark_in_the_window(
    qtbot, tmp_path, capsys, monkeypatch, homography_folder
):
    from app.gui import run_gui

    opened = []  # a benchmark from the command line opens no (demo) pair beside it
    monkeypatch.setattr(AppState, "load_pair", lambda self, *paths: opened.append(paths))
    shot = tmp_path / "shot.png"
    assert run_gui(None, None, SIFT, screenshot=str(shot), dataset=str(homography_folder)) == 0
    assert shot.is_file()
    assert opened == []
    assert run_gui(None, None, SIFT, screenshot=str(shot), dataset=str(tmp_path / "none")) == 1
    assert "none" in capsys.readouterr().err


def test_a_folder_of_sequences_is_filtered_by_sequence(qtbot, homography_folder):
    window = make_window(qtbot, SIFT)
    results = run_benchmark(qtbot, window, homography_folder, [SIFT])
    view = window.benchmark_view
    combo = view.sequence_combo
    assert combo.isVisible()
    assert [combo.itemText(i) for i in range(combo.count())] == ["all sequences", "one", "two"]
    assert view.summary_table.item(0, 1).text() == "3"  # pairs, all sequences

    view.show_sequence("two")
    part = results["matchers"][SIFT]["sequences"]["two"]
    assert view.summary_table.item(0, 1).text() == "1"
    assert view.summary_table.item(0, 2).text() == f"{part['auc_px']['3']:.3f}"
    table = view.pairs_table
    shown = [row for row in range(table.rowCount()) if not table.isRowHidden(row)]
    assert [table.item(row, 0).text() for row in shown] == ["two"]
    view.show_sequence(None)
    assert not any(table.isRowHidden(row) for row in range(table.rowCount()))


def test_a_matcher_without_weights_is_marked_skipped(qtbot, homography_folder):
    needs_weights = "tests.core.bench.test_pairs:needs_weights"
    window = make_window(qtbot, needs_weights)
    results = run_benchmark(qtbot, window, homography_folder, [SIFT, needs_weights])
    assert "skipped" in results["matchers"][needs_weights]
    view = window.benchmark_view
    table = view.pairs_table
    column = table.columnCount() - 1
    assert {table.item(row, column).text() for row in range(table.rowCount())} == {"skipped"}
    assert "weights not found" in table.item(0, column).toolTip()
    assert f"{needs_weights}: skipped" in view.message.text()
    assert view.summary_table.rowCount() == 1  # only sift ran


def test_a_matcher_failing_on_every_pair_shows_its_messages(qtbot, homography_folder):
    exploding = "tests.core.plugin_matchers:exploding"
    window = make_window(qtbot, exploding)
    results = run_benchmark(qtbot, window, homography_folder, [SIFT, exploding])
    entry = results["matchers"][exploding]
    assert "skipped" not in entry and entry["pairs"] == 3
    view = window.benchmark_view
    table = view.pairs_table
    column = table.columnCount() - 1
    for row in range(table.rowCount()):
        item = table.item(row, column)
        assert item.text().startswith("failed: RuntimeError: plugin exploded on call")
        assert item.toolTip() == entry["per_pair"][row]["error_message"]
    assert f"{exploding}: 1 of 3 pairs failed" in view.message.text()
    assert view.summary_table.rowCount() == 2  # it ran, with its failures


def test_the_dock_takes_a_trained_keypoint_matcher_as_it_takes_sift(
    qtbot, capsys, tmp_path, homography_folder
):
    """xfeat (shipped weights) in the Benchmarks dock: the command line's numbers, and a
    clicked pair opens with xfeat's sparse result scored against the truth."""
    window = make_window(qtbot, SIFT)
    results = run_benchmark(qtbot, window, homography_folder, ["xfeat"])
    cli = cli_results(capsys, tmp_path, homography_folder, "--matcher", "xfeat")
    assert accuracy(results) == accuracy(cli)
    entry = results["matchers"]["xfeat"]
    assert entry["auc_px"]["10"] > 0.5  # exact homographies of a textured image
    view = window.benchmark_view
    click_cell(qtbot, view.pairs_table, 0, view.pairs_table.columnCount() - 1)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None and not state.running, timeout=20_000)
    assert state.matcher == "xfeat" and state.result.is_sparse
    assert state.result.match_indices.shape == (state.result.num_matches, 2)
    assert np.median(state.truth_errors.matches) < 2.0
