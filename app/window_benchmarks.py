"""`BenchmarkActions`: the main window's part that runs benchmarks from the Benchmarks dock,
shows their progress and tables, saves their report and opens a benchmark's pair with its
ground truth (mixed into `app.window.MainWindow`, which owns the views and states named here)."""

from __future__ import annotations

from app.benchmark import BenchmarkOptions
from app.worker import BenchOutcome
from core.bench.datasets import load_pair_images
from core.bench.truth import ground_truth
from core.errors import MatchscopeError


class BenchmarkActions:
    """Benchmark slots of `MainWindow` (``bench_state``, ``bench_runner``, ``benchmark_view``,
    ``state`` and ``error_dock`` are the window's)."""

    def _connect_benchmarks(self) -> None:
        bench, view = self.bench_state, self.benchmark_view
        view.run_requested.connect(self.run_benchmark)
        view.cancel_requested.connect(self.bench_runner.cancel)
        view.save_requested.connect(self.save_benchmark_report)
        view.pair_activated.connect(self.open_benchmark_pair)
        self.bench_runner.planned.connect(bench.set_plan)
        self.bench_runner.progress.connect(bench.set_progress)
        self.bench_runner.finished.connect(self._on_benchmark_finished)
        bench.planned.connect(self._on_benchmark_planned)
        bench.pair_scored.connect(view.set_pair_error)
        bench.progress_changed.connect(view.set_progress)
        bench.running_changed.connect(view.set_running)
        bench.finished.connect(self._on_benchmark_outcome)

    def run_benchmark(
        self, dataset: str, matchers: list[str], max_pairs: int | None, runs: int | None
    ) -> None:
        """Benchmark ``matchers`` (with the settings each has here) on the dataset folder in
        the worker; the Benchmarks dock shows its progress and tables."""
        if not dataset:
            self.benchmark_view.show_message("choose a dataset folder first", error=True)
            return
        settings = {name: self.state.settings_for(name) for name in matchers}
        options = BenchmarkOptions(dataset, settings, max_pairs, runs)
        try:
            request_id = self.bench_state.begin(options)
        except MatchscopeError as exc:
            self.benchmark_view.show_message(str(exc), error=True)
            return
        self.benchmark_view.show_message(f"Running: {options.command()}")
        self.bench_runner.start(request_id, options)

    def open_benchmark_pair(self, matcher: str, index: int) -> None:
        """Show pair ``index`` of the benchmark with its ground truth and match it with
        ``matcher`` as the benchmark did (lines coloured by true error)."""
        bench = self.bench_state
        if bench.plan is None or matcher not in bench.matcher_names:
            self.state.set_error("that benchmark is gone: run it again to open its pairs")
            return
        pair = bench.plan.pairs[index]
        try:
            truth = ground_truth(pair)
            image_a, image_b = load_pair_images(pair)
        except MatchscopeError as exc:
            self.state.set_error(str(exc))
            return
        if truth.flow is not None and truth.flow.shape[:2] != image_a.size_hw:
            self.state.set_error(f"{pair.flow_path}: flow size differs from {pair.name_a}")
            return
        self.state.set_matcher(matcher, bench.options.matchers[matcher])
        self.state.set_images(image_a, image_b, truth)
        self.error_dock.raise_()
        self.state.set_status(
            f"Pair {index + 1}: {pair.name_a} – {pair.name_b} with {matcher} "
            f"(lines: {truth.error_name} against the ground truth)"
        )

    def save_benchmark_report(self, folder: str) -> None:
        try:
            path = self.bench_state.write_report(folder)
        except MatchscopeError as exc:
            self.benchmark_view.show_message(str(exc), error=True)
            return
        self.benchmark_view.show_message(f"Wrote {path} and results.json")

    def _on_benchmark_finished(self, outcome: BenchOutcome) -> None:
        bench = self.bench_state
        if outcome.cancelled:
            bench.set_cancelled(outcome.request_id)
        elif outcome.error:
            bench.set_failed(outcome.request_id, outcome.error)
        else:
            bench.set_results(outcome.request_id, outcome.results)

    def _on_benchmark_planned(self) -> None:
        plan = self.bench_state.plan
        names = self.bench_state.matcher_names
        self.benchmark_view.show_plan(plan.header, plan.dataset.kind, plan.pairs, names)

    def _on_benchmark_outcome(self, outcome: str, message: str) -> None:
        if outcome == "ok":
            self.benchmark_view.show_results(self.bench_state.results)
        self.benchmark_view.show_message(message, error=outcome == "failed")
        self.state.set_status(f"Benchmark: {message}")
