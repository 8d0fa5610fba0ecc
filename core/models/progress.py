"""Cancel checks and progress inside a model's forward pass.

A forward that takes ``checkpoint: Checkpoint | None`` calls it between its steps; with None it
makes no calls and estimates nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Checkpoint = Callable[[str, float], None]
"""``checkpoint(step, fraction)``, called by a forward pass before each of its steps with the
step's name (``"block 3/24"``) and the fraction of the pass's work done so far, in [0, 1); it may
raise to stop the pass (cancellation)."""


def starts(costs: list[float]) -> list[float]:
    """The fraction of ``sum(costs)`` done before each item."""
    total, done, fractions = sum(costs) or 1.0, 0.0, []
    for cost in costs:
        fractions.append(done / total)
        done += cost
    return fractions


class Progress:
    """Splits one forward pass's :data:`Checkpoint` into one per step.

    ``costs`` {step: estimated multiply-adds}, in the order the steps run. ``begin(step)`` calls
    the checkpoint at the step's start and returns the step's own checkpoint, whose names get
    the step's as a prefix and whose fractions map into the step's share of the whole.
    """

    def __init__(self, checkpoint: Checkpoint, costs: dict[str, float]):
        self.checkpoint = checkpoint
        self.costs = costs
        self.total = sum(costs.values()) or 1.0
        self.done = 0.0

    def begin(self, step: str) -> Checkpoint:
        start, share = self.done / self.total, self.costs[step] / self.total
        self.done += self.costs[step]
        outer = self.checkpoint

        def checkpoint(name: str, fraction: float) -> None:
            outer(f"{step} {name}" if name else step, start + share * fraction)

        checkpoint("", 0.0)
        return checkpoint


def begin(progress: Progress | None, step: str) -> Checkpoint | None:
    """``progress.begin(step)``, or None without progress."""
    return None if progress is None else progress.begin(step)
