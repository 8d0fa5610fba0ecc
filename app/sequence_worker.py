"""`SequenceMatcher`: the pairs of a sequence matched in one background thread, the pairs around
the cursor first, then the rest.

The thread opens its own reader (a video's decoder is not shared with the GUI), builds the
matcher once and matches pair after pair: before each pair it asks the shared `MatchPlan` which
pair is next, so a scrub re-orders the work at once (`set_cursor`), and a pair the window needs
now (one whose result the cache dropped) goes first (`request`). Every report reaches the GUI
thread through the one mailbox of :mod:`app.worker`; reports of an older generation (a
matcher changed, a sequence closed) are dropped. The GUI never waits on the thread: `stop`
only sets its cancel event (RoMa checks it inside its model), and a stopped thread that is
still busy finishes unseen.

The thread holds no Qt object (see `tests/app/test_window_lifetime.py` for why): only the plan,
the reader it opened and the mailbox's ``emit``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from app.worker import mailbox
from core.bench.truth import ResultErrors
from core.errors import Cancelled, InputError, failure_message
from core.figures import WarpPictures, warp_pictures
from core.imageio import LoadedImage, from_array
from core.matchers import create_matcher
from core.result import MatchResult
from core.run import Job, RunControl, run_match
from core.sequence.base import SequenceReader
from core.sequence.cache import FrameCache
from core.sequence.matching import PairStats, pair_stats
from core.sequence.schedule import pair_order
from core.sequence.truth import pair_ground_truth

WORKER_FRAME_BYTES = 256 * 2**20
"""Decoded frames the matching thread keeps (each frame serves the two pairs it is in)."""

Pair = tuple[int, int]


@dataclass(frozen=True)
class PairOutcome:
    """A matched pair: its positions, result and statistics, its errors against the sequence's
    ground truth (None without) and the Warp view's pictures of a dense result."""

    position_a: int
    position_b: int
    result: MatchResult
    stats: PairStats
    truth_errors: ResultErrors | None
    warp_pictures: WarpPictures | None


class MatchPlan:
    """What the GUI and the matching thread share, under one lock: the pairs to match, those
    done (matched, failed or with an undecodable frame), the cursor and the urgent pairs."""

    def __init__(self, pairs: list[Pair], done: set[Pair], cursor: int = 0):
        self._lock = threading.Lock()
        self._pairs = list(pairs)
        self._done = set(done)
        self._urgent: list[Pair] = []
        self._bad: set[int] = set()
        self.cursor = cursor

    def next_pair(self) -> Pair | None:
        """The pair to match next (urgent ones, then the nearest to the cursor); None when
        every pair is done. The pair counts as done from here on."""
        with self._lock:
            while self._urgent:
                pair = self._urgent.pop()
                if pair not in self._done:
                    self._done.add(pair)
                    return pair
            order = pair_order(self.cursor, self._pairs, self._done)
            if not order:
                return None
            self._done.add(order[0])
            return order[0]

    def request(self, pair: Pair) -> None:
        """Match ``pair`` next (again, when it was done and its result is gone)."""
        with self._lock:
            if pair[0] in self._bad or pair[1] in self._bad:
                return
            self._done.discard(pair)
            self._urgent.append(pair)

    def mark_bad(self, position: int) -> None:
        """Frame ``position`` cannot be decoded: every pair with it is done."""
        with self._lock:
            self._bad.add(position)
            self._done.update(pair for pair in self._pairs if position in pair)

    @property
    def remaining(self) -> int:
        with self._lock:
            return sum(pair not in self._done for pair in self._pairs)


