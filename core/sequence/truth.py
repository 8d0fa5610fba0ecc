"""Ground truth of a pair of a sequence, from its poses and intrinsics (no Qt)."""

from __future__ import annotations

import numpy as np

from core.bench.truth import POSE, GroundTruth
from core.geometry import fundamental_matrix, relative_pose
from core.sequence.base import SequenceReader


def pair_ground_truth(
    reader: SequenceReader, position_a: int, position_b: int
) -> GroundTruth | None:
    """The epipolar ground truth of frames ``position_a`` -> ``position_b`` (their poses and the
    camera's K); None without intrinsics, without a pose for either frame, or for two frames
    at the same place (no baseline: no epipolar geometry)."""
    if reader.poses is None or reader.intrinsics is None:
        return None
    T_wa, T_wb = reader.poses[position_a], reader.poses[position_b]
    if not (np.isfinite(T_wa).all() and np.isfinite(T_wb).all()):
        return None
    T_ab = relative_pose(T_wa, T_wb)
    if np.linalg.norm(T_ab[:3, 3]) < 1e-9:
        return None
    K = reader.intrinsics.K
    return GroundTruth(POSE, fundamental=fundamental_matrix(K, K, T_ab))
