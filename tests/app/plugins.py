"""Matchers that the app tests load as users load theirs: ``tests.app.plugins:NAME``."""

from __future__ import annotations

import time

import numpy as np

from core.coords import pixel_grid
from core.result import MatchResult
from core.run import RunControl


def shift_result(height: int, width: int, dx: float, dy: float, step: int = 10) -> MatchResult:
    """A's pixel (x, y) matches B's (x + dx, y + dy); certainty rises from 0 (left) to 1 (right).

    Matches sit on a grid of ``step`` pixels.
    """
    grid = pixel_grid(height, width)
    certainty = np.broadcast_to(grid[..., 0] / max(width - 1, 1), (height, width))
    ys, xs = np.mgrid[step // 2 : height : step, step // 2 : width : step]
    xs, ys = xs.ravel(), ys.ravel()
    matches = np.column_stack([xs, ys, xs + dx, ys + dy]).astype(np.float32)
    return MatchResult(
        warp_ab=grid + np.float32([dx, dy]),
        certainty_ab=certainty.astype(np.float32),
        matches=matches,
        match_certainty=certainty[ys, xs].astype(np.float32),
    )


class ShiftMatcher:
    """Answers `shift_result` for any pair: a known warp and a spread of certainties."""

    def __init__(self, dx: float = 6.0, dy: float = 4.0):
        self.dx, self.dy = dx, dy

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray) -> MatchResult:
        return shift_result(*rgb_a.shape[:2], self.dx, self.dy)


SYMMETRIC_CERTAINTY_BA = 0.75


def symmetric_shift_result(height: int, width: int, dx: float, dy: float) -> MatchResult:
    """`shift_result` with B -> A too: B's pixel (x, y) maps to A's (x - dx, y - dy), with
    certainty ``SYMMETRIC_CERTAINTY_BA`` everywhere (B as large as A)."""
    result = shift_result(height, width, dx, dy)
    result.warp_ba = pixel_grid(height, width) - np.float32([dx, dy])
    result.certainty_ba = np.full((height, width), SYMMETRIC_CERTAINTY_BA, np.float32)
    return result


class SymmetricShiftMatcher:
    """Answers `symmetric_shift_result` (dx, dy = 6, 4) for any pair."""

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray) -> MatchResult:
        return symmetric_shift_result(*rgb_a.shape[:2], 6.0, 4.0)


class SlowMatcher:
    """Sleeps through ``stages`` stages of ``seconds`` each, honouring cancellation between them."""

    def __init__(self, stages: int = 100, seconds: float = 0.05):
        self.stages, self.seconds = stages, seconds

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray, control: RunControl) -> MatchResult:
        for index in range(self.stages):
            with control.stage(f"sleep {index}", index / self.stages):
                time.sleep(self.seconds)
        return shift_result(*rgb_a.shape[:2], 0.0, 0.0)


class StubbornMatcher:
    """Sleeps ``seconds`` without ever checking for cancellation, then answers `shift_result`."""

    def __init__(self, seconds: float = 3.0):
        self.seconds = seconds

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray) -> MatchResult:
        time.sleep(self.seconds)
        return shift_result(*rgb_a.shape[:2], 0.0, 0.0)


class FailingMatcher:
    """Raises ``error`` ("runtime" or "memory") from inside match(), as a buggy plugin would."""

    def __init__(self, error: str = "runtime"):
        self.error = error

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray) -> MatchResult:
        if self.error == "memory":
            raise MemoryError
        raise RuntimeError("plugin exploded\nsecond line of the message")


class ScaleMatcher:
    """Answers `tests.core.scale_results.scale_result` (every scale's intermediates, symmetric)
    for a pair of its size (64 x 48)."""

    def match(self, rgb_a: np.ndarray, rgb_b: np.ndarray) -> MatchResult:
        from tests.core.scale_results import H, W, scale_result

        assert rgb_a.shape[:2] == rgb_b.shape[:2] == (H, W)
        return scale_result(back_error=(1.0, 0.0))