class SequenceMatcher(QObject):
    """Matches a sequence's pairs in the background; all signals arrive in the GUI thread.

    pair_done(PairOutcome); frame_bad(position, reason); pair_failed(position_a, position_b,
    message): that pair only; failed(message): the matcher could not be made or the sequence
    not opened (nothing more is matched); idle(): every pair is done.
    """

    pair_done = Signal(object)
    frame_bad = Signal(int, str)
    pair_failed = Signal(int, int, str)
    failed = Signal(str)
    idle = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.plan: MatchPlan | None = None
        self._generation = 0
        self._job: Job | None = None
        self._start: Callable[[], Job] | None = None
        self._token = object()
        self._mailbox = mailbox()
        self._mailbox.posted.connect(self._on_posted)

    @property
    def is_running(self) -> bool:
        return self._job is not None and self._job.running

    def start(
        self,
        open_reader: Callable[[], SequenceReader],
        matcher: str,
        settings: dict,
        pairs: list[Pair],
        done: set[Pair],
        cursor: int,
    ) -> None:
        """Match ``pairs`` (those in ``done`` are skipped) with ``matcher`` on the frames of
        ``open_reader()``, the nearest to ``cursor`` first; a running run is stopped first."""
        self.stop()
        self._generation += 1
        generation, token, post = self._generation, self._token, self._mailbox.posted.emit
        plan = self.plan = MatchPlan(pairs, done, cursor)

        def emit(kind: str, payload: object) -> None:
            post(token, kind, generation, payload)

        def start_job() -> Job:
            return Job(
                lambda cancel: _match_pairs(open_reader, matcher, settings, plan, cancel, emit),
                lambda _outcome: emit("end", None),
            )

        self._start = start_job
        self._job = start_job()

    def set_cursor(self, position: int) -> None:
        """The pairs nearest ``position`` go next."""
        if self.plan is not None:
            self.plan.cursor = position

    def request(self, pair: Pair) -> None:
        """Match ``pair`` next, restarting the thread if it had finished every pair."""
        if self.plan is None or self._start is None:
            return
        self.plan.request(pair)
        if not self.is_running:
            self._job = self._start()

    def stop(self) -> None:
        """Stop matching (at the matcher's next check; nothing is waited for); later reports
        of this run are dropped."""
        if self._job is not None:
            self._job.cancel(abandon=False)
        self._generation += 1
        self._job = self._start = self.plan = None

    @Slot(object, str, int, object)
    def _on_posted(self, token: object, kind: str, generation: int, payload: object) -> None:
        if token is not self._token or generation != self._generation:
            return
        if kind == "pair":
            self.pair_done.emit(payload)
        elif kind == "bad":
            self.frame_bad.emit(*payload)
        elif kind == "pair_failed":
            self.pair_failed.emit(*payload)
        elif kind == "failed":
            self.failed.emit(payload)
        elif kind == "end" and self.plan is not None and not self.plan.remaining:
            self.idle.emit()


def _match_pairs(
    open_reader: Callable[[], SequenceReader],
    matcher: str,
    settings: dict,
    plan: MatchPlan,
    cancel: threading.Event,
    emit: Callable[[str, object], None],
) -> None:
    """The matching thread: open, build, then match the plan's pairs until none is left or
    ``cancel`` is set; never raises."""
    try:
        reader = open_reader()
        instance = create_matcher(matcher, settings)
    except BaseException as exc:  # a user's plugin may raise anything
        emit("failed", failure_message(matcher, exc))
        return
    frames = FrameCache(reader, WORKER_FRAME_BYTES)
    try:
        while not cancel.is_set():
            pair = plan.next_pair()
            if pair is None:
                return
            images = _read_pair(reader, frames, pair, plan, emit)
            if images is None:
                continue
            try:
                emit("pair", _match_pair(reader, instance, matcher, pair, images, cancel))
            except Cancelled:
                return
            except BaseException as exc:  # out of memory, a plugin's bug: the rest go on
                emit("pair_failed", (*pair, failure_message(matcher, exc)))
    finally:
        reader.close()


def _read_pair(
    reader: SequenceReader, frames: FrameCache, pair: Pair, plan: MatchPlan, emit
) -> tuple[LoadedImage, LoadedImage] | None:
    """Both frames of ``pair``; None (the bad frame reported and marked) when one cannot be
    decoded."""
    images = []
    for position in pair:
        try:
            rgb = frames.get(position)
        except InputError as exc:
            plan.mark_bad(position)
            emit("bad", (position, exc.reason))
            return None
        images.append(from_array(rgb, frame_name(reader, position)))
    return images[0], images[1]


def _match_pair(
    reader: SequenceReader,
    instance,
    matcher: str,
    pair: Pair,
    images: tuple[LoadedImage, LoadedImage],
    cancel: threading.Event,
) -> PairOutcome:
    image_a, image_b = images
    result = run_match(instance, image_a, image_b, RunControl(cancel=cancel), matcher_name=matcher)
    truth = pair_ground_truth(reader, *pair)
    return PairOutcome(
        *pair,
        result,
        pair_stats(result, reader, *pair),
        None if truth is None else truth.errors_of(result),
        None if result.is_sparse else warp_pictures(image_b.rgb, result.warp_ab),
    )


def frame_name(reader: SequenceReader, position: int) -> str:
    """What a frame is called in the views: its file, or ``video.mp4 #12`` for a video's."""
    info = reader.frames[position]
    return info.path or f"{reader.name} #{info.frame_id}"
