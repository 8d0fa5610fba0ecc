"""`CompareDock`: the Compare dock's wiring between the `AppState` and the `CompareView`.

The view lists this session's runs on the current pair (the state's run store, matched by the
images' content); a new run becomes run 2 and the run 2 before it run 1. The comparison
(`core.compare.compare_runs`) is made only while the dock is shown: a change while it is tabbed
away is drawn when its tab is raised (until then the view lets go of the runs it showed, so that
a run dropped from the store is freed). Reading a run for the view makes it the most recently used
in the store, so the runs compared are the last to be dropped.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget

from app.state import AppState
from core.compare import compare_probe, compare_runs
from core.run_store import Run
from widgets.compare_view import CompareView


class CompareDock:
    """Keeps ``view`` (the widget of ``dock``) showing two runs of ``state`` on its pair."""

    def __init__(self, state: AppState, dock: QDockWidget, view: CompareView):
        self.state, self.dock, self.view = state, dock, view
        self.chosen: tuple[int, int] = (0, 0)
        self._listed: list[int] = []  # ids of the runs listed, oldest first
        self._runs: tuple[Run, Run] | None = None
        self._stale = True  # the view has not drawn the latest choice
        self._probe_stale = True  # nor the latest probe
        # whether the dock's tab is shown (a tabbed-away dock stays `isVisible`; Qt says when
        # its tab is raised or left with `visibilityChanged`)
        self.shown = False
        state.runs_changed.connect(self.refresh)
        state.images_changed.connect(self.refresh)
        state.probe_changed.connect(self._on_probe)
        view.runs_chosen.connect(self.choose)
        view.clicked_a.connect(state.click_a)
        dock.visibilityChanged.connect(self._on_visibility)

    def refresh(self) -> None:
        """List the runs on the current pair again and keep (or move on) the choice."""
        state = self.state
        # no run, no hashing of the images (a sequence's scrub shows a new pair every frame)
        runs = state.runs.runs_on(state.pair_key) if state.has_pair and len(state.runs) else []
        ids = [run.run_id for run in runs]
        first, second = self.chosen
        new = [run_id for run_id in ids if run_id not in self._listed]
        if new:  # the newest run is run 2, the run 2 before it run 1
            first, second = (second if second in ids else 0), new[-1]
        if second not in ids:
            second = ids[-1] if ids else 0
        if first not in ids or first == second:
            older = [run_id for run_id in ids if run_id != second]
            first = older[-1] if older else second
        self._listed = ids
        self.view.set_runs(runs, first, second)
        self._set_chosen((first, second))

    def choose(self, first: int, second: int) -> None:
        """The user chose runs ``first`` and ``second`` (ids)."""
        self._set_chosen((first, second))

    def _set_chosen(self, chosen: tuple[int, int]) -> None:
        self.chosen = chosen
        self._stale = True
        self._update()

    def _on_visibility(self, visible: bool) -> None:
        self.shown = visible
        self._update()

    def _update(self) -> None:
        """Draw the chosen runs and the probe, unless the dock is hidden (then when it is
        shown)."""
        if not self.shown:
            if self._stale and self._runs is not None:  # let go of runs the store may drop
                self._runs = None
                self.view.set_data(None, None, None, None)
            return
        if self._stale:
            self._stale = False
            self._draw_runs()
        if self._probe_stale:
            self._on_probe(self.state.probe)

    def _draw_runs(self) -> None:
        state = self.state
        runs = tuple(state.runs.get(run_id) for run_id in self.chosen)
        if any(run is None for run in runs) or runs[0] is runs[1]:
            self._runs = None
            self.view.set_data(None, None, None, None)
            return
        self._runs = runs
        self.view.set_data(state.image_a.rgb, state.image_b.rgb, runs, compare_runs(*runs))
        self._probe_stale = True

    def _on_probe(self, probe) -> None:
        if not self.shown:
            self._probe_stale = True
            return
        self._probe_stale = False
        if probe is None or self._runs is None:
            self.view.set_probe(None)
            return
        state = self.state
        first, second = (run.result for run in self._runs)
        reading = compare_probe(
            first, second, probe.xa, probe.ya, state.snap_radius, state.ground_truth
        )
        self.view.set_probe(reading)
