"""Matching off the GUI thread: one `MatchRunner` per window, one superqt worker per run.

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
    ) -> None:
        """Run ``matcher`` on the pair in a worker thread; a running run is cancelled first."""
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
) -> Outcome:
    """Build the matcher and run it (in the worker thread); never raises."""
    try:
        instance = create_matcher(matcher, settings)
        result = run_match(instance, image_a, image_b, control, matcher_name=matcher)
        return Outcome(request_id, result=result)
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
