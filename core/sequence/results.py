"""`SequenceResults`: the matched pairs of one sequence for one matcher, bounded by a byte budget,
and their folder on disk in ``match-sequence``'s layout (no Qt).

Pairs are keyed by positions ``(position_a, position_b)``. Every pair keeps its
:class:`~core.sequence.matching.PairStats` (a few numbers); its :class:`MatchResult` is held in
memory while the results' bytes (:attr:`MatchResult.nbytes`, intermediates included) fit the
budget, least recently used dropped first. The newest result (the last added or got: the one the
window shows) is never dropped; alone over the budget it stays and ``over_budget`` says so. A
result that has its npz on disk (saved, or reopened with :func:`open_results`) is read back on
``get``; one that has none is gone once dropped, and the pair must be matched again.

A worker thread adds while the GUI thread gets: every method takes the store's lock, and files
are read and written outside it.
"""

from __future__ import annotations

import os
import shutil
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import MatchscopeError
from core.result import MatchResult, load_result, save_result
from core.sequence.base import SequenceReader
from core.sequence.matching import PairStats, read_stats_csv, result_name, write_stats_csv

Pair = tuple[int, int]
_UNREADABLE = (MatchscopeError, OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
"""What reading a damaged npz raises (a truncated deflate stream or zip directory among them)."""


@dataclass
class PairEntry:
    """One matched pair: its positions, statistics, its result when in memory (None when only
    the statistics are: dropped, or reopened and not read yet) and its npz ``path`` on disk
    (None when it has none)."""

    position_a: int
    position_b: int
    stats: PairStats
    result: MatchResult | None = None
    path: Path | None = None


class SequenceResults:
    """The pairs of ``reader`` matched by the matcher ``label``, their results within
    ``budget_bytes`` (see the module docstring)."""

    def __init__(self, reader: SequenceReader, budget_bytes: int, label: str = ""):
        self.reader = reader
        self.label = label
        self.budget = int(budget_bytes)
        self.unmatched_rows = 0  # rows of a reopened stats.csv whose frames the reader lacks
        self.other_pair_rows = 0  # rows of a reopened stats.csv left out by its step/reference
        self._lock = threading.Lock()
        self._entries: dict[Pair, PairEntry] = {}
        self._held: OrderedDict[Pair, int] = OrderedDict()  # bytes in memory, least recent first
        self._nbytes = 0
        self._newest: Pair | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of the results held in memory."""
        return self._nbytes

    @property
    def over_budget(self) -> bool:
        """Whether the results in memory exceed the budget (only ever the newest alone)."""
        return self._nbytes > self.budget

    def add(
        self, position_a: int, position_b: int, result: MatchResult, stats: PairStats
    ) -> list[Pair]:
        """Keep ``result`` and ``stats`` of the pair (replacing any earlier match of it, and its
        file: the new result is not on disk) as the newest; returns the pairs whose results
        this dropped."""
        key = (int(position_a), int(position_b))
        with self._lock:
            self._release(key)
            self._entries[key] = PairEntry(*key, stats, result)
            return self._hold(key, result)

    def get(self, position_a: int, position_b: int) -> MatchResult | None:
        """The pair's result, now the newest: from memory, else read from its npz (which then
        counts toward the budget); None when the pair has none. A damaged npz gives None and
        is forgotten (the pair keeps its statistics); never raises."""
        key = (position_a, position_b)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.result is not None:
                self._held.move_to_end(key)
                self._newest = key
                return entry.result
            path = entry.path
        if path is None:
            return None
        try:
            result = load_result(path)
        except _UNREADABLE:
            with self._lock:
                if entry.path == path:
                    entry.path = None
            return None
        with self._lock:
            current = self._entries.get(key)
            if current is entry and entry.result is None:
                entry.result = result
                self._hold(key, result)
            elif current is not None and current.result is not None:  # added or read meanwhile
                result = current.result
            return result

    def stats(self, position_a: int, position_b: int) -> PairStats | None:
        """The pair's statistics, None when it was never matched."""
        with self._lock:
            entry = self._entries.get((position_a, position_b))
            return None if entry is None else entry.stats

    def has(self, position_a: int, position_b: int) -> bool:
        """Whether the pair has statistics (was matched, its result kept or not)."""
        with self._lock:
            return (position_a, position_b) in self._entries

    def has_result(self, position_a: int, position_b: int) -> bool:
        """Whether :meth:`get` can give the pair's result (in memory or on disk) without
        matching it again."""
        with self._lock:
            entry = self._entries.get((position_a, position_b))
            return entry is not None and (entry.result is not None or entry.path is not None)

    def entries(self) -> list[PairEntry]:
        """Copies of every pair's entry, in position order (A, then B)."""
        with self._lock:
            return [replace(self._entries[key]) for key in sorted(self._entries)]

    def done_positions(self) -> set[int]:
        """The positions A of the pairs that have statistics."""
        with self._lock:
            return {a for a, _ in self._entries}

    @property
    def pairing(self) -> tuple[str, int] | None:
        """How the pairs were made: ``("step", k)`` when every pair is (t, t + k) with k >= 1,
        ``("reference", r)`` when every pair is (t, r); None for none or a mixture."""
        with self._lock:
            keys = list(self._entries)
        steps = {b - a for a, b in keys}
        if len(steps) == 1 and min(steps) >= 1:
            return ("step", steps.pop())
        references = {b for _, b in keys}
        return ("reference", references.pop()) if len(references) == 1 else None

    def set_budget(self, budget_bytes: int) -> list[Pair]:
        """A new budget in bytes; returns the pairs whose results it dropped."""
        with self._lock:
            self.budget = int(budget_bytes)
            return self._evict()

    def save(self, out_dir: str | os.PathLike) -> int:
        """Write ``out_dir/stats.csv`` (every pair, in position order) and the results as
        ``out_dir/results/A_B.npz``: each one in memory, and each one on disk elsewhere copied
        there, so that the folder is complete (a dropped result without a file is gone: its
        row has no npz). The saved entries' paths become those files. Returns the number of
        npz files written; :class:`MatchscopeError` (one line) when the folder cannot be."""
        out = Path(out_dir)
        entries = self.entries()
        written = 0
        try:
            (out / "results").mkdir(parents=True, exist_ok=True)
            write_stats_csv(
                [entry.stats for entry in entries],
                out / "stats.csv",
                with_pose=self.reader.poses is not None,
            )
            saved = {}
            for entry in entries:
                target = out / "results" / result_name(entry.stats)
                if entry.path is not None:
                    if entry.path.resolve() == target.resolve():
                        continue
                    shutil.copyfile(entry.path, target)
                elif entry.result is not None:
                    save_result(entry.result, target)
                else:
                    continue
                written += 1
                saved[(entry.position_a, entry.position_b)] = (entry, target)
        except OSError as exc:
            reason = exc.strerror or exc
            raise MatchscopeError(f"{out}: cannot write the results ({reason})") from None
        with self._lock:
            for key, (copy, target) in saved.items():
                entry = self._entries.get(key)
                if entry is not None and entry.result is copy.result and entry.path == copy.path:
                    entry.path = target
        return written

    def _hold(self, key: Pair, result: MatchResult) -> list[Pair]:
        size = result.nbytes
        self._held[key] = size
        self._nbytes += size
        self._newest = key
        return self._evict()

    def _release(self, key: Pair) -> None:
        size = self._held.pop(key, None)
        if size is not None:
            self._nbytes -= size

    def _evict(self) -> list[Pair]:
        dropped = []
        for key in list(self._held):  # least recently used first
            if self._nbytes <= self.budget:
                break
            if key == self._newest:
                continue
            self._release(key)
            self._entries[key].result = None
            dropped.append(key)
        return dropped


