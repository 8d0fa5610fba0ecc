"""Matching and benchmarks off the GUI thread: one `MatchRunner` and one `BenchmarkRunner` per
window, one thread per run (a :class:`core.run.Job`).

Every run carries the request id the app state gave it. Progress is reported from the worker
thread through a Qt signal (so it reaches the GUI thread queued); cancellation is a
``threading.Event`` that the matcher checks between stages (RoMa also inside its model). A run
that has not stopped ``abandon_after`` seconds (2) after Cancel is abandoned: it ends as
cancelled at once, its thread finishes in the background and its late outcome is dropped.
Outcomes of runs other than the latest are dropped. Every failure, including any exception
from a user's plugin, becomes a message.

Each run has its own daemon thread rather than a thread of Qt's pool: the pool would keep an
abandoned run's thread (and, having as many threads as cores, soon every thread), and Qt waits
for its threads when the application exits. Reports travel through one `_Mailbox` that is never
deleted, so a thread that ends after its window is gone has a live object to emit from.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from app.benchmark import BenchmarkOptions
from core.bench.pairs import BenchProgress, benchmark, plan_benchmark
from core.bench.truth import GroundTruth, ResultErrors
from core.errors import Cancelled, MatchscopeError, failure_message
from core.figures import WarpPictures, warp_pictures
from core.imageio import LoadedImage
from core.matchers import create_matcher
from core.result import MatchResult
from core.run import ABANDON_AFTER_S, Job, RunControl, run_match
from core.weights import WeightsNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How run ``request_id`` ended: a result, an error message, or cancelled."""

    request_id: int
    result: MatchResult | None = None
    error: str = ""
    cancelled: bool = False
    abandoned: bool = False  # cancelled, but the matcher did not stop: left to finish unseen
    truth_errors: ResultErrors | None = None  # the result against the pair's ground truth
    warp_pictures: WarpPictures | None = None  # what the Warp view shows of the result


@dataclass(frozen=True)
class BenchOutcome:
    """How benchmark ``request_id`` ended: its results, an error message, or cancelled."""

    request_id: int
    results: dict | None = None
    error: str = ""
    cancelled: bool = False
    abandoned: bool = False


class _Mailbox(QObject):
    """Carries ``(runner token, kind, request id, payload)`` from worker threads to the GUI."""

    posted = Signal(object, str, int, object)


_MAILBOX: _Mailbox | None = None


def mailbox() -> _Mailbox:
    """The one mailbox, made in the GUI thread by the first runner and never deleted."""
    global _MAILBOX
    if _MAILBOX is None:
        _MAILBOX = _Mailbox()
    return _MAILBOX


class _Runner(QObject):
    """One run at a time, each in its own `Job`: the latest request id and its job.

    ``finished(outcome)`` is emitted in the GUI thread, only for the latest run; what the
    worker reports on the way goes to :meth:`_report`, also only for the latest run.
    ``outcome_type`` makes the outcome of an abandoned run.
    """

    finished = Signal(object)
    outcome_type: type = Outcome

    def __init__(self, parent: QObject | None = None, abandon_after: float = ABANDON_AFTER_S):
        super().__init__(parent)
        self.abandon_after = abandon_after
        self._request_id: int | None = None
        self._job: Job | None = None
        self._jobs: list[Job] = []  # every job whose thread may still run
        self._token = object()  # names this runner's reports in the mailbox
        self._mailbox = mailbox()
        self._mailbox.posted.connect(self._on_posted)

    @property
    def is_running(self) -> bool:
        return self._request_id is not None

    def _launch(self, request_id: int, function: Callable, *args) -> None:
        """Run ``function(request_id, *args, cancel_event, report)`` in a new job; it returns
        the outcome. A running run is cancelled first (its outcome is then stale)."""
        if self._job is not None:
            self._job.cancel(abandon=False)
        self._request_id = request_id
        token, mailbox = self._token, self._mailbox

        def post(kind: str, request_id: int, payload: object) -> None:
            mailbox.posted.emit(token, kind, request_id, payload)

        self._jobs = [job for job in self._jobs if job.running]
        self._job = Job(
            lambda cancel: function(request_id, *args, cancel, post),
            lambda outcome: post("end", request_id, outcome),
            self.abandon_after,
        )
        self._jobs.append(self._job)

    def cancel(self) -> None:
        """Ask the running run to stop at its next check (returns at once); one that has not
        stopped after ``abandon_after`` seconds is abandoned (finished: cancelled)."""
        if self._job is not None:
            self._job.cancel()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in all for every run's thread; whether all ended."""
        deadline = time.monotonic() + timeout
        for job in self._jobs:
            job.join(max(deadline - time.monotonic(), 0.0))
        self._jobs = [job for job in self._jobs if job.running]
        return not self._jobs

    def shutdown(self, timeout: float | None = None) -> bool:
        """Cancel, forget the run and wait up to ``timeout`` s (default ``abandon_after``) for
        the threads; False if some are still busy (daemons: they do not keep the app from
        exiting)."""
        if self._job is not None:
            self._job.cancel(abandon=False)
        self._request_id = self._job = None
        return self.wait(self.abandon_after if timeout is None else timeout)

    def _report(self, kind: str, request_id: int, payload: object) -> None:
        """A report of the latest run, in the GUI thread."""

    @Slot(object, str, int, object)
    def _on_posted(self, token: object, kind: str, request_id: int, payload: object) -> None:
        if token is not self._token or request_id != self._request_id:
            return
        if kind != "end":
            self._report(kind, request_id, payload)
            return
        self._request_id = self._job = None
        if payload is None:  # abandoned
            payload = self.outcome_type(request_id, cancelled=True, abandoned=True)
        self.finished.emit(payload)


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
    outcome_type = BenchOutcome

    def start(self, request_id: int, options: BenchmarkOptions) -> None:
        """Benchmark in a worker thread; a running benchmark is cancelled first."""
        self._launch(request_id, _run_benchmark, options)

    def _report(self, kind: str, request_id: int, payload: object) -> None:
        (self.planned if kind == "planned" else self.progress).emit(request_id, payload)


def _failure(what: str, exc: BaseException) -> str:
    """The one-line message of a run that raised ``exc`` (``what`` names the run); unexpected
    exceptions are logged with their traceback."""
    if isinstance(exc, WeightsNotFound):  # the window cannot --download: offer its folder
        return f"{exc.message(download=False)}, or pick its folder with Weights folder… (toolbar)"
    if not isinstance(exc, MatchscopeError | MemoryError):
        log.exception("%s failed", what, exc_info=exc)
    return failure_message(what, exc)


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
        control.check("finish")
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
