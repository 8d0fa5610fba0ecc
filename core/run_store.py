"""`RunStore`: the runs of a session (for Compare), bounded by a byte budget.

A :class:`Run` is one result with what identifies it: a label ("matcher (changed settings)"),
the pair it was made on (both images' paths and a content key, so that runs on the same pixels
are found again whatever the files are called) and its errors against the pair's ground truth
when it has one. The store counts the bytes of every array of every run (the result's, its
intermediates included, and the errors') and, when a new run takes it over its budget, drops the
least recently used runs first. The newest run (the current one, which the window shows) is never
dropped: when it alone is larger than the budget it stays, alone, and ``over_budget`` says so.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from core.bench.truth import ResultErrors
from core.errors import MatchscopeError
from core.result import MatchResult

MIB = 2**20
DEFAULT_BUDGET_BYTES = 2 * 1024**3
"""What the runs of a session may hold until the settings say otherwise (2 GiB)."""
MIN_BUDGET_BYTES = 64 * MIB
"""The smallest budget the settings take (64 MiB); the largest is the machine's memory."""
_HIDDEN_SETTINGS = ("settings_dir",)  # where weights are looked for: not a setting of the run


def machine_memory_bytes() -> int | None:
    """The machine's physical memory in bytes (``sysconf``); None where it cannot say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def budget_from_mib(text: str) -> int:
    """Bytes of a run budget given as a whole number of MiB (e.g. ``"2048"``); MatchscopeError
    (one line) for one that is not a number, below :data:`MIN_BUDGET_BYTES` or above the
    machine's memory."""
    try:
        mib = int(text.strip())
    except ValueError:
        raise MatchscopeError(f"Run memory budget: {text!r} is not a whole number of MiB") from None
    low = MIN_BUDGET_BYTES // MIB
    high = machine_memory_bytes()
    if mib < low or (high is not None and mib * MIB > high):
        limits = f"at least {low} MiB"
        if high is not None:
            limits = f"{low} MiB to {high // MIB} MiB (this machine's memory)"
        raise MatchscopeError(f"Run memory budget {mib} MiB: use {limits}")
    return mib * MIB


def image_key(rgb: np.ndarray) -> str:
    """A content key of an (H, W, 3) uint8 image: its shape and pixels hashed (BLAKE2b)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


def pair_key(rgb_a: np.ndarray, rgb_b: np.ndarray) -> str:
    """The content key of a pair (A then B): equal exactly when both images' pixels are."""
    return f"{image_key(rgb_a)}-{image_key(rgb_b)}"


def run_label(matcher: str, settings: dict) -> str:
    """ "matcher (key=value, ...)" with the settings the user changed, sorted; "matcher" alone
    without any."""
    shown = {k: v for k, v in sorted(settings.items()) if k not in _HIDDEN_SETTINGS}
    if not shown:
        return matcher
    return f"{matcher} ({', '.join(f'{k}={v}' for k, v in shown.items())})"


@dataclass(frozen=True, eq=False)
class Run:
    """One run of a session. ``run_id`` counts from 1 in the order the runs were added;
    ``paths``: (A, B) image files ("" for images made in memory); ``pair``: `pair_key`."""

    run_id: int
    label: str
    result: MatchResult
    pair: str
    paths: tuple[str, str] = ("", "")
    truth_errors: ResultErrors | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the result's arrays and of its errors."""
        errors = self.truth_errors
        extra = 0 if errors is None else errors.matches.nbytes
        if errors is not None and errors.dense is not None:
            extra += errors.dense.nbytes
        return self.result.nbytes + extra

    @property
    def title(self) -> str:
        """ "3: sift": the id and label, as lists show it."""
        return f"{self.run_id}: {self.label}"


class RunStore:
    """The runs of a session, least recently used first, within ``budget`` bytes (see the module
    docstring: the current run stays even over budget)."""

    def __init__(self, budget: int = DEFAULT_BUDGET_BYTES):
        self.budget = int(budget)
        self._runs: OrderedDict[int, Run] = OrderedDict()  # least recently used first
        self._next_id = 1
        self.current: Run | None = None  # the newest run

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes held by all runs."""
        return sum(run.nbytes for run in self._runs.values())

    @property
    def over_budget(self) -> bool:
        """Whether the store holds more than its budget (only ever the current run alone)."""
        return self.nbytes > self.budget

    def add(
        self,
        result: MatchResult,
        label: str,
        pair: str,
        paths: tuple[str, str] = ("", ""),
        truth_errors: ResultErrors | None = None,
    ) -> Run:
        """Keep ``result`` as the new current run; older runs are dropped (least recently used
        first) until the store fits its budget."""
        run = Run(self._next_id, label, result, pair, tuple(paths), truth_errors)
        self._next_id += 1
        self._runs[run.run_id] = run
        self.current = run
        self._evict()
        return run

    def get(self, run_id: int) -> Run | None:
        """Run ``run_id`` (now the most recently used), or None once dropped."""
        run = self._runs.get(run_id)
        if run is not None:
            self._runs.move_to_end(run_id)
        return run

    def runs_on(self, pair: str) -> list[Run]:
        """The runs made on pair ``pair`` (a `pair_key`), oldest first; touches none."""
        return sorted((r for r in self._runs.values() if r.pair == pair), key=lambda r: r.run_id)

    def set_budget(self, budget: int) -> list[Run]:
        """A new budget in bytes; returns the runs it made the store drop."""
        self.budget = int(budget)
        return self._evict()

    def _evict(self) -> list[Run]:
        dropped = []
        total = self.nbytes
        for run in list(self._runs.values()):  # least recently used first
            if total <= self.budget:
                break
            if run is self.current:
                continue
            del self._runs[run.run_id]
            total -= run.nbytes
            dropped.append(run)
        return dropped
