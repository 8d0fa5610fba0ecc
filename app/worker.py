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
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from superqt.utils import create_worker

from app.benchmark import BenchmarkOptions
from core.bench.pairs import BenchProgress, benchmark, plan_benchmark
from core.bench.truth import GroundTruth, ResultErrors
from core.errors import Cancelled, MatchscopeError
from core.figures import WarpPictures, warp_pictures
from core.imageio import LoadedImage
from core.matchers import create_matcher
from core.result import MatchResult
from core.run import RunControl, run_match
from core.weights import WeightsNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How run ``request_id`` ended: a result, an error message, or cancelled."""

    request_id: int
    result: MatchResult | None = None
    error: str = ""
    cancelled: bool = False
    truth_errors: ResultErrors | None = None  # the result against the pair's ground truth
    warp_pictures: WarpPictures | None = None  # what the Warp view shows of the result


@dataclass(frozen=True)
class BenchOutcome:
    """How benchmark ``request_id`` ended: its results, an error message, or cancelled."""

    request_id: int
    results: dict | None = None
    error: str = ""
    cancelled: bool = False


class _Runner(QObject):
    """One run at a time in a superqt worker: the latest request id and its cancel event.

    ``finished(outcome)`` is emitted in the GUI thread, only for the latest run; what the
    worker reports on the way goes through ``_from_worker(kind, request_id, payload)`` to
    :meth:`_report`, also only for the latest run.
    """

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

    def _launch(self, request_id: int, function: Callable, *args) -> None:
        """Run ``function(request_id, *args, cancel_event, report)`` in a worker; it returns
        the outcome. A running run is cancelled first."""
        self.cancel()
        self._request_id = request_id
        self._cancel = threading.Event()
        worker = create_worker(
            function,
            request_id,
            *args,
            self._cancel,
            self._from_worker.emit,
            _start_thread=False,
            _ignore_errors=True,
        )
        worker.returned.connect(self._on_returned)
        worker.start()

    def cancel(self) -> None:
        """Ask the running run to stop at its next stage boundary (returns at once)."""
        self._cancel.set()

    def _report(self, kind: str, request_id: int, payload: object) -> None:
        """A report of the latest run, in the GUI thread."""

    @Slot(str, int, object)
    def _forward(self, kind: str, request_id: int, payload: object) -> None:
        if request_id == self._request_id:
            self._report(kind, request_id, payload)

    @Slot(object)
    def _on_returned(self, outcome) -> None:
        if outcome.request_id == self._request_id:
            self._request_id = None
            self.finished.emit(outcome)


class MatchRunner(_Runner):
    """Starts, cancels and tracks matcher runs.

    progress(request_id, stage, fraction); finished(Outcome), only for the latest run.
    """

    progress = Signal(int, str, float)

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
        self._launch(request_id, _run, matcher, settings, image_a, image_b, ground_truth)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for worker threads to end; False if they are still busy."""
        self.cancel()
        self._request_id = None
        return QThreadPool.globalInstance().waitForDone(timeout_ms)

    def _report(self, kind: str, request_id: int, payload: object) -> None:
        stage, fraction = payload
        self.progress.emit(request_id, stage, fraction)


class BenchmarkRunner(_Runner):
    """Runs a benchmark (`core.bench.pairs`) in a worker thread, for the Benchmarks dock.

    planned(request_id, BenchPlan) once the dataset is open and the matchers are built;
    progress(request_id, BenchProgress) at each matcher's start and after every pair;
    finished(BenchOutcome). All are emitted in the GUI thread, only for the latest run.
    """

    planned = Signal(int, object)
    progress = Signal(int, object)

    def start(self, request_id: int, options: BenchmarkOptions) -> None:
        """Benchmark in a worker thread; a running benchmark is cancelled first."""
        self._launch(request_id, _run_benchmark, options)

    def _report(self, kind: str, request_id: int, payload: object) -> None:
        (self.planned if kind == "planned" else self.progress).emit(request_id, payload)


def _failure(what: str, exc: BaseException) -> str:
    """The one-line message of a run that raised ``exc`` (``what`` names the run)."""
    if isinstance(exc, WeightsNotFound):  # the window cannot --download: offer its folder
        return f"{exc.message(download=False)}, or pick its folder with Weights folder… (toolbar)"
    if isinstance(exc, MatchscopeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{what}: out of memory"
    log.exception("%s failed", what, exc_info=exc)
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{what} failed: {type(exc).__name__}: {first_line}"


def _run(
    request_id: int,
    matcher: str,
    settings: dict,
    image_a: LoadedImage,
    image_b: LoadedImage,
    ground_truth: GroundTruth | None,
    cancel: threading.Event,
    emit: Callable,
) -> Outcome:
    """Build the matcher and run it (in the worker thread); never raises."""

    def report(stage: str, fraction: float) -> None:
        emit("progress", request_id, (stage, fraction))

    try:
        instance = create_matcher(matcher, settings)
        control = RunControl(progress=report, cancel=cancel)
        result = run_match(instance, image_a, image_b, control, matcher_name=matcher)
        truth_errors = None if ground_truth is None else ground_truth.errors_of(result)
        pictures = None if result.is_sparse else warp_pictures(image_b.rgb, result.warp_ab)
        return Outcome(request_id, result, truth_errors=truth_errors, warp_pictures=pictures)
    except Cancelled:
        return Outcome(request_id, cancelled=True)
    except BaseException as exc:  # a user's plugin may raise anything, even SystemExit
        return Outcome(request_id, error=_failure(matcher, exc))


def _run_benchmark(
    request_id: int, options: BenchmarkOptions, cancel: threading.Event, emit: Callable
) -> BenchOutcome:
    """Open the dataset, build the matchers and run them (in the worker thread); never raises.
    ``emit(kind, request_id, payload)`` reports the plan and the progress."""

    def report(progress: BenchProgress) -> None:
        emit("progress", request_id, progress)

    try:
        plan = plan_benchmark(
            options.dataset, options.matchers, options.max_pairs, options.ransac_runs
        )
        emit("planned", request_id, plan)
        results = benchmark(plan.dataset, plan.pairs, plan.matchers, plan.protocol, report, cancel)
        return BenchOutcome(request_id, results=results)
    except Cancelled:
        return BenchOutcome(request_id, cancelled=True)
    except BaseException as exc:  # a user's plugin may raise anything
        return BenchOutcome(request_id, error=_failure("benchmark", exc))
