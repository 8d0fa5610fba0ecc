"""The sequence statistics plots: a point per pair at its frame A's position, the cursor, clicks
that ask for a frame, and the CSV export."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from core.sequence.matching import POSE_COLUMN, STATS_COLUMNS, PairStats
from widgets.sequence_stats_view import EMPTY_TEXT, SequenceStatsView


def stats(position: int, pose: float | None = None, matches: int | None = None) -> PairStats:
    """A pair's row whose values tell its position apart."""
    matches = 100 + position if matches is None else matches
    inliers = matches // 2
    return PairStats(
        frame_a=f"{position:06d}",
        frame_b=f"{position + 1:06d}",
        matches=matches,
        inliers=inliers,
        inlier_ratio=inliers / matches,
        mean_certainty=0.25 + position / 100,
        seconds=0.1 * (position + 1),
        pose_error_deg=pose,
    )


@pytest.fixture
def view(qtbot) -> SequenceStatsView:
    view = SequenceStatsView()
    qtbot.addWidget(view)
    view.resize(600, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def drawn(view: SequenceStatsView, field: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) of a field's line, empty arrays when it has none."""
    x, y = view.lines[field].getData()
    return (np.zeros(0) if x is None else x), (np.zeros(0) if y is None else y)


def points(view: SequenceStatsView, field: str) -> list[tuple[float, float]]:
    """The (x, y) of a field's points, sorted by x."""
    x, y = view.points[field].getData()
    return sorted(zip(x.tolist(), y.tolist(), strict=True))


def wait_drawn(qtbot, view: SequenceStatsView, count: int) -> None:
    qtbot.waitUntil(lambda: len(drawn(view, "matches")[0]) == count, timeout=5000)


def test_rows_added_one_by_one_are_drawn_sorted_by_position_in_one_redraw(qtbot, view):
    assert view.empty_label.isVisible() and view.empty_label.text() == EMPTY_TEXT
    assert not view.canvas.isVisible() and not view.export_button.isEnabled()
    for position in (4, 0, 2):
        view.add_row(position, stats(position))
    assert len(drawn(view, "matches")[0]) == 0  # not yet: the redraw waits for the event loop
    wait_drawn(qtbot, view, 3)
    assert [position for position, _ in view.rows] == [0, 2, 4]
    assert [row.frame_a for _, row in view.rows] == ["000000", "000002", "000004"]
    expected = {
        "matches": [100, 102, 104],
        "inliers": [50, 51, 52],
        "inlier_ratio": [0.5, 51 / 102, 0.5],
        "mean_certainty": [0.25, 0.27, 0.29],
        "seconds": [0.1, 0.3, 0.5],
    }
    for field, values in expected.items():
        x, y = drawn(view, field)
        np.testing.assert_array_equal(x, [0, 2, 4])
        np.testing.assert_allclose(y, values)
        x, y = np.transpose(points(view, field))
        np.testing.assert_array_equal(x, [0, 2, 4])
        np.testing.assert_allclose(y, values)
    view.add_row(3, stats(3))  # the next pass draws only the new row's points
    wait_drawn(qtbot, view, 4)
    assert points(view, "matches") == [(0, 100), (2, 102), (3, 103), (4, 104)]
    assert view.canvas.isVisible() and not view.empty_label.isVisible()
    assert view.export_button.isEnabled()
    assert view.summary.text() == "4 pairs · median inliers 51"


def test_a_row_at_a_position_already_shown_replaces_it(qtbot, view):
    view.set_rows([(position, stats(position)) for position in range(3)])
    view.add_row(1, stats(1, matches=400))
    assert drawn(view, "matches")[1][1] == 101  # until the redraw
    qtbot.waitUntil(lambda: drawn(view, "matches")[1][1] == 400, timeout=5000)
    np.testing.assert_array_equal(drawn(view, "matches")[1], [100, 400, 102])
    np.testing.assert_array_equal(drawn(view, "inliers")[1], [50, 200, 51])
    assert points(view, "matches") == [(0, 100), (1, 400), (2, 102)]
    assert len(view.rows) == 3 and view.rows[1][1].matches == 400
    view.set_rows([(5, stats(5)), (5, stats(5, matches=10))])  # the last of a position wins
    assert [(position, row.matches) for position, row in view.rows] == [(5, 10)]
    view.clear()
    assert view.rows == [] and len(drawn(view, "matches")[0]) == 0
    assert points(view, "matches") == []
    assert view.empty_label.isVisible() and view.summary.text() == ""


def test_the_pose_error_plot_shows_only_with_pose_errors(qtbot, view):
    view.set_rows([(position, stats(position)) for position in range(3)])
    assert not view.pose_plot.isVisible()
    assert view.plots[-2].getAxis("bottom").label.isVisible()  # the lowest plot names x
    view.set_rows([(0, stats(0, pose=2.0)), (1, stats(1, pose=float("nan"))), (2, stats(2, 4.0))])
    assert view.pose_plot.isVisible()
    assert not view.plots[-2].getAxis("bottom").label.isVisible()
    x, y = drawn(view, "pose_error_deg")
    np.testing.assert_array_equal(x, [0, 1, 2])
    np.testing.assert_array_equal(y, [2.0, np.nan, 4.0])
    assert points(view, "pose_error_deg") == [(0, 2.0), (2, 4.0)]  # none where unknown
    assert view.summary.text() == (
        "3 pairs · median inliers 50 · median pose error 3.00° (1 without a pose)"
    )
    view.add_row(3, stats(3))  # None: no ground truth for this one, but the others have it
    wait_drawn(qtbot, view, 4)
    assert view.pose_plot.isVisible()


def plot_pos(view: SequenceStatsView, plot, x: float, y: float):
    """Where the data point (x, y) of ``plot`` is on the canvas' viewport."""
    return view.canvas.mapFromScene(plot.vb.mapViewToScene(QPointF(x, y)))


def show_drawn(view: SequenceStatsView) -> None:
    """Lay the canvas out and paint it: pyqtgraph applies view ranges just before painting."""
    QApplication.processEvents()
    view.canvas.viewport().repaint()


def test_a_real_click_on_a_point_or_near_it_asks_for_the_nearest_pairs_frame(qtbot, view):
    rows = [(position, stats(position)) for position in (0, 2, 5, 9)]
    view.set_rows(rows)
    show_drawn(view)
    ratio_plot, counts_plot = view.plots[1], view.plots[0]
    clicks = [
        (ratio_plot, 5, 0.5, 5),  # on the point
        (ratio_plot, 3.8, 0.9, 5),  # above the curve, nearer 5 than 2
        (counts_plot, 8.0, 80.0, 9),
        (view.plots[3], 0.4, 0.5, 0),
    ]
    for plot, x, y, expected in clicks:
        pos = plot_pos(view, plot, x, y)
        with qtbot.waitSignal(view.frame_clicked, timeout=2000) as clicked:
            qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        assert clicked.args == [expected]
    with qtbot.assertNotEmitted(view.frame_clicked, wait=100):  # the right button opens a menu
        pos = plot_pos(view, ratio_plot, 5, 0.5)
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.RightButton, pos=pos)


