"""Shared plumbing of the built-in matchers: a ``default_conf`` dict with typed, checked
overrides."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from core.coords import normalized_to_pixel
from core.errors import MatchscopeError


@dataclass(frozen=True)
class Limit:
    """The values a numeric option may take: from ``low`` (excluded when ``above``) to ``high``
    (inclusive); None is no bound."""

    low: float | None = None
    high: float | None = None
    above: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        low = f"{'>' if self.above else '>='} {self.low:g}" if self.low is not None else ""
        high = f"<= {self.high:g}" if self.high is not None else ""
        return " and ".join(part for part in (low, high) if part)


class ConfiguredMatcher:
    """Base class: ``default_conf`` holds every option; ``conf_help`` explains each one;
    ``conf_limits`` bounds the numeric ones. Every float option must be finite."""

    name: ClassVar[str] = ""
    default_conf: ClassVar[dict] = {}
    conf_help: ClassVar[dict[str, str]] = {}
    conf_limits: ClassVar[dict[str, Limit]] = {}

    def __init__(self, **overrides):
        unknown = sorted(set(overrides) - set(self.default_conf))
        if unknown:
            raise MatchscopeError(_unknown_options(self.name, unknown, self.default_conf))
        self.conf = {**self.default_conf, **overrides}
        for key, value in self.conf.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise MatchscopeError(f"{self.name}: {key} must be a finite number, not {value}")
            limit = self.conf_limits.get(key)
            if limit is not None and not limit.allows(value):
                raise MatchscopeError(f"{self.name}: {key} must be {limit}, not {value}")

    @classmethod
    def weight_files(cls, conf: dict) -> dict[str, str]:
        """{weights name in :data:`core.weights.WEIGHT_FILES`: explicit path or ""} of the
        weights the matcher with options ``conf`` loads (none for classical matchers)."""
        return {}


def check_device(device: str, matcher: str) -> None:
    """Raise MatchscopeError unless ``device`` is auto, cpu, cuda or cuda:N."""
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise MatchscopeError(f"{matcher}: device {device!r}: use auto, cpu or cuda")


def torch_device(device: str):
    """The ``torch.device`` for a checked ``device`` option: auto = CUDA when torch sees one.
    MatchscopeError when CUDA is asked for and torch has none."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MatchscopeError("device cuda: no CUDA device is available to torch here")
    return torch.device(device)


def _unknown_options(matcher: str, keys: list[str], known) -> str:
    """The message for options ``keys`` that ``matcher`` does not take, naming the built-in
    matchers that do take each."""
    from core.matchers import BUILTIN_MATCHERS, matcher_class

    text = f"{matcher}: unknown option(s) {', '.join(keys)}; options are {', '.join(known)}"
    for key in keys:
        takers = [name for name in BUILTIN_MATCHERS if key in matcher_class(name).default_conf]
        if takers:
            text += f"; {key} is an option of {', '.join(takers)}"
    return text


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
