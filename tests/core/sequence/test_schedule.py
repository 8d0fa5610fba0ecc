"""The pair at the cursor and the order pairs are matched in: around the cursor first."""

from __future__ import annotations

import pytest

from core.sequence.matching import sequence_pairs
from core.sequence.schedule import pair_at, pair_order


def test_pairs_around_the_cursor_come_first_ahead_before_behind():
    pairs = sequence_pairs(8)  # (0, 1) .. (6, 7)
    order = pair_order(3, pairs, set())
    assert [a for a, _ in order] == [3, 4, 2, 5, 1, 6, 0]
    assert sorted(order) == pairs


def test_done_pairs_are_left_out_as_a_set_or_a_predicate():
    pairs = sequence_pairs(8, step=2)  # (0, 2) .. (5, 7)
    assert pair_order(0, pairs, {(0, 2), (1, 3)}) == [(2, 4), (3, 5), (4, 6), (5, 7)]
    assert pair_order(5, pairs, lambda pair: pair[0] % 2 == 1) == [(4, 6), (2, 4), (0, 2)]
    assert pair_order(5, pairs, set(pairs)) == []


def test_reference_pairs_and_a_cursor_past_the_pairs():
    pairs = sequence_pairs(6, reference=2)  # (0, 2), (1, 2), (3, 2), (4, 2), (5, 2)
    assert pair_order(2, pairs, set()) == [(3, 2), (1, 2), (4, 2), (0, 2), (5, 2)]
    assert pair_order(9, sequence_pairs(4), set()) == [(2, 3), (1, 2), (0, 1)]


def test_step_pair_at_the_cursor_clamps_b_to_the_last_frame():
    assert pair_at(2, 10, "step") == (2, 3)
    assert pair_at(2, 10, "step", step=3) == (2, 5)
    assert pair_at(8, 10, "step", step=3) == (8, 9)  # clamped
    assert pair_at(9, 10, "step", step=3) is None  # the last frame has no pair
    assert pair_at(10, 10, "step") is None and pair_at(-1, 10, "step") is None
    assert pair_at(0, 1, "step") is None


def test_reference_pair_at_the_cursor():
    assert pair_at(0, 5, "reference", reference=3) == (0, 3)
    assert pair_at(4, 5, "reference", reference=3) == (4, 3)
    assert pair_at(3, 5, "reference", reference=3) is None  # the reference itself
    assert pair_at(1, 5, "reference", reference=5) is None  # no such reference


@pytest.mark.parametrize(("mode", "step"), [("tracks", 1), ("step", 0)])
def test_another_mode_or_a_step_below_one_is_refused(mode, step):
    with pytest.raises(ValueError, match=mode if mode != "step" else "step 0"):
        pair_at(0, 5, mode, step=step)
