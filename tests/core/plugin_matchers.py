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


def not_a_matcher(**settings):
    return object()


def wrong_shape(**settings):
    class Broken:
        def match(self, rgb_a, rgb_b):
            return IdentityMatcher().match(rgb_a[:-1], rgb_b)

    return Broken()


class SureMatcher(IdentityMatcher):
    """`IdentityMatcher` whose matches are drawn from certainty 0.9 on."""

    display_threshold = 0.9
