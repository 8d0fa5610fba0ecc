"""RoMa's "threshold_balanced" match sampling, in memory linear in the number of samples.

RoMa (``romatch.models.matcher.RegressionMatcher.sample``) turns a dense warp into a sparse
set of matches in two draws. First it sets every certainty above ``thresh`` to 1 and draws
``4 * num`` candidates without replacement, with probability proportional to that certainty.
Then it estimates the density of the candidates' 4-vectors ``(xA, yA, xB, yB)`` with a
Gaussian kernel (``std = 0.1``, the point's own kernel included) and draws ``num`` of them
without replacement with weight ``1 / (density + 1)``, or ``1e-7`` where the density is below
10. Crowded regions are thinned out, so that the matches cover the overlap evenly, and lone
matches (fewer than about 10 close neighbours) are almost never kept.

The reference computes the density from ``torch.cdist(x, x)``: a ``(4 num, 4 num)`` matrix,
3.2 GB in fp16 at ``num = 10000``. :func:`kernel_density` sums the same kernels block of rows
by block of rows, and never holds more than :data:`DENSITY_BUDGET` kernel values at once.

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
certainty      (N,)      non-negative sampling weight of each match
points         (M, D)    the points whose density :func:`kernel_density` estimates
=============  ========  =====================================================================
"""

from __future__ import annotations

import torch
from torch import Tensor

DENSITY_BUDGET = 2**22
"""Most kernel values (a ``(rows, M)`` block) that :func:`kernel_density` holds at once."""

EXPANSION = 4
"""Candidates drawn per wanted sample before balancing."""

KERNEL_STD = 0.1
"""Standard deviation of the Gaussian kernel, in normalised coordinates."""

MIN_DENSITY = 10.0
"""Candidates with a lower density (fewer than about 10 close neighbours) get weight 1e-7."""

LONE_WEIGHT = 1e-7
"""Sampling weight of the candidates below :data:`MIN_DENSITY`."""


@torch.no_grad()
def kernel_density(points: Tensor, std: float = KERNEL_STD, chunk: int | None = None) -> Tensor:
    """Sum of Gaussian kernels ``exp(-|p_i - p_j|^2 / (2 std^2))`` over all ``j``, self included.

    Args:
        points: (M, D) points.
        std: kernel standard deviation.
        chunk: rows of the ``(chunk, M)`` block of kernel values computed at a time; by default
            as many as fit in :data:`DENSITY_BUDGET` elements (at least one).

    Returns:
        (M,) densities, in fp32 (fp64 for fp64 points). Each is at least 1, the point's own
        kernel. Not differentiable.
    """
    m = points.shape[0]
    if chunk is None:
        chunk = max(1, DENSITY_BUDGET // max(m, 1))
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    x = points.to(torch.promote_types(points.dtype, torch.float32))
    density = x.new_empty(m)
    scale = -0.5 / std**2
    for start in range(0, m, chunk):
        # Direct differences: |a|^2 + |b|^2 - 2ab would cost ~5e-5 relative error in fp32.
        block = torch.cdist(
            x[start : start + chunk], x, compute_mode="donot_use_mm_for_euclid_dist"
        )
        density[start : start + chunk] = block.square_().mul_(scale).exp_().sum(dim=-1)
    return density


@torch.no_grad()
def balanced_sample(
    matches: Tensor,
    certainty: Tensor,
    num: int,
    *,
    thresh: float = 0.05,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Draw up to ``num`` matches like RoMa's ``threshold_balanced`` mode.

    Same distribution as ``RegressionMatcher.sample``, with two differences at the edges: the
    candidates are at most the matches of non-zero certainty (``torch.multinomial`` requires
    it without replacement; the reference then fills up with zero-certainty matches on CPU),
    so an all-zero certainty, like ``num = 0``, gives no matches instead of an error.

    Args:
        matches: (N, 4) matches; any (..., 4) is flattened, as in the reference.
        certainty: (N,) non-negative certainties, shaped like ``matches`` without the last axis.
        num: how many matches to draw.
        thresh: certainties above it count as 1.
        generator: random generator for both draws, on the device of the tensors.

    Returns:
        (n, 4) matches and (n,) their certainties after thresholding (so 1 above ``thresh``),
        ``n = min(num, N, count of non-zero certainties)``.
    """
    if num < 0:
        raise ValueError(f"num must not be negative, got {num}")
    matches = matches.reshape(-1, 4)
    certainty = certainty.reshape(-1)
    certainty = certainty.masked_fill(certainty > thresh, 1)
    candidates = min(EXPANSION * num, int(torch.count_nonzero(certainty)))
    if candidates == 0:
        return matches[:0], certainty[:0]
    good = torch.multinomial(certainty, candidates, replacement=False, generator=generator)
    good_matches, good_certainty = matches[good], certainty[good]
    density = kernel_density(good_matches)
    weight = torch.where(density < MIN_DENSITY, LONE_WEIGHT, 1 / (density + 1))
    picked = torch.multinomial(weight, min(num, candidates), replacement=False, generator=generator)
    return good_matches[picked], good_certainty[picked]
