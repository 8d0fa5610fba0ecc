"""The keypoint probe: a selected keypoint of A and what a keypoint matcher made of it.

The sparse counterpart of :func:`core.probe.anchor_distribution`. It reads a sparse result's
``keypoints_a``, ``keypoints_b`` and ``match_indices`` and, where the matcher kept them
(``intermediates=True``), these intermediates (any may be absent):

=======================  ==========  ===========================================================
name                     shape       meaning
=======================  ==========  ===========================================================
keypoint_scores_a / _b   (K,)        the detector's score of each keypoint
score_map_a / _b         (h, w)      the detector's dense score map over the whole image, [0, 1]
assignment               (K_A, K_B)  LightGlue's final assignment scores P_ij in [0, 1]; NaN rows
                                     and columns for keypoints pruned before the last layer
unmatched_a / _b         (K,)        the probability that a keypoint has no match (NaN: pruned)
matchability_a / _b      (L, K)      each keypoint's matchability at each layer (NaN: inactive)
active_layers_a / _b     (K,)        layers a keypoint stayed active in (active at layer l,
                                     0-based, iff l < active_layers)
stop_layer               ()          the number of layers the network ran
=======================  ==========  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.result import MatchResult

TOP_K = 5
"""How many of B's keypoints a reading lists, by assignment score."""


@dataclass(frozen=True)
class KeypointReading:
    """Keypoint ``index`` of A at pixel (x, y) of A, and what the matcher made of it.

    ``match``: the index in ``keypoints_b`` of its match (None: unmatched), with the match's
    certainty. ``top_b`` / ``top_p``: B's keypoints with the highest assignment scores P_ij,
    best first (empty without an assignment). NaN or None where the result does not say.
    """

    index: int
    x: float
    y: float
    score: float = float("nan")
    match: int | None = None
    match_certainty: float = float("nan")
    top_b: tuple[int, ...] = ()
    top_p: tuple[float, ...] = ()
    unmatched: float = float("nan")
    active_layers: int | None = None
    stop_layer: int | None = None
    matchability: tuple[float, ...] = ()  # per layer, NaN where inactive

    @property
    def pruning(self) -> str:
        """Where LightGlue pruned the keypoint, in words ("" when the result does not say)."""
        return pruning_text(self.active_layers, self.stop_layer)


def has_keypoints(result: MatchResult) -> bool:
    """Whether ``result`` lists its keypoints (a keypoint matcher's sparse result)."""
    return result.keypoints_a is not None and result.keypoints_b is not None


def nearest_keypoint(keypoints: np.ndarray, x: float, y: float, radius: float) -> int | None:
    """Index of the keypoint of the (K, 2) ``keypoints`` nearest to pixel (x, y), or None when
    none lies within ``radius`` pixels."""
    if len(keypoints) == 0:
        return None
    distance = np.hypot(keypoints[:, 0] - x, keypoints[:, 1] - y)
    nearest = int(np.argmin(distance))
    return nearest if distance[nearest] <= radius else None


def read_keypoint(result: MatchResult, index: int, top: int = TOP_K) -> KeypointReading:
    """What ``result`` says about keypoint ``index`` of A (see :class:`KeypointReading`)."""
    inter = result.intermediates
    x, y = (float(v) for v in result.keypoints_a[index])
    rows = np.flatnonzero(result.match_indices[:, 0] == index)
    match = int(result.match_indices[rows[0], 1]) if rows.size else None
    certainty = float(result.match_certainty[rows[0]]) if rows.size else float("nan")
    top_b: tuple[int, ...] = ()
    top_p: tuple[float, ...] = ()
    if "assignment" in inter:
        row = np.asarray(inter["assignment"][index], np.float64)
        finite = np.flatnonzero(np.isfinite(row))
        best = finite[np.argsort(-row[finite], kind="stable")[:top]]
        top_b, top_p = tuple(int(j) for j in best), tuple(float(row[j]) for j in best)
    active = inter.get("active_layers_a")
    stop = inter.get("stop_layer")
    matchability = inter.get("matchability_a")
    return KeypointReading(
        index=index,
        x=x,
        y=y,
        score=_value(inter.get("keypoint_scores_a"), index),
        match=match,
        match_certainty=certainty,
        top_b=top_b,
        top_p=top_p,
        unmatched=_value(inter.get("unmatched_a"), index),
        active_layers=None if active is None else int(active[index]),
        stop_layer=None if stop is None else int(stop),
        matchability=()
        if matchability is None
        else tuple(float(v) for v in matchability[:, index]),
    )


def pruning_text(active_layers: int | None, stop_layer: int | None) -> str:
    """ "pruned after layer k" (0-based, the last layer it was active in) or "active through
    all n layers"; "" when either is unknown."""
    if active_layers is None or stop_layer is None:
        return ""
    if active_layers >= stop_layer:
        return f"active through all {stop_layer} layers"
    if active_layers <= 0:
        return "pruned before layer 0"
    return f"pruned after layer {active_layers - 1} (active in {active_layers} of {stop_layer})"


def layer_count(result: MatchResult) -> int:
    """Layers LightGlue ran (``stop_layer``), or 0 without its intermediates."""
    inter = result.intermediates
    if "stop_layer" not in inter or "active_layers_a" not in inter:
        return 0
    return int(inter["stop_layer"])


def active_at(result: MatchResult, side: str, layer: int) -> np.ndarray | None:
    """(K,) bool: which keypoints of ``side`` ("a" or "b") were active at LightGlue layer
    ``layer`` (0-based); None without ``active_layers_<side>``."""
    active = result.intermediates.get(f"active_layers_{side}")
    return None if active is None else np.asarray(active) > layer


def _value(array: np.ndarray | None, index: int) -> float:
    return float("nan") if array is None else float(array[index])
