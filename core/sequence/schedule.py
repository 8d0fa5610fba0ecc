"""Which pair of a sequence the window shows at its cursor, and in which order the pairs are
matched in the background: around the cursor first (no Qt)."""

from __future__ import annotations

from collections.abc import Callable, Collection

Pair = tuple[int, int]
PAIRING_MODES = ("step", "reference")


def pair_order(
    cursor: int, pairs: list[Pair], done: Callable[[Pair], bool] | Collection[Pair]
) -> list[Pair]:
    """The ``pairs`` (positions A, B) not ``done`` (a predicate, or a set of done pairs),
    nearest to the cursor first by ``|A - cursor|``; of two as near, the one ahead of the
    cursor first, and pairs with the same A in their given order."""
    is_done = done if callable(done) else done.__contains__
    todo = [(index, pair) for index, pair in enumerate(pairs) if not is_done(pair)]
    todo.sort(key=lambda item: (abs(item[1][0] - cursor), item[1][0] < cursor, item[0]))
    return [pair for _, pair in todo]


def pair_at(
    position: int, length: int, mode: str, step: int = 1, reference: int = 0
) -> Pair | None:
    """The pair (A, B) shown at cursor ``position`` of a sequence of ``length`` frames: in
    mode ``"step"`` (position, position + step), B clamped to the last frame (None on the last
    frame itself); in mode ``"reference"`` (position, reference), None on the reference. None
    too for a position (or reference) outside the sequence. ValueError for another mode or a
    step < 1."""
    if mode not in PAIRING_MODES:
        raise ValueError(f"pairing mode {mode!r}: expected one of {', '.join(PAIRING_MODES)}")
    if mode == "step" and step < 1:
        raise ValueError(f"step {step}: must be 1 or more")
    if not 0 <= position < length:
        return None
    if mode == "reference":
        if position == reference or not 0 <= reference < length:
            return None
        return (position, reference)
    b = min(position + step, length - 1)
    return None if b == position else (position, b)
