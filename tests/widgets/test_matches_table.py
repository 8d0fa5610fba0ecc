"""`MatchesTable` linked to the app state and the pair view as the window links them: real clicks
on the header and on rows, the certainty filter, the probe selecting rows, the truth column, CSV."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.state import AppState
from core.bench.datasets import HOMOGRAPHY
from core.bench.truth import GroundTruth
from core.imageio import LoadedImage
from core.result import MatchResult, Provenance
from tests.app.plugins import shift_result
from widgets.matches_table import MatchesTable
from widgets.pair_view import PairView

H, W = 160, 200
SHIFT_TRUTH = GroundTruth(HOMOGRAPHY, homography=np.array([[1, 0, 6], [0, 1, 4], [0, 0, 1.0]]))


def sparse_result(count: int = 60, seed: int = 2) -> MatchResult:
    """``count`` matches on a 20 px grid of A (so a click snaps to one), B = A + (6, 4) + noise."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(10 * 8, count, replace=False)
    xa, ya = 10 + 20 * (cells % 10), 10 + 20 * (cells // 10)
    noise = rng.normal(0, 1.5, (count, 2))
    matches = np.column_stack([xa, ya, xa + 6 + noise[:, 0], ya + 4 + noise[:, 1]])
    provenance = Provenance(size_a=(H, W), size_b=(H, W))
    certainty = rng.uniform(0, 1, count).astype(np.float32)
    return MatchResult(
        matches=matches.astype(np.float32), match_certainty=certainty, provenance=provenance
    )


@pytest.fixture
def linked(qtbot):
    """An AppState, a PairView and a MatchesTable wired as MainWindow wires them."""
    state, pair_view, table = AppState(), PairView(), MatchesTable()
    for widget in (pair_view, table):
        qtbot.addWidget(widget)
    table.match_clicked.connect(state.probe_match)
    state.probe_changed.connect(table.set_probe)
    state.probe_changed.connect(lambda probe: pair_view.set_probe(probe, state.probe_truth))
    state.threshold_changed.connect(table.set_threshold)
    table.resize(700, 300)
    pair_view.resize(900, 420)
    for widget in (table, pair_view):
        widget.show()
        qtbot.waitExposed(widget)
    state.set_threshold(0.0)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (H, W, 3), np.uint8)
    pair_view.set_images(rgb, rgb)
    return state, pair_view, table


def show(state: AppState, table: MatchesTable, result: MatchResult, truth=None) -> None:
    """What the window does with a new result: the state takes it, the table shows it."""
    image = LoadedImage(np.zeros((H, W, 3), np.uint8))
    state.set_images(image, image, truth)
    errors = None if truth is None else truth.errors_of(result)
    table.set_result(
        result, None if errors is None else errors.matches, truth.error_name if truth else ""
    )
    assert state.set_result(state.begin_request(), result, errors)


def click_header(qtbot, table: MatchesTable, column: int) -> None:
    header = table.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2)
    )


def click_row(qtbot, table: MatchesTable, row: int) -> None:
    view = table.table
    view.scrollTo(table.model.index(row, 0))
    pos = view.visualRect(table.model.index(row, 2)).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def shown_column(table: MatchesTable, column: int) -> np.ndarray:
    return np.array([table.model.value(row, column) for row in range(table.model.rowCount())])


def test_a_header_click_sorts_by_certainty(qtbot, linked):
    state, _, table = linked
    result = sparse_result()
    show(state, table, result)
    np.testing.assert_array_equal(shown_column(table, 0), np.arange(60))  # the result's order
    click_header(qtbot, table, 5)  # certainty: the surest first
    certainty = shown_column(table, 5)
    np.testing.assert_array_equal(certainty, np.sort(result.match_certainty)[::-1])
    assert table.model.data(table.model.index(0, 5)) == f"{certainty[0]:.3f}"
    click_header(qtbot, table, 5)
    np.testing.assert_array_equal(shown_column(table, 5), np.sort(result.match_certainty))
    click_header(qtbot, table, 1)  # xA, ascending first
    assert np.all(np.diff(shown_column(table, 1)) >= 0)


def test_the_minimum_certainty_filters_rows_and_follows_the_slider(qtbot, linked):
    state, _, table = linked
    result = sparse_result()
    show(state, table, result)
    assert table.model.rowCount() == 60 and table.count_label.text() == "60 of 60 matches"
    table.min_box.setValue(0.5)
    kept = int((result.match_certainty >= 0.5).sum())
    assert 0 < kept < 60
    assert table.model.rowCount() == kept and table.count_label.text() == f"{kept} of 60 matches"
    assert shown_column(table, 5).min() >= 0.5
    state.set_threshold(0.8)  # the window's slider
    assert table.min_box.value() == pytest.approx(0.8)
    assert table.model.rowCount() == int((result.match_certainty >= 0.8).sum())


