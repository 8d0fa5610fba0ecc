"""RoMa's "threshold_balanced" match sampling, in memory linear in the number of samples.

RoMa (``romatch.models.matcher.RegressionMatcher.sample``) turns a dense warp into a sparse
set of matches in two draws. First it sets every certainty above ``thresh`` to 1 and draws
``4 * num`` candidates without replacement, with probability proportional to that certainty.
Then it estimates the density of the candidates' 4-vectors ``(xA, yA, xB, yB)`` with a
Gaussian kernel (``std = 0.1``, the point's own kernel included) and draws ``num`` of them
without replacement with weight ``1 / (density + 1)``, or ``1e-7`` where the density is below
10. Crowded regions are thinned out, so that the matches cover the overlap evenly, and lone
matches (fewer than about 10 close neighbours) are almost never kept.

The thresholded certainty only shapes the first draw: :func:`balanced_sample` returns the
indices of the drawn matches, so that a caller reports each match's own certainty.

The reference computes the density from ``torch.cdist(x, x)``: a ``(4 num, 4 num)`` matrix,
3.2 GB in fp16 at ``num = 10000``. :func:`kernel_density` sums the same kernels block of rows
by block of rows and never holds more than :data:`DENSITY_BUDGET` kernel values at once; and
:func:`balanced_sample` draws 25 to 30 times faster than the reference on 2 CPU cores
(``bench roma-speed`` measures both side by side), because:

* Kernels beyond a radius ``r`` are left out, where ``M exp(-r^2 / (2 std^2))`` is one unit of
  rounding of the density's dtype (``r`` is about 7 std for 20000 points in fp32). The points
  are sorted along a Z-order curve so that a block of rows lies in a small box, and only the
  points within ``r`` of that box are its columns. Each density is at least 1, so what is
  left out is below its rounding error. On the candidates of a smooth warp (a 2-D surface in
  4-D) about a quarter of the pairs fall that near a block.
* The kernel of each such pair is computed once and added to both points' densities.
* It runs in numpy on one thread: numpy's ``exp`` is about twice as fast as torch's on one
  core, and keeps its speed where it underflows (torch's CPU ``exp`` is 5 to 20 times slower
  there, and most far pairs underflow); with many small blocks, torch's second OpenMP thread
  stalls every operation when another process holds the other core.
* The distances come from coordinate differences, one coordinate at a time, not from a matrix
  product, so no precision is lost for that speed.

It also computes in fp32 where the reference uses fp16. Both see the same points and kernel,
but fp16 ``cdist`` is off by up to about 0.05 in distance (the self distance included), which
moves the reference's densities by about 0.5 % typically, up to a few percent, and about 12 %
for lone points with density near 1. Only candidates whose density lies within a few percent
of 10 can fall on the other side of the cut-off; they are about 0.1 % of them. The fp32 result
agrees with an fp64 computation to about 1e-6.

Shapes (``N`` matches, ``M`` points, ``D`` coordinates, ``n`` samples):

=============  ========  =====================================================================
name           shape     meaning
=============  ========  =====================================================================
matches        (N, 4)    ``(xA, yA, xB, yB)`` in normalised coordinates, [-1, 1]
certainty      (N,)      non-negative certainty of each match (thresholded: sampling weight)
points         (M, D)    the points whose density :func:`kernel_density` estimates
=============  ========  =====================================================================
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

DENSITY_BUDGET = 2**22
"""Most kernel values (a ``(rows, columns)`` block) that :func:`kernel_density` holds at once."""

BLOCK_ROWS = 64
"""Rows of a block of kernel values by default: small blocks lie in small boxes (fewer near
columns) and in a core's cache; 64 was the fastest of 16, 32 and 64 for 20000 points."""

GROUP_BLOCKS = 8
"""Blocks of rows whose near columns are found together first, from all the points."""

EXPANSION = 4
"""Candidates drawn per wanted sample before balancing."""

KERNEL_STD = 0.1
"""Standard deviation of the Gaussian kernel, in normalised coordinates."""

MIN_DENSITY = 10.0
"""Candidates with a lower density (fewer than about 10 close neighbours) get weight 1e-7."""

LONE_WEIGHT = 1e-7
"""Sampling weight of the candidates below :data:`MIN_DENSITY`."""


def kernel_radius(m: int, std: float, dtype: torch.dtype) -> float:
    """Distance beyond which ``m`` kernels add at most one unit of rounding (``eps``) of
    ``dtype`` to a density: ``m exp(-r^2 / (2 std^2)) = eps``."""
    return std * math.sqrt(2 * math.log(max(m, 1) / torch.finfo(dtype).eps))


