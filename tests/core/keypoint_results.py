"""A synthetic aliked-lightglue result with its intermediates, without a model (no Qt): six
keypoints of A, seven of B, three matches, LightGlue's assignment, pruning and layers."""

from __future__ import annotations

import numpy as np

from core.result import MatchResult, Provenance

H, W = 160, 200  # A and B
STOP = 9  # LightGlue layers run
# keypoints at least 40 px apart: a click snaps to exactly one
KEYPOINTS_A = np.float32([[20, 20], [80, 30], [150, 40], [40, 100], [120, 110], [180, 140]])
KEYPOINTS_B = np.float32(
    [[30, 25], [90, 35], [160, 45], [50, 105], [130, 115], [185, 145], [100, 70]]
)
MATCHES = np.array([[0, 2], [1, 0], [3, 5]])  # (index in A, index in B)
ACTIVE_A = np.array([9, 9, 9, 9, 2, 9])  # keypoint 4 of A is pruned after layer 1
ACTIVE_B = np.array([9, 9, 9, 9, 9, 9, 4])  # keypoint 6 of B is pruned after layer 3


def synthetic_assignment() -> np.ndarray:
    """(6, 7) P_ij: row i is a seeded spread, peaking at its match; NaN for pruned keypoints."""
    rng = np.random.default_rng(3)
    assignment = rng.uniform(0.0, 0.05, (6, 7)).astype(np.float32)
    for i, j in MATCHES:
        assignment[i, j] = 0.9
    assignment[ACTIVE_A < STOP] = np.nan
    assignment[:, ACTIVE_B < STOP] = np.nan
    return assignment


def lightglue_intermediates() -> dict[str, np.ndarray]:
    """What aliked-lightglue keeps with intermediates, for the keypoints above."""
    rng = np.random.default_rng(0)
    assignment = synthetic_assignment()
    unmatched_a = np.where(ACTIVE_A < STOP, np.nan, np.linspace(0.05, 0.6, 6)).astype(np.float32)
    unmatched_b = np.where(ACTIVE_B < STOP, np.nan, 0.3).astype(np.float32)
    layers = np.arange(STOP)[:, None]
    matchability_a = np.where(layers < ACTIVE_A, 0.5 + 0.05 * layers, np.nan).astype(np.float32)
    matchability_b = np.where(layers < ACTIVE_B, 0.4, np.nan).astype(np.float32)
    return {
        "keypoint_scores_a": np.linspace(0.1, 0.9, 6).astype(np.float32),
        "keypoint_scores_b": np.linspace(0.2, 0.8, 7).astype(np.float32),
        "score_map_a": rng.uniform(0, 1, (40, 50)).astype(np.float32),
        "score_map_b": rng.uniform(0, 1, (40, 50)).astype(np.float32),
        "assignment": assignment,
        "unmatched_a": unmatched_a,
        "unmatched_b": unmatched_b,
        "matchability_a": matchability_a,
        "matchability_b": matchability_b,
        "active_layers_a": ACTIVE_A,
        "active_layers_b": ACTIVE_B,
        "stop_layer": np.array(STOP),
    }


def keypoint_result(intermediates: dict[str, np.ndarray] | None = None) -> MatchResult:
    """A sparse result over the keypoints above (``intermediates`` default: LightGlue's)."""
    matches = np.concatenate([KEYPOINTS_A[MATCHES[:, 0]], KEYPOINTS_B[MATCHES[:, 1]]], axis=1)
    result = MatchResult(
        matches=matches,
        match_certainty=np.float32([0.9, 0.8, 0.7]),
        keypoints_a=KEYPOINTS_A,
        keypoints_b=KEYPOINTS_B,
        match_indices=MATCHES.astype(np.int32),
        intermediates=lightglue_intermediates() if intermediates is None else intermediates,
        provenance=Provenance(matcher="aliked-lightglue", size_a=(H, W), size_b=(H, W)),
    )
    result.validate()
    return result