def test_a_click_on_a_row_probes_that_match_and_the_pair_view_draws_it(qtbot, linked):
    state, pair_view, table = linked
    result = shift_result(H, W, 6.0, 4.0, step=20)
    result.matches[:, 2:] += np.float32([0.25, -0.5])  # not what the warp says at that pixel
    show(state, table, result)
    click_header(qtbot, table, 5)  # sorted, so that a row is not its match's index
    row = 7
    match = table.model.match_at(row)
    assert match != row
    click_row(qtbot, table, row)
    xa, ya, xb, yb = (float(v) for v in result.matches[match])
    probe = state.probe
    assert (probe.xa, probe.ya, probe.xb, probe.yb, probe.source) == (xa, ya, xb, yb, "match")
    assert probe.certainty == pytest.approx(result.match_certainty[match])
    assert pair_view.lines._probe == probe
    pair_view.canvas.viewport().repaint()
    mark_a, mark_b = pair_view.lines.probe_ends
    on_a = pair_view.view_a.mapSceneToView(mark_a)
    on_b = pair_view.view_b.mapSceneToView(mark_b)
    assert (on_a.x(), on_a.y()) == pytest.approx((xa, ya), abs=1e-3)
    assert (on_b.x(), on_b.y()) == pytest.approx((xb, yb), abs=1e-3)
    assert table.table.selectionModel().selectedRows()[0].row() == row

    state.click_a(5.0, 5.0)  # the warp's answer there is no match of the table
    assert not table.table.selectionModel().hasSelection() and table.probed_match is None
    click_row(qtbot, table, row)  # the same row again probes again
    assert state.probe.source == "match" and (state.probe.xa, state.probe.ya) == (xa, ya)


def test_a_probe_at_a_match_selects_and_shows_its_row(qtbot, linked):
    state, _, table = linked
    result = sparse_result()
    show(state, table, result)
    last = int(np.argmax(table.model.rows))  # the bottom row: scrolled to
    xa, ya = result.matches[last, :2]
    state.click_a(float(xa) + 2, float(ya) - 1, 12.0)  # snaps to the match
    assert table.probed_match == last
    index = table.table.selectionModel().selectedRows()[0]
    assert table.model.match_at(index.row()) == last
    assert table.table.viewport().rect().intersects(table.table.visualRect(index))

    table.min_box.setValue(1.0)  # filtered out: no row selected
    assert not table.table.selectionModel().hasSelection()
    table.min_box.setValue(0.0)  # back: selected again
    assert table.model.match_at(table.table.selectionModel().selectedRows()[0].row()) == last


def test_the_truth_column_only_with_ground_truth(qtbot, linked, tmp_path):
    state, _, table = linked
    result = sparse_result()
    show(state, table, result)
    assert table.model.columnCount() == 6
    show(state, table, result, SHIFT_TRUTH)
    assert table.model.columnCount() == 7
    assert table.model.headerData(6, Qt.Orientation.Horizontal) == "end-point error (px)"
    errors = np.hypot(
        result.matches[:, 2] - result.matches[:, 0] - 6,
        result.matches[:, 3] - result.matches[:, 1] - 4,
    )
    np.testing.assert_allclose(shown_column(table, 6), errors, atol=1e-4)
    click_header(qtbot, table, 6)  # the worst first
    assert shown_column(table, 6)[0] == pytest.approx(errors.max(), abs=1e-4)

    assert table.save_csv(str(tmp_path / "m.csv"))
    saved = np.loadtxt(tmp_path / "m.csv", delimiter=",", skiprows=1)
    assert saved.shape == (60, 6)  # every match, in the result's order, with its error
    np.testing.assert_allclose(saved[:, 5], errors, atol=1e-3)
    assert table.message.text() == f"Wrote {tmp_path / 'm.csv'}"
    assert not table.save_csv(str(tmp_path / "missing" / "m.csv"))
    assert "cannot write" in table.message.text()


def test_a_new_result_clears_the_table(qtbot, linked):
    state, _, table = linked
    show(state, table, sparse_result())
    state.probe_match(3)
    table.set_result(None)
    assert table.model.rowCount() == 0 and table.count_label.text() == "no result"
    assert not table.save_button.isEnabled() and table.probed_match is None
    dense = shift_result(H, W, 6.0, 4.0, step=20)
    show(state, table, dense)  # dense results list their sampled matches
    assert table.model.rowCount() == dense.num_matches and table.save_button.isEnabled()


def test_the_window_shows_the_matches_dock_linked_to_its_probe(qtbot, tmp_path):
    from PIL import Image

    from app.window import MainWindow

    window = MainWindow(AppState("tests.app.plugins:ShiftMatcher"))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    assert window.matches_dock in window.tabifiedDockWidgets(
        window.findChild(type(window.matches_dock), "Warp")
    )
    paths = [str(tmp_path / name) for name in ("a.png", "b.png")]
    for path in paths:
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)
    assert window.state.load_pair(*paths)
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=4000)
    window.matches_dock.raise_()
    table, result = window.matches_table, window.state.result
    shown = int((result.match_certainty >= window.state.threshold).sum())
    assert 0 < shown < result.num_matches and table.model.rowCount() == shown
    click_row(qtbot, table, 3)
    xa, ya, xb, yb = (float(v) for v in result.matches[table.model.match_at(3)])
    probe = window.state.probe
    assert (probe.xa, probe.ya, probe.xb, probe.yb) == (xa, ya, xb, yb)
    assert window.probe_panel.fields["B pixel"].text() == f"({xb:.2f}, {yb:.2f})"
    assert window.pair_view.lines._probe == window.state.probe