def test_the_cursor_marks_the_position_in_every_plot(view):
    view.set_rows([(position, stats(position)) for position in range(10)])
    assert not any(cursor.isVisible() for cursor in view.cursors)
    view.set_cursor(6)
    assert all(cursor.isVisible() and cursor.value() == 6 for cursor in view.cursors[:-1])
    assert view.cursors[-1].value() == 6  # the pose plot's, hidden with its plot
    view.set_cursor(2)
    assert {cursor.value() for cursor in view.cursors} == {2}


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_writes_the_rows_as_stats_csv(view, tmp_path):
    view.set_rows([(2, stats(2)), (0, stats(0))])
    view.export_csv(tmp_path / "stats.csv")
    rows = read_csv(tmp_path / "stats.csv")
    assert list(rows[0]) == list(STATS_COLUMNS)
    assert [(row["frame_a"], row["frame_b"], row["matches"]) for row in rows] == [
        ("000000", "000001", "100"),
        ("000002", "000003", "102"),
    ]
    assert float(rows[1]["seconds"]) == pytest.approx(0.3)
    view.set_rows([(0, stats(0, pose=1.5)), (1, stats(1, pose=float("nan")))])
    view.export_csv(tmp_path / "pose.csv")
    rows = read_csv(tmp_path / "pose.csv")
    assert list(rows[0]) == [*STATS_COLUMNS, POSE_COLUMN]
    assert [row[POSE_COLUMN] for row in rows] == ["1.5", ""]


def test_the_export_button_asks_for_a_file_and_writes_it(qtbot, view, tmp_path, monkeypatch):
    path = tmp_path / "chosen.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(path), ""))
    view.set_rows([(position, stats(position)) for position in range(4)])
    qtbot.mouseClick(view.export_button, Qt.MouseButton.LeftButton)
    assert [row["frame_a"] for row in read_csv(path)] == ["000000", "000001", "000002", "000003"]
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: ("", ""))
    path.unlink()
    with qtbot.assertNotEmitted(view.error):
        qtbot.mouseClick(view.export_button, Qt.MouseButton.LeftButton)  # cancelled
    assert not path.exists()


def test_a_file_that_cannot_be_written_is_an_error_line_not_an_exception(qtbot, view, tmp_path):
    view.set_rows([(0, stats(0))])
    path = tmp_path / "no such folder" / "stats.csv"
    with qtbot.waitSignal(view.error, timeout=1000) as failed:
        view.export_csv(path)
    (message,) = failed.args
    assert message.startswith(str(path)) and "cannot write" in message and "\n" not in message


def test_five_thousand_rows_in_any_order(qtbot, view):
    positions = np.random.default_rng(0).permutation(5000)
    for position in positions.tolist():
        view.add_row(position, stats(position, pose=position / 100))
    wait_drawn(qtbot, view, 5000)
    x, y = drawn(view, "pose_error_deg")
    np.testing.assert_array_equal(x, np.arange(5000))
    np.testing.assert_allclose(y, np.arange(5000) / 100)
    assert len(view.points["pose_error_deg"].getData()[0]) == 5000
    assert view.pose_plot.isVisible() and view.summary.text().startswith("5000 pairs")
