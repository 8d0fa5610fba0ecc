"""The ground truth of one benchmark pair as per-match and per-pixel errors (for the app's views).

:func:`ground_truth` turns a :class:`~core.bench.datasets.Pair` into a :class:`GroundTruth` that
says, for any matches or dense warp of A onto B, how far each one is from the truth, in pixels
of the images as matched:

* **homography** and **flow**: the end-point error, the distance in B between the predicted
  position and the true one (``H x``, or ``x + flow(x)`` interpolated bilinearly);
* **pose**: the symmetric epipolar distance, the mean of the distance in B of the predicted
  position from the true epipolar line of the A pixel and the distance in A of the A pixel from
  the epipolar line of the B position, with ``F = K_B^-T [t]x R K_A^-1`` from the pair's K and
  ``T_ab`` (a pose fixes only a line, not a point: the depth is unknown).

Errors are NaN where the truth is unknown (flow marked unknown, or outside A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.bench import metrics
from core.bench.datasets import FLOW, HOMOGRAPHY, POSE, Pair, read_flo
from core.coords import pixel_grid
from core.geometry import (
    epipolar_lines,
    fundamental_matrix,
    project,
    symmetric_epipolar_distance,
)

ERROR_NAMES = {POSE: "epipolar error", HOMOGRAPHY: "end-point error", FLOW: "end-point error"}


@dataclass(frozen=True)
class PixelTruth:
    """The truth at one pixel of A.

    position_b: its true (x, y) in B (homography, flow; NaN when unknown), else None.
    line_b: its epipolar line ``(a, b, c)`` in B with ``a^2 + b^2 = 1`` (pose), else None.
    error: the error in px of a predicted position in B (NaN without one or when unknown).
    """

    position_b: tuple[float, float] | None
    line_b: tuple[float, float, float] | None
    error: float


@dataclass(frozen=True, eq=False)
class ResultErrors:
    """A result's errors against the truth: ``matches`` (N,) px per match; ``dense`` (H, W) px
    per pixel of A for dense results (None for sparse ones); NaN where unknown."""

    matches: np.ndarray
    dense: np.ndarray | None


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """What is known of how A maps onto B (exactly one of the arrays is set, by ``kind``).

    homography: (3, 3) A pixel -> B pixel.
    fundamental: (3, 3) with ``[xB, yB, 1] F [xA, yA, 1]^T = 0``, unit Frobenius norm.
    flow: (H_A, W_A, 2) true displacement of each pixel of A, NaN where unknown.
    """

    kind: str
    homography: np.ndarray | None = None
    fundamental: np.ndarray | None = None
    flow: np.ndarray | None = None

    @property
    def error_name(self) -> str:
        """What the errors measure, for labels: "end-point error" or "epipolar error"."""
        return ERROR_NAMES[self.kind]

    def true_positions_b(self, points_a: np.ndarray) -> np.ndarray | None:
        """(N, 2) true B positions of (N, 2) A pixels (NaN where unknown); None for poses."""
        points_a = np.asarray(points_a, np.float64).reshape(-1, 2)
        if self.kind == HOMOGRAPHY:
            return project(self.homography, points_a)
        if self.kind == FLOW:
            return points_a + metrics.sample_flow(self.flow, points_a)
        return None

    def epipolar_lines_b(self, points_a: np.ndarray) -> np.ndarray | None:
        """(N, 3) lines ``a x + b y + c = 0`` in B (``a^2 + b^2 = 1``) on which the true
        positions of (N, 2) A pixels lie; None unless the truth is a pose."""
        if self.kind != POSE:
            return None
        return epipolar_lines(self.fundamental, points_a)

    def match_errors(self, matches: np.ndarray) -> np.ndarray:
        """(N,) error in px of each match ``[xA, yA, xB, yB]``; NaN where unknown."""
        matches = np.asarray(matches, np.float64).reshape(-1, 4)
        if self.kind == POSE:
            return self._epipolar_distances(matches[:, :2], matches[:, 2:])
        truth = self.true_positions_b(matches[:, :2])
        return np.linalg.norm(matches[:, 2:] - truth, axis=1)

    def dense_errors(self, warp_ab: np.ndarray) -> np.ndarray:
        """(H, W) error in px of a dense warp (H, W, 2) of A's pixels into B; NaN where the
        warp has no match or the truth is unknown."""
        height, width = warp_ab.shape[:2]
        grid = pixel_grid(height, width).reshape(-1, 2)
        if self.kind == FLOW and self.flow.shape[:2] != (height, width):
            raise ValueError(f"flow is {self.flow.shape[:2]} but the warp is {(height, width)}")
        predicted = np.asarray(warp_ab, np.float64).reshape(-1, 2)
        if self.kind == POSE:
            errors = self._epipolar_distances(grid, predicted)
        elif self.kind == FLOW:
            errors = np.linalg.norm(predicted - (grid + self.flow.reshape(-1, 2)), axis=1)
        else:
            errors = np.linalg.norm(predicted - project(self.homography, grid), axis=1)
        return errors.reshape(height, width).astype(np.float32)

    def at_pixel(
        self, xa: float, ya: float, xb: float = float("nan"), yb: float = float("nan")
    ) -> PixelTruth:
        """The truth at A's pixel (xa, ya) and the error of the predicted B position (xb, yb)."""
        point = np.array([[xa, ya]], np.float64)
        position = self.true_positions_b(point)
        line = self.epipolar_lines_b(point)
        error = float(self.match_errors(np.array([[xa, ya, xb, yb]]))[0])
        return PixelTruth(
            None if position is None else (float(position[0, 0]), float(position[0, 1])),
            None if line is None else tuple(float(v) for v in line[0]),
            error,
        )

    def errors_of(self, result) -> ResultErrors:
        """The errors of a :class:`~core.result.MatchResult`: ``dense`` for every result with a
        warp, however few pixels it predicts; None for sparse ones."""
        dense = None if result.is_sparse else self.dense_errors(result.warp_ab)
        return ResultErrors(self.match_errors(result.matches).astype(np.float32), dense)

    def _epipolar_distances(self, points_a: np.ndarray, points_b: np.ndarray) -> np.ndarray:
        return symmetric_epipolar_distance(self.fundamental, points_a, points_b)


def ground_truth(pair: Pair) -> GroundTruth:
    """The pair's ground truth in the pixels of its images as matched (turned as the dataset
    says); a flow file is read here (:class:`~core.errors.InputError` if it is broken)."""
    if pair.homography is not None:
        return GroundTruth(HOMOGRAPHY, homography=np.asarray(pair.homography, np.float64))
    if pair.flow_path is not None:
        return GroundTruth(FLOW, flow=read_flo(pair.flow_path))
    T_ab = np.asarray(pair.T_ab, np.float64)
    if np.linalg.norm(T_ab[:3, 3]) < 1e-12:  # a pure rotation fixes the point: K_B R K_A^-1
        homography = pair.K_b @ T_ab[:3, :3] @ np.linalg.inv(pair.K_a)
        return GroundTruth(HOMOGRAPHY, homography=homography)
    return GroundTruth(POSE, fundamental=fundamental_matrix(pair.K_a, pair.K_b, T_ab))
