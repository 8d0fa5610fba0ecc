"""Matchers that tests load as users load theirs: `--matcher tests.core.plugin_matchers:NAME`."""

import numpy as np

from core.result import MatchResult


class IdentityMatcher:
    """Every pixel of A matches the same pixel of B (certainty ``level``)."""

    def __init__(self, level: float = 1.0):
        self.level = float(level)

    def match(self, rgb_a, rgb_b):
        height, width = rgb_a.shape[:2]
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        warp = np.stack([xs, ys], axis=-1)
        matches = np.array([[1, 1, 1, 1], [2, 3, 2, 3]], np.float32)
        return MatchResult(
            warp_ab=warp,
            certainty_ab=np.full((height, width), self.level, np.float32),
            matches=matches,
            match_certainty=np.full(2, self.level, np.float32),
        )


def identity(**settings):
    return IdentityMatcher(**settings)


class PartialMatcher(IdentityMatcher):
    """The identity warp on the top ``rows`` fraction of A only (NaN below): a dense result
    with a low coverage."""

    def __init__(self, rows: float = 0.1):
        super().__init__()
        self.rows = float(rows)

    def match(self, rgb_a, rgb_b):
        result = IdentityMatcher.match(self, rgb_a, rgb_b)
        cut = round(self.rows * rgb_a.shape[0])
        result.warp_ab[cut:] = np.nan
        result.certainty_ab[cut:] = 0.0
        return result


def partial(**settings):
    return PartialMatcher(**settings)


def not_a_matcher(**settings):
    return object()


def wrong_shape(**settings):
    class Broken:
        def match(self, rgb_a, rgb_b):
            return IdentityMatcher().match(rgb_a[:-1], rgb_b)

    return Broken()


def fails_on_small(min_side: int = 100, **settings):
    """An identity matcher that raises (as a buggy plugin would) on images under ``min_side``."""

    class Picky(IdentityMatcher):
        def match(self, rgb_a, rgb_b):
            if min(rgb_a.shape[:2]) < min_side:
                raise ValueError(f"image under {min_side} px\nsecond line")
            return super().match(rgb_a, rgb_b)

    return Picky(**settings)


class Exploding:
    """Raises on every pair ``fail_every`` calls (1: always), as a buggy plugin would."""

    def __init__(self, fail_every: int = 1):
        self.fail_every, self.calls = int(fail_every), 0

    def match(self, rgb_a, rgb_b):
        self.calls += 1
        if self.calls % self.fail_every == 0:
            raise RuntimeError(f"plugin exploded on call {self.calls}\nsecond line")
        return IdentityMatcher().match(rgb_a, rgb_b)


def exploding(**settings):
    return Exploding(**settings)


class SureMatcher(IdentityMatcher):
    """`IdentityMatcher` whose matches are drawn from certainty 0.9 on."""

    display_threshold = 0.9