def open_results(
    out_dir: str | os.PathLike,
    reader: SequenceReader,
    budget_bytes: int,
    step: int | None = None,
    reference: int | None = None,
    label: str = "",
) -> SequenceResults:
    """The pairs of a ``match-sequence`` folder (``out_dir/stats.csv``, ``results/A_B.npz``)
    on the frames of ``reader``: frame ids are found by their text among the reader's frames,
    results are attached by path and read only when got. With ``step`` or ``reference`` only
    the pairs (t, t + step) or (t, reference) are kept (others counted in
    ``other_pair_rows``); rows naming a frame the reader lacks are counted in
    ``unmatched_rows``. :class:`InputError` (one line) for a missing or malformed stats.csv."""
    out = Path(out_dir)
    rows = read_stats_csv(out / "stats.csv")
    positions: dict[str, int] = {}
    for frame in reader.frames:
        positions.setdefault(str(frame.frame_id), frame.position)
    results = SequenceResults(reader, budget_bytes, label)
    for stats in rows:
        a, b = positions.get(str(stats.frame_a)), positions.get(str(stats.frame_b))
        if a is None or b is None:
            results.unmatched_rows += 1
            continue
        if (step is not None and b - a != step) or (reference is not None and b != reference):
            results.other_pair_rows += 1
            continue
        path = out / "results" / result_name(stats)
        results._entries[(a, b)] = PairEntry(a, b, stats, None, path if path.is_file() else None)
    return results