def z_order(points: np.ndarray) -> np.ndarray:
    """(M,) permutation sorting ``points`` (M, D) along a Z-order (Morton) curve over their
    bounding box, so that points next in the order lie close together at every scale."""
    dims = points.shape[1]
    bits = min(20, 62 // max(dims, 1))
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.maximum(high.astype(np.float64) - low, 1e-300)
    cells = ((points - low) / span * (2**bits - 1)).astype(np.int64)
    key = np.zeros(points.shape[0], dtype=np.int64)
    for bit in range(bits):
        for dim in range(dims):
            key |= ((cells[:, dim] >> bit) & 1) << (bit * dims + dim)
    return np.argsort(key, kind="stable")


def kernel_block(rows: np.ndarray, columns: np.ndarray, scale: float) -> np.ndarray:
    """``exp(scale |rows_i - columns_j|^2)``: (R, D) rows, (D, C) columns -> (R, C).

    Squared distances from coordinate differences, one coordinate at a time (``|a|^2 + |b|^2
    - 2ab`` would cost ~5e-5 relative error in fp32), with one (R, C) scratch.
    """
    block = np.subtract(rows[:, :1], columns[0])
    np.square(block, out=block)
    scratch = np.empty_like(block)
    for dim in range(1, rows.shape[1]):
        np.subtract(rows[:, dim : dim + 1], columns[dim], out=scratch)
        np.square(scratch, out=scratch)
        block += scratch
    block *= scale
    return np.exp(block, out=block)


def near_box(rows: np.ndarray, columns: np.ndarray, limit: float) -> np.ndarray:
    """(C,) whether each column of (D, C) lies within squared distance ``limit`` of the
    bounding box of ``rows`` (R, D), which is at most its distance from any of the rows."""
    gap = np.maximum(rows.min(axis=0)[:, None] - columns, 0)
    gap += np.maximum(columns - rows.max(axis=0)[:, None], 0)
    return np.einsum("dc,dc->c", gap, gap) <= limit


@torch.no_grad()
def kernel_density(points: Tensor, std: float = KERNEL_STD, chunk: int | None = None) -> Tensor:
    """Sum of Gaussian kernels ``exp(-|p_i - p_j|^2 / (2 std^2))`` over all ``j``, self included.

    Kernels beyond :func:`kernel_radius` (together less than one unit of rounding of each
    density) are left out, and each pair's kernel is computed once, for both points. Computed
    with numpy on the CPU, on the calling thread: the blocks are many and small, and a second
    OpenMP thread that another process keeps off its core would stall every one of them.

    Args:
        points: (M, D) points, on any device.
        std: kernel standard deviation.
        chunk: rows of each ``(chunk, columns)`` block of kernel values (``columns <= M``); by
            default :data:`BLOCK_ROWS`, fewer where that would exceed :data:`DENSITY_BUDGET`.

    Returns:
        (M,) densities on the device of ``points``, in fp32 (fp64 for fp64 points). Each is at
        least 1, the point's own kernel. Not differentiable.
    """
    m = points.shape[0]
    if chunk is None:
        chunk = max(1, min(BLOCK_ROWS, DENSITY_BUDGET // max(m, 1)))
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    dtype = torch.promote_types(points.dtype, torch.float32)
    x = points.detach().to("cpu", dtype).numpy()
    order = z_order(x)
    x = x[order]
    columns = np.ascontiguousarray(x.T)  # (D, M)
    limit = kernel_radius(m, std, dtype) ** 2
    sums = np.zeros(m)  # fp64, in z order
    group = GROUP_BLOCKS * chunk
    for start in range(0, m, group):
        # The columns from `start` on near a group of rows, then near each block of its rows.
        # A block's kernels with the later columns are added to their sums too: those columns'
        # own blocks leave out the earlier ones.
        stop = min(start + group, m)
        candidates = start + np.flatnonzero(near_box(x[start:stop], columns[:, start:], limit))
        for first in range(start, stop, chunk):
            last = min(first + chunk, m)
            near = candidates[candidates >= first]
            near = near[near_box(x[first:last], columns[:, near], limit)]
            kernels = kernel_block(x[first:last], columns[:, near], -0.5 / std**2)
            sums[first:last] += kernels.sum(axis=1)
            later = np.searchsorted(near, last)  # the block's own columns come first
            sums[near[later:]] += kernels[:, later:].sum(axis=0)
    density = np.empty(m, x.dtype)
    density[order] = sums
    return torch.from_numpy(density).to(points.device)


@torch.no_grad()
def balanced_sample(
    matches: Tensor,
    certainty: Tensor,
    num: int,
    *,
    thresh: float = 0.05,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw up to ``num`` matches like RoMa's ``threshold_balanced`` mode.

    Same distribution as ``RegressionMatcher.sample``, with two differences at the edges: the
    candidates are at most the matches of non-zero certainty (``torch.multinomial`` requires
    it without replacement; the reference then fills up with zero-certainty matches on CPU),
    so an all-zero certainty, like ``num = 0``, gives no matches instead of an error.

    Args:
        matches: (N, 4) matches; any (..., 4) is flattened, as in the reference.
        certainty: (N,) non-negative certainties, shaped like ``matches`` without the last axis.
        num: how many matches to draw.
        thresh: certainties above it count as 1 in the first draw.
        generator: random generator for both draws, on the device of the tensors.

    Returns:
        (n,) int64 indices of the drawn matches into the flattened ``matches``, in the order
        drawn, ``n = min(num, N, count of non-zero certainties)``: ``matches[index]`` are the
        matches, ``certainty[index]`` their own (unthresholded) certainties.
    """
    if num < 0:
        raise ValueError(f"num must not be negative, got {num}")
    matches = matches.reshape(-1, 4)
    weight = certainty.reshape(-1).masked_fill(certainty.reshape(-1) > thresh, 1)
    candidates = min(EXPANSION * num, int(torch.count_nonzero(weight)))
    if candidates == 0:
        return torch.zeros(0, dtype=torch.long, device=matches.device)
    good = torch.multinomial(weight, candidates, replacement=False, generator=generator)
    density = kernel_density(matches[good])
    balance = torch.where(density < MIN_DENSITY, LONE_WEIGHT, 1 / (density + 1))
    picked = torch.multinomial(
        balance, min(num, candidates), replacement=False, generator=generator
    )
    return good[picked]
