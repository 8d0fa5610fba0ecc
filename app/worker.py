"""Matching and benchmarks off the GUI thread: one `MatchRunner` and one `BenchmarkRunner` per
window, one superqt worker per run.

Every run carries the request id the app state gave it. Progress is reported from the worker
thread through a Qt signal (so it reaches the GUI thread queued); cancellation is a
``threading.Event`` that the matcher checks between stages. Outcomes of runs other than the latest
are dropped. Every failure, including any exception from a user's plugin, becomes a message.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from superqt.utils import create_worker

from app.benchmark import BenchmarkOptions
from core.bench.pairs import BenchProgress, benchmark, plan_benchmark
from core.bench.truth import GroundTruth, ResultErrors
from core.errors import Cancelled, MatchscopeError
from core.imageio import LoadedImage
from core.matchers import create_matcher
from core.result import MatchResult
from core.run import RunControl, run_match

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How run ``request_id`` ended: a result, an error message, or cancelled."""

    request_id: int
    result: MatchResult | None = None
    error: str = ""
    cancelled: bool = False
    truth_errors: ResultErrors | None = None  # the result against the pair's ground truth


class MatchRunner(QObject):
    """Starts, cancels and tracks matcher runs; emits `progress` and `finished` in the GUI thread.

    progress(request_id, stage, fraction); finished(Outcome), only for the latest run.
    """

    progress = Signal(int, str, float)
    finished = Signal(object)
    _progress_from_worker = Signal(int, str, float)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._request_id: int | None = None
        self._cancel = threading.Event()
        self._progress_from_worker.connect(self._forward_progress)

    @property
    def is_running(self) -> bool:
        return self._request_id is not None

    def start(
        self,
        request_id: int,
        matcher: str,
        settings: dict,
        image_a: LoadedImage,
        image_b: LoadedImage,
        ground_truth: GroundTruth | None = None,
    ) -> None:
        """Run ``matcher`` on the pair in a worker thread; a running run is cancelled first.
        With ``ground_truth``, the result's errors against it are computed there too."""
        self.cancel()
        self._request_id = request_id
        self._cancel = threading.Event()

        def report(stage: str, fraction: float) -> None:  # called in the worker thread
            self._progress_from_worker.emit(request_id, stage, fraction)

        control = RunControl(progress=report, cancel=self._cancel)
        worker = create_worker(
            _run,
            request_id,
            matcher,
            settings,
            image_a,
            image_b,
            control,
            ground_truth,
            _start_thread=False,
            _ignore_errors=True,
        )
        worker.returned.connect(self._on_returned)
        worker.start()

    def cancel(self) -> None:
        """Ask the running run to stop at its next stage boundary (returns at once)."""
        self._cancel.set()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for worker threads to end; False if they are still busy."""
        self.cancel()
        self._request_id = None
        return QThreadPool.globalInstance().waitForDone(timeout_ms)

    @Slot(int, str, float)
    def _forward_progress(self, request_id: int, stage: str, fraction: float) -> None:
        if request_id == self._request_id:
            self.progress.emit(request_id, stage, fraction)

    @Slot(object)
    def _on_returned(self, outcome: Outcome) -> None:
        if outcome.request_id == self._request_id:
            self._request_id = None
            self.finished.emit(outcome)


def _run(
    request_id: int,
    matcher: str,
    settings: dict,
    image_a: LoadedImage,
    image_b: LoadedImage,
    control: RunControl,
    ground_truth: GroundTruth | None,
) -> Outcome:
    """Build the matcher and run it (in the worker thread); never raises."""
    try:
        instance = create_matcher(matcher, settings)
        result = run_match(instance, image_a, image_b, control, matcher_name=matcher)
        truth_errors = None if ground_truth is None else ground_truth.errors_of(result)
        return Outcome(request_id, result=result, truth_errors=truth_errors)
    except Cancelled:
        return Outcome(request_id, cancelled=True)
    except MatchscopeError as exc:
        return Outcome(request_id, error=str(exc))
    except MemoryError:
        return Outcome(request_id, error=f"{matcher}: out of memory")
    except BaseException as exc:  # a user's plugin may raise anything, even SystemExit
        log.exception("matcher %s failed", matcher)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return Outcome(request_id, error=f"{matcher} failed: {type(exc).__name__}: {first_line}")


@dataclass(frozen=True)
class BenchOutcome:
    """How benchmark ``request_id`` ended: its results, an error message, or cancelled."""

    request_id: int
    results: dict | None = None
    error: str = ""
    cancelled: bool = False


class BenchmarkRunner(QObject):
    """Runs a benchmark (`core.bench.pairs`) in a worker thread, for the Benchmarks dock.

    planned(request_id, BenchPlan) once the dataset is open and the matchers are built;
    progress(request_id, BenchProgress) at each matcher's start and after every pair;
    finished(BenchOutcome). All are emitted in the GUI thread, only for the latest run.
    """

    planned = Signal(int, object)
    progress = Signal(int, object)
    finished = Signal(object)
    _from_worker = Signal(str, int, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._request_id: int | None = None
        self._cancel = threading.Event()
        self._from_worker.connect(self._forward)

    @property
    def is_running(self) -> bool:
        return self._request_id is not None

    def start(self, request_id: int, options: BenchmarkOptions) -> None:
        """Benchmark in a worker thread; a running benchmark is cancelled first."""
        self.cancel()
        self._request_id = request_id
        self._cancel = threading.Event()
        worker = create_worker(
            _run_benchmark,
            request_id,
            options,
            self._cancel,
            self._from_worker.emit,
            _start_thread=False,
            _ignore_errors=True,
        )
        worker.returned.connect(self._on_returned)
        worker.start()

    def cancel(self) -> None:
        """Stop the running benchmark at the next stage of its current match."""
        self._cancel.set()

    @Slot(str, int, object)
    def _forward(self, kind: str, request_id: int, payload: object) -> None:
        if request_id == self._request_id:
            (self.planned if kind == "planned" else self.progress).emit(request_id, payload)

    @Slot(object)
    def _on_returned(self, outcome: BenchOutcome) -> None:
        if outcome.request_id == self._request_id:
            self._request_id = None
            self.finished.emit(outcome)


def _run_benchmark(
    request_id: int, options: BenchmarkOptions, cancel: threading.Event, emit
) -> BenchOutcome:
    """Open the dataset, build the matchers and run them (in the worker thread); never raises.
    ``emit(kind, request_id, payload)`` reports the plan and the progress."""
    try:
        plan = plan_benchmark(
            options.dataset, options.matchers, options.max_pairs, options.ransac_runs
        )
        emit("planned", request_id, plan)

        def report(progress: BenchProgress) -> None:
            emit("progress", request_id, progress)

        results = benchmark(plan.dataset, plan.pairs, plan.matchers, plan.protocol, report, cancel)
        return BenchOutcome(request_id, results=results)
    except Cancelled:
        return BenchOutcome(request_id, cancelled=True)
    except MatchscopeError as exc:
        return BenchOutcome(request_id, error=str(exc))
    except MemoryError:
        return BenchOutcome(request_id, error="benchmark: out of memory")
    except BaseException as exc:  # a user's plugin may raise anything
        log.exception("benchmark of %s failed", options.dataset)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        message = f"benchmark failed: {type(exc).__name__}: {first_line}"
        return BenchOutcome(request_id, error=message)
