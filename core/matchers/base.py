"""Shared plumbing of the built-in matchers: a ``default_conf`` dict with typed overrides."""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from core.coords import normalized_to_pixel
from core.errors import MatchscopeError


class ConfiguredMatcher:
    """Base class: ``default_conf`` holds every option; ``conf_help`` explains each one."""

    name: ClassVar[str] = ""
    default_conf: ClassVar[dict] = {}
    conf_help: ClassVar[dict[str, str]] = {}

    def __init__(self, **overrides):
        unknown = sorted(set(overrides) - set(self.default_conf))
        if unknown:
            raise MatchscopeError(
                f"{self.name}: unknown option(s) {', '.join(unknown)}; "
                f"options are {', '.join(self.default_conf)}"
            )
        self.conf = {**self.default_conf, **overrides}


def parse_setting(text: str, defaults: dict) -> tuple[str, object]:
    """``"key=value"`` -> (key, value) typed like ``defaults[key]`` (bool, int, float or str)."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise MatchscopeError(f"--set expects KEY=VALUE, got {text!r}")
    default = defaults.get(key)
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return key, lowered in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return key, int(raw)
        if isinstance(default, float):
            return key, float(raw)
    except ValueError:
        raise MatchscopeError(
            f"--set {key}: {raw!r} is not a valid {type(default).__name__}"
        ) from None
    if raw.strip().lower() == "none":
        return key, None
    return key, raw


def grid_to_original(grid_warp, grid_cert, size_from, size_to):
    """Resize a grid warp to ``size_from`` and express it in ``size_to`` pixels (NaN = none)."""
    height, width = size_from
    if grid_warp.shape[:2] != (height, width):
        grid_warp = cv2.resize(grid_warp, (width, height), interpolation=cv2.INTER_LINEAR)
        grid_cert = cv2.resize(grid_cert, (width, height), interpolation=cv2.INTER_LINEAR)
    certainty = np.clip(grid_cert, 0.0, 1.0).astype(np.float32)
    warp = normalized_to_pixel(grid_warp, size_to[1], size_to[0]).astype(np.float32)
    warp[certainty <= 0.0] = np.nan
    certainty[certainty <= 0.0] = 0.0
    return warp, certainty
