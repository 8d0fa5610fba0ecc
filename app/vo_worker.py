"""`VoRunner`: visual odometry over a sequence in a background thread, for the window's Visual
odometry dock (the work is :mod:`core.vo`).

The thread opens its own reader of the sequence (a video's decoder is not shared with the
GUI), feeds the frames to `VisualOdometry` through `core.vo.run.track_frames` (the next frame
read and detected while one is tracked) and, every `SNAPSHOT_S` seconds, hands
the GUI a `VoScene` of the frames done so far (built in the thread: the tracker is never
touched from two threads), so the trajectory grows while it runs. Cancel sets a
``threading.Event`` checked between frames: the run stops there and keeps what it tracked.
Reports go through the one mailbox of :mod:`app.worker`, tagged with the request id; those of
an older run are dropped. The thread holds no Qt object.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from PySide6.QtCore import Signal

from app.worker import _failure, _Runner
from core.errors import MatchscopeError
from core.sequence.base import SequenceReader
from core.vo.run import VoRun, collect_run, track_frames
from core.vo.scene import VoScene, scene_from_odometry

SNAPSHOT_S = 0.5
"""Seconds between the scenes a running VO hands the window (at least 4 times what building
the last one took: a long run's scene costs more, and never more than a fifth of the time)."""


@dataclass(frozen=True)
class VoOutcome:
    """How VO run ``request_id`` ended: its ``run`` (every frame of the sequence; those not
    reached count as untracked) and ``scene`` (the frames done), the ``reader`` it read (closed;
    its frames and poses are what `core.vo.run.write_outputs` needs), ``cancelled`` (stopped
    early: what was tracked is kept) or an ``error`` message (nothing kept)."""

    request_id: int
    run: VoRun | None = None
    scene: VoScene | None = None
    reader: SequenceReader | None = None
    cancelled: bool = False
    abandoned: bool = False
    error: str = ""


class VoRunner(_Runner):
    """Starts and cancels VO runs; every signal arrives in the GUI thread, only for the latest.

    progress(request_id, done, total): frames done; snapshot(request_id, VoScene): the frames
    done so far; finished(VoOutcome).
    """

    progress = Signal(int, int, int)
    snapshot = Signal(int, object)
    outcome_type = VoOutcome

    def start(
        self,
        request_id: int,
        open_reader: Callable[[], SequenceReader],
        frontend: str,
        seed: int = 0,
        source: str = "",
        options: dict | None = None,
        stereo: bool = False,
    ) -> None:
        """Track the frames of ``open_reader()`` with ``frontend`` (made with ``options``) in a
        worker thread (a running run is cancelled first); ``source``: the scene's
        (`core.vo.scene.sequence_source`); ``stereo``: start from a stereo pair."""
        self._launch(request_id, _track, open_reader, frontend, seed, source, options, stereo)

    def cancel(self) -> None:
        """Stop the run after its current frame (returns at once); it ends cancelled with what
        it tracked (never abandoned: a frame takes a bounded time)."""
        if self._job is not None:
            self._job.cancel(abandon=False)

    def _report(self, kind: str, request_id: int, payload: object) -> None:
        if kind == "progress":
            self.progress.emit(request_id, *payload)
        else:
            self.snapshot.emit(request_id, payload)


def _track(
    request_id: int,
    open_reader: Callable[[], SequenceReader],
    frontend: str,
    seed: int,
    source: str,
    options: dict | None,
    stereo: bool,
    cancel: threading.Event,
    emit: Callable,
) -> VoOutcome:
    """Open, track frame after frame until the end or ``cancel`` (in the worker thread); never
    raises."""
    from core.vo.frontend import make_frontend
    from core.vo.stereo import stereo_partner
    from core.vo.tracker import VisualOdometry

    reader = None
    try:
        reader = open_reader()
        if reader.intrinsics is None:
            raise MatchscopeError(
                f"{reader.name}: visual odometry needs the camera's intrinsics (open the "
                "sequence with --intrinsics FILE, or a KITTI, TUM or EuRoC folder)"
            )
        partner = stereo_partner(reader) if stereo else None
        odometry = VisualOdometry(
            make_frontend(frontend, reader.intrinsics, options=options), seed, partner
        )
        skipped: dict[int, str] = {}
        done, total = 0, len(reader)
        start = time.perf_counter()
        next_snapshot = start + SNAPSHOT_S
        with closing(track_frames(reader, odometry)) as steps:  # its read-ahead ends with it
            for position, problem in steps:
                if problem is not None:
                    skipped[position] = problem
                done = position + 1
                emit("progress", request_id, (done, total))
                now = time.perf_counter()
                if now >= next_snapshot and done < total:
                    scene = scene_from_odometry(odometry, reader, done, odometry.image_size, source)
                    emit("snapshot", request_id, scene)
                    built = time.perf_counter()
                    next_snapshot = built + max(SNAPSHOT_S, 4 * (built - now))
                if cancel.is_set():
                    break
        seconds = time.perf_counter() - start
        run = collect_run(odometry, total, skipped, seconds, source)
        scene = scene_from_odometry(odometry, reader, done, odometry.image_size, source)
        return VoOutcome(request_id, run, scene, reader, cancelled=done < total)
    except BaseException as exc:  # a front-end's model may raise anything
        return VoOutcome(request_id, error=_failure(f"visual odometry ({frontend})", exc))
    finally:
        if reader is not None:
            reader.close()


@dataclass(frozen=True)
class OutputOutcome:
    """How writing ``request_id`` ended: its status line (``message``), or an ``error``."""

    request_id: int
    message: str = ""
    error: str = ""
    cancelled: bool = False
    abandoned: bool = False


class OutputRunner(_Runner):
    """Writes a run's files in a worker thread (a VO folder with Open3D's map.ply, a 3D figure
    rendered by Open3D in a child process: seconds); ``work()`` returns the status line, and
    must hold no Qt object. finished(OutputOutcome)."""

    outcome_type = OutputOutcome

    def __init__(self, parent=None):
        super().__init__(parent, abandon_after=float("inf"))  # the work has its own timeouts

    def start(self, request_id: int, what: str, work: Callable[[], str]) -> None:
        """Run ``work`` (``what`` names it in an error) in a worker thread."""
        self._launch(request_id, _write, what, work)


def _write(request_id, what, work, cancel, emit) -> OutputOutcome:
    """``work()`` in the worker thread; never raises."""
    try:
        return OutputOutcome(request_id, message=work())
    except BaseException as exc:  # Open3D may fail in any way
        return OutputOutcome(request_id, error=_failure(what, exc))
