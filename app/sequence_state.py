"""`SequenceSession`: a sequence open in the window, its cursor and its pairs' results (no Qt).

The session reads frames on the GUI's side (its own reader and a bounded `FrameCache`), keeps
what the background matcher (:mod:`app.sequence_worker`) delivers in a `SequenceResults`
bounded by the run budget, and shows the current pair through :meth:`AppState.show_pair`: the
frames at once, the result when there is one (else when it arrives). The current pair is
frame t with t + k or with a fixed reference frame (``mode`` "step" or "reference",
positions in the sequence's order). Frames that cannot be decoded are kept in ``bad`` with
the reason (the timeline skips them); the rest of the sequence stays usable.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from psygnal import Signal

from app.sequence_worker import PairOutcome, frame_name
from app.state import AppState
from core.bench.truth import ResultErrors
from core.errors import InputError
from core.figures import WarpPictures, warp_pictures
from core.imageio import from_array
from core.sequence.base import SequenceReader
from core.sequence.cache import FrameCache
from core.sequence.matching import PairStats, sequence_pairs
from core.sequence.results import SequenceResults
from core.sequence.schedule import pair_at
from core.sequence.tracks import TrackSet
from core.sequence.truth import pair_ground_truth

DISPLAY_FRAME_BYTES = 512 * 2**20
"""Decoded frames the window keeps for scrubbing (a KITTI frame is 1.4 MB: about 360)."""
EXTRAS_SHARE = 0.25
"""Of the run budget, what the pairs' truth errors and warp pictures (made by the matching
thread) may hold; the results hold the rest."""

Pair = tuple[int, int]


class SequenceSession:
    """One open sequence: ``reader``, the cursor ``position``, the pairing, ``results`` and
    ``bad`` frames ({position: reason}). ``open_reader`` opens another reader on the same
    input (for the matching thread)."""

    position_changed = Signal(int)
    pairing_changed = Signal()
    frame_bad = Signal(int, str)
    pair_added = Signal(int, object)  # position_a, PairStats
    results_reset = Signal()  # a new matcher or pairing: every result and statistic is gone

    def __init__(
        self,
        state: AppState,
        open_reader: Callable[[], SequenceReader],
        reader: SequenceReader | None = None,
        results: SequenceResults | None = None,
    ):
        self.state = state
        self.open_reader = open_reader
        self.reader = reader if reader is not None else open_reader()
        self.frames = FrameCache(self.reader, DISPLAY_FRAME_BYTES)
        self.position = 0
        self.mode, self.step, self.reference = "step", 1, 0
        if results is not None and results.pairing is not None:
            self.mode, value = results.pairing
            self.step, self.reference = (value, 0) if self.mode == "step" else (1, value)
        budget = state.runs.budget
        self.extras_budget = int(budget * EXTRAS_SHARE)
        if results is None:
            results = SequenceResults(self.reader, budget - self.extras_budget, state.matcher)
        self.results = results
        self.bad: dict[int, str] = {}
        self.tracks = TrackSet()
        self._tracked: set[int] = set()  # position_a of the pairs chained into `tracks`
        self._extras: OrderedDict[Pair, tuple[ResultErrors | None, WarpPictures | None]] = (
            OrderedDict()
        )
        self._extras_bytes = 0

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def name(self) -> str:
        return self.reader.name

    # pairing ------------------------------------------------------------------------------------

    def pairs(self) -> list[Pair]:
        """Every pair of the current pairing, in position order."""
        reference = self.reference if self.mode == "reference" else None
        return sequence_pairs(len(self), self.step, reference)

    def current_pair(self) -> Pair | None:
        """The pair shown at the cursor (None: the cursor is the reference frame, or the
        sequence has one frame)."""
        return pair_at(self.position, len(self), self.mode, self.step, self.reference)

    def set_pairing(self, mode: str, step: int, reference: int) -> bool:
        """Pair frame t with t + ``step`` (``mode`` "step") or with ``reference``; a change
        drops every result (they are of other pairs). False when nothing changed."""
        step = max(1, min(int(step), max(len(self) - 1, 1)))
        reference = max(0, min(int(reference), len(self) - 1))
        if (mode, step, reference) == (self.mode, self.step, self.reference):
            return False
        self.mode, self.step, self.reference = mode, step, reference
        self.reset_results(self.results.label)
        self.pairing_changed.emit()
        return True

    def reset_results(self, label: str) -> None:
        """Forget every result and statistic (a new matcher ``label`` or pairing)."""
        self.results = SequenceResults(self.reader, self.results.budget, label)
        self.tracks = TrackSet()
        self._tracked.clear()
        self._extras.clear()
        self._extras_bytes = 0
        self.results_reset.emit()

    # the cursor ---------------------------------------------------------------------------------

    def seek(self, position: int) -> Pair | None:
        """Show the pair at ``position`` (clamped to the sequence): its frames now, its result
        when the results hold it. Returns the pair, or None when it cannot be shown (a frame
        that cannot be decoded: marked bad, the status says why)."""
        position = max(0, min(int(position), len(self) - 1))
        self.position = position
        self.position_changed.emit(position)
        pair = self.current_pair()
        if pair is None:
            self.state.set_status(self._where() + ": the reference frame itself (no pair)")
            return None
        images = [self._image(p) for p in pair]
        if None in images:
            return None
        result = self.results.get(*pair)
        if result is not None:  # a reopened result joins the tracks once it is read
            self._add_tracks(*pair, result)
        errors, pictures = self._extras.get(pair, (None, None))
        truth = pair_ground_truth(self.reader, *pair)
        if result is not None and pair not in self._extras:
            errors = None if truth is None else truth.errors_of(result)
            if not result.is_sparse:
                pictures = warp_pictures(images[1].rgb, result.warp_ab)
            self.keep_extras(pair, errors, pictures)
        elif pair in self._extras:
            self._extras.move_to_end(pair)
        self.state.show_pair(images[0], images[1], truth, result, errors, pictures)
        self.state.set_status(self._describe(pair, result is not None))
        return pair

    def _image(self, position: int):
        try:
            rgb = self.frames.get(position)
        except InputError as exc:
            self.mark_bad(position, exc.reason)
            self.state.set_error(f"frame {self.reader.frames[position].frame_id}: {exc.reason}")
            return None
        return from_array(rgb, frame_name(self.reader, position))

    def mark_bad(self, position: int, reason: str) -> None:
        """Frame ``position`` cannot be decoded (``reason``): marked (the timeline skips it)."""
        if position not in self.bad:
            self.bad[position] = reason
            self.frame_bad.emit(position, reason)

    def _where(self) -> str:
        info = self.reader.frames[self.position]
        when = "" if info.timestamp is None else f", {info.timestamp:.3f} s"
        return f"Frame {self.position} / {len(self) - 1} (id {info.frame_id}{when})"

    def _describe(self, pair: Pair, matched: bool) -> str:
        ids = [self.reader.frames[p].frame_id for p in pair]
        text = f"{self._where()}: pair {ids[0]} -> {ids[1]}"
        stats = self.results.stats(*pair)
        if not matched:
            return text + ", matching…"
        text += f", {stats.matches} matches, {stats.inliers} inliers"
        if stats.pose_error_deg is not None and stats.pose_error_deg == stats.pose_error_deg:
            text += f", pose error {stats.pose_error_deg:.2f}°"
        return text

    # results ------------------------------------------------------------------------------------

    def add_outcome(self, outcome: PairOutcome) -> None:
        """Keep a matched pair; show it when it is the current pair."""
        pair = (outcome.position_a, outcome.position_b)
        self.results.add(*pair, outcome.result, outcome.stats)
        self.keep_extras(pair, outcome.truth_errors, outcome.warp_pictures)
        self._add_tracks(*pair, outcome.result)
        self.pair_added.emit(outcome.position_a, outcome.stats)
        if pair == self.current_pair() and self.state.has_pair:
            self.state.show_result(outcome.result, outcome.truth_errors, outcome.warp_pictures)
            self.state.set_status(self._describe(pair, True))

    def keep_extras(
        self, pair: Pair, errors: ResultErrors | None, pictures: WarpPictures | None
    ) -> None:
        """Keep a pair's truth errors and warp pictures within `extras_budget` bytes (least
        recently shown dropped first; a dropped pair's are made again when it is shown)."""
        if pair in self._extras:
            self._extras_bytes -= _extras_nbytes(self._extras.pop(pair))
        self._extras[pair] = (errors, pictures)
        self._extras_bytes += _extras_nbytes((errors, pictures))
        while self._extras_bytes > self.extras_budget and len(self._extras) > 1:
            self._extras_bytes -= _extras_nbytes(self._extras.popitem(last=False)[1])

    def _add_tracks(self, position_a: int, position_b: int, result) -> None:
        """Chain a sparse result of consecutive frames into the tracks (once per pair)."""
        if position_b != position_a + 1 or not result.is_sparse or position_a in self._tracked:
            return
        self._tracked.add(position_a)
        self.tracks.add_pair(position_a, result.matches, result.match_certainty)

    def stats_rows(self) -> list[tuple[int, PairStats]]:
        """(position_a, statistics) of every pair with statistics, in position order."""
        return [(entry.position_a, entry.stats) for entry in self.results.entries()]

    def close(self) -> None:
        self.frames.clear()
        self.reader.close()


def _extras_nbytes(extras: tuple[ResultErrors | None, WarpPictures | None]) -> int:
    errors, pictures = extras
    arrays = []
    if errors is not None:
        arrays += [errors.matches, errors.dense]
    if pictures is not None:
        arrays += [pictures.flow_rgb, pictures.warped_b]
    return sum(array.nbytes for array in arrays if array is not None)
