"""Running a matcher: progress, cooperative cancellation, stage timings and provenance, and
`Job`: one run in its own thread, abandoned when it does not stop on cancel."""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from core.errors import Cancelled, MatchscopeError
from core.imageio import LoadedImage
from core.result import ARRAY_FIELDS, MatchResult

ProgressCallback = Callable[[str, float], None]
"""Called with (stage name, fraction of the whole run done in [0, 1])."""

ABANDON_AFTER_S = 2.0
"""Seconds a cancelled `Job` gets to stop before it is abandoned."""


class RunControl:
    """Progress reporting, cancellation and timing for one matcher run.

    A matcher wraps each stage in ``with control.stage(name, fraction):``. Entering a stage
    raises :class:`Cancelled` if ``cancel`` was set (from any thread), reports progress, and
    records the stage's wall-clock seconds in ``timings``. Long work inside a stage (a model's
    forward pass) calls a :meth:`checkpoint` between its steps.
    """

    def __init__(
        self, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ):
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.timings: dict[str, float] = {}

    def check(self, stage: str = "") -> None:
        if self.cancel.is_set():
            raise Cancelled(stage)

    def report(self, stage: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(stage, min(max(fraction, 0.0), 1.0))

    def checkpoint(self, start: float, end: float) -> Callable[[str, float], None]:
        """``checkpoint(step, done)`` for work that spans ``start`` to ``end`` of the run (with
        ``done`` in [0, 1] of that work): raises :class:`Cancelled` if cancel was set, else
        reports ``step`` at ``start + done * (end - start)``."""

        def checkpoint(step: str, done: float) -> None:
            self.check(step)
            self.report(step, start + done * (end - start))

        return checkpoint

    @contextmanager
    def stage(self, name: str, fraction: float) -> Iterator[None]:
        self.check(name)
        self.report(name, fraction)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def _accepts_control(method: Callable) -> bool:
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "control" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _to_array(value):
    if value is None or isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu()
    return np.asarray(value)


def _as_numpy(result: MatchResult) -> MatchResult:
    """The result with every array as numpy (a user's matcher may hand back torch tensors)."""
    arrays = {name: _to_array(getattr(result, name)) for name in ARRAY_FIELDS}
    intermediates = {name: _to_array(value) for name, value in result.intermediates.items()}
    return dataclasses.replace(result, **arrays, intermediates=intermediates)


def _without_empty_warps(result: MatchResult) -> MatchResult:
    """A result whose warps hold no finite position (a plugin's all-NaN "dense" arrays, as a
    sparse matcher had to return before results could be sparse) as the sparse result it is:
    the same matches, no warp or certainty map, a fraction of the file size."""
    empty = result.warp_ab is not None and not np.isfinite(result.warp_ab).any()
    if empty and (result.warp_ba is None or not np.isfinite(result.warp_ba).any()):
        return dataclasses.replace(
            result,
            warp_ab=None,
            certainty_ab=None,
            warp_ba=None,
            certainty_ba=None,
            covariance_ab=None,
            covariance_ba=None,
        )
    return result


def run_match(
    matcher,
    image_a: LoadedImage,
    image_b: LoadedImage,
    control: RunControl | None = None,
    matcher_name: str = "",
) -> MatchResult:
    """Match two loaded images, check the result's contract and fill in its provenance
    (with both images' sizes, which a sparse result has nowhere else).

    A result whose warps are NaN everywhere is returned sparse (see ``_without_empty_warps``).
    ``matcher`` is any object with ``match(rgb_a, rgb_b[, control=...]) -> MatchResult`` where
    the images are (H, W, 3) uint8 RGB arrays.
    """
    control = control or RunControl()
    control.check("start")
    start = time.perf_counter()
    if _accepts_control(matcher.match):
        result = matcher.match(image_a.rgb, image_b.rgb, control=control)
    else:
        result = matcher.match(image_a.rgb, image_b.rgb)
    control.check("finish")
    if not isinstance(result, MatchResult):
        raise MatchscopeError(
            f"matcher {matcher_name or type(matcher).__name__} returned "
            f"{type(result).__name__}, not a MatchResult"
        )
    result = _as_numpy(result)
    try:
        result.validate(size_a=image_a.size_hw)
    except ValueError as exc:
        raise MatchscopeError(
            f"matcher {matcher_name} broke the MatchResult contract: {exc}"
        ) from None
    result = _without_empty_warps(result)
    for stage, seconds in control.timings.items():
        result.timings.setdefault(stage, seconds)
    result.timings["total"] = time.perf_counter() - start
    prov = result.provenance
    prov.matcher = prov.matcher or matcher_name
    prov.settings = prov.settings or dict(getattr(matcher, "conf", {}) or {})
    prov.image_a, prov.image_b = image_a.path, image_b.path
    prov.size_a, prov.size_b = image_a.size_hw, image_b.size_hw
    prov.pixel_mapping = {"a": image_a.mapping, "b": image_b.mapping}
    control.report("done", 1.0)
    return result


class Job:
    """``work(cancel)`` in a daemon thread of its own; ``on_end`` hears how it ended, once.

    ``work`` gets a :class:`threading.Event` that :meth:`cancel` sets, returns an outcome and
    never raises. ``on_end(outcome)`` is called from the job's thread with what ``work``
    returned, or, if ``work`` has not returned ``abandon_after`` seconds after :meth:`cancel`,
    from a timer thread with None: the job is abandoned, its thread runs on in the background
    and what it returns later is dropped. Being a daemon, a thread that never returns does not
    hold up the process's exit.
    """

    def __init__(
        self,
        work: Callable[[threading.Event], object],
        on_end: Callable[[object], None],
        abandon_after: float = ABANDON_AFTER_S,
    ):
        self.cancel_event = threading.Event()
        self.abandon_after = abandon_after
        self._on_end = on_end
        self._ended = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._thread = threading.Thread(
            target=lambda: self._end(work(self.cancel_event)), name="matchscope-job", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the job's thread is still working (also after it was abandoned)."""
        return self._thread.is_alive()

    def cancel(self, abandon: bool = True) -> None:
        """Ask ``work`` to stop; with ``abandon``, give up on it after ``abandon_after`` s."""
        self.cancel_event.set()
        with self._lock:
            if not abandon or self._ended or self._timer is not None:
                return
            self._timer = threading.Timer(self.abandon_after, self._end, (None,))
            self._timer.daemon = True
            self._timer.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _end(self, outcome: object) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self._timer is not None:
                self._timer.cancel()
        self._on_end(outcome)
