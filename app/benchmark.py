"""`BenchmarkState`: the Benchmarks dock's model (no Qt).

It holds what the last benchmark was asked to do (:class:`BenchmarkOptions`), its plan (the
dataset's pairs and the header lines of settings), each pair's error per matcher as they are
scored, the final results (the JSON of ``matchscope bench pairs``), and whether it runs. As in
`AppState`, runs carry a request id and whatever arrives for an older one is dropped.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from psygnal import Signal

from core.bench.pairs import BenchPlan, BenchProgress
from core.errors import MatchscopeError
from core.text import plural


@dataclass(frozen=True)
class BenchmarkOptions:
    """A benchmark to run: the dataset path, ``{matcher: settings}``, only the first
    ``max_pairs`` pairs (None: all), RANSAC runs per pose pair (None: the protocol's)."""

    dataset: str
    matchers: dict[str, dict] = field(default_factory=dict)
    max_pairs: int | None = None
    ransac_runs: int | None = None

    def command(self) -> str:
        """The ``matchscope bench pairs`` command that runs the same benchmark."""
        words = ["matchscope", "bench", "pairs", "--dataset", self.dataset]
        for name in self.matchers:
            words += ["--matcher", name]
        for name, settings in self.matchers.items():
            for key, value in settings.items():
                words += ["--set", f"{name}.{key}={value}"]
        if self.max_pairs is not None:
            words += ["--max-pairs", str(self.max_pairs)]
        if self.ransac_runs is not None:
            words += ["--ransac-runs", str(self.ransac_runs)]
        return shlex.join(words)


class BenchmarkState:
    """Evented state of the Benchmarks dock.

    planned(): a new plan (pairs and header known; the pair errors are reset);
    pair_scored(matcher, index, error, failure): pair ``index`` scored (error ``inf`` and the
    one-line ``failure`` when the matcher failed on it, else "");
    progress_changed(text, fraction); running_changed(bool);
    finished(outcome, message): "ok", "failed" or "cancelled", with a one-line message.
    """

    planned = Signal()
    pair_scored = Signal(str, int, float, str)
    progress_changed = Signal(str, float)
    running_changed = Signal(bool)
    finished = Signal(str, str)

    def __init__(self):
        self.request_id = 0
        self.running = False
        self.options: BenchmarkOptions | None = None
        self.plan: BenchPlan | None = None
        self.errors: dict[str, list[float]] = {}  # per matcher, NaN until scored
        self.results: dict | None = None
        self.message = ""

    @property
    def matcher_names(self) -> list[str]:
        return [] if self.options is None else list(self.options.matchers)

    def begin(self, options: BenchmarkOptions) -> int:
        """A new request id for the benchmark about to start; older ones become stale."""
        if not options.matchers:
            raise MatchscopeError("choose at least one matcher")
        self.request_id += 1
        self.options, self.plan, self.results, self.errors = options, None, None, {}
        self._set_running(True)
        self.progress_changed.emit(f"opening {Path(options.dataset).name}", 0.0)
        return self.request_id

    def set_plan(self, request_id: int, plan: BenchPlan) -> None:
        if request_id != self.request_id or not self.running:
            return
        self.plan = plan
        self.errors = {name: [math.nan] * len(plan.pairs) for name in self.matcher_names}
        self.planned.emit()

    def set_progress(self, request_id: int, progress: BenchProgress) -> None:
        """Record a scored pair and report how far the whole benchmark is."""
        if request_id != self.request_id or not self.running or self.plan is None:
            return
        if progress.score is not None:
            index = progress.done - 1
            self.errors[progress.matcher][index] = progress.score.error
            score = progress.score
            self.pair_scored.emit(progress.matcher, index, score.error, score.failure)
        order = self.matcher_names.index(progress.matcher)
        fraction = (order + progress.done / max(progress.total, 1)) / len(self.matcher_names)
        text = f"{progress.matcher}: {progress.done}/{progress.total} pairs"
        self.progress_changed.emit(text, fraction)

    def set_results(self, request_id: int, results: dict) -> bool:
        if request_id != self.request_id or not self.running:
            return False
        self.results = results
        from core.bench import report

        lines = [f"{plural(len(self.plan.pairs), 'pair')} of {results['dataset']} done"]
        notes = report.failure_lines(results) + report.skipped_lines(results)
        self._finish("ok", "\n".join(lines + notes))
        return True

    def set_failed(self, request_id: int, message: str) -> bool:
        if request_id != self.request_id or not self.running:
            return False
        self._finish("failed", message)
        return True

    def set_cancelled(self, request_id: int) -> bool:
        if request_id != self.request_id or not self.running:
            return False
        self._finish("cancelled", "benchmark cancelled")
        return True

    def write_report(self, folder: str | Path) -> Path:
        """``report.md`` with the table and plots, and ``results.json``, in ``folder``; the
        report names the equivalent command line. Returns the report's path."""
        from core.bench import report

        if self.results is None:
            raise MatchscopeError("no finished benchmark to report")
        folder = Path(folder)
        try:
            report.write_report(self.results, folder, self.options.command(), self.plan.header)
            (folder / "results.json").write_text(json.dumps(self.results, indent=1) + "\n")
        except OSError as exc:
            raise MatchscopeError(f"{folder}: cannot write the report ({exc.strerror})") from None
        return folder / "report.md"

    def _finish(self, outcome: str, message: str) -> None:
        self.message = message
        self._set_running(False)
        self.finished.emit(outcome, message)

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.running_changed.emit(running)
