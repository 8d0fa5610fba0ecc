"""Balanced match sampling against RoMa's ``threshold_balanced`` mode (``romatch``).

The kernel density is compared number for number (with fp64 exactly, with romatch's fp16
``kde`` within fp16's error); the sampler, which draws with a different random stream than the
reference, is compared in distribution: where on a synthetic 64 x 64 warp the picked matches
fall over many seeded draws. Everything is seeded, so the outcome is fixed.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch.overrides import TorchFunctionMode

from core.models import sampling
from core.models.sampling import balanced_sample, kernel_density

ROMATCH_MISSING = "romatch is not importable: pip install --no-deps romatch einops loguru kornia"
RUNS = 100  # seeded draws per sampler in the distribution tests
NUM = 250  # matches per draw: 1000 candidates out of the 4096 matches
SIGNIFICANCE = 1e-3


def _romatch(module: str):
    return pytest.importorskip(module, reason=ROMATCH_MISSING, exc_type=ImportError)


def _points(m: int, seed: int = 0) -> torch.Tensor:
    """(m, 4) points in [-1, 1]: a tight cluster, a looser one and a uniform spread."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(m, 4, generator=g) * 2 - 1
    third = m // 3
    x[:third] = x[:third] * 0.15 + 0.3
    x[third : 2 * third] = x[third : 2 * third] * 0.3 - 0.3
    return x


def _exact_density(x: torch.Tensor, std: float = 0.1) -> torch.Tensor:
    """(M,) kernel density in fp64, from coordinate differences (no cdist)."""
    x = x.double()
    rows = [
        torch.exp(-(part[:, None, :] - x[None]).square().sum(-1) / (2 * std**2)).sum(-1)
        for part in x.split(256)
    ]
    return torch.cat(rows)


class _LargestTensor(TorchFunctionMode):
    """Records the most elements of any tensor that a torch function call returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for item in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(item, torch.Tensor):
                self.largest = max(self.largest, item.numel())
        return out


class _Blocks:
    """Records the blocks of kernel values that kernel_density computes (numpy, not torch)."""

    def __init__(self, monkeypatch):
        self.largest = self.total = 0
        compute = sampling.kernel_block

        def spy(rows, columns, scale):
            block = compute(rows, columns, scale)
            self.largest = max(self.largest, block.size)
            self.total += block.size
            return block

        monkeypatch.setattr(sampling, "kernel_block", spy)


@pytest.fixture
def blocks(monkeypatch) -> _Blocks:
    return _Blocks(monkeypatch)


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    """(4096, 4) matches and (4096,) certainties on a 64 x 64 grid of A, in four bands of rows.

    Rows 0-15: a dense cluster (A and B squeezed into a small blob), density ~60-150 among the
    candidates. Rows 16-31: identity warp, density ~5-30, certainty rising from 0.01 to 0.5
    across the columns (below and above the threshold). Rows 32-47: random B, lone matches
    (density < 5). Rows 48-63: identity warp with certainty 0.02, below the threshold.
    """
    g = torch.Generator().manual_seed(0)
    s = torch.linspace(-1, 1, 64)
    yy, xx = torch.meshgrid(s, s, indexing="ij")
    a = torch.stack([xx, yy], dim=-1)
    b = a.clone()
    certainty = torch.full((64, 64), 0.5)
    a[:16] = a[:16] * torch.tensor([0.15, 0.6])
    b[:16] = a[:16] * 0.5 + 0.3
    a[16:32] = a[16:32] * torch.tensor([0.5, 1.0])
    b[16:32] = a[16:32]
    certainty[16:32] = torch.linspace(0.01, 0.5, 64)
    b[32:48] = torch.rand(16, 64, 2, generator=g) * 2 - 1
    certainty[48:] = 0.02
    return torch.cat([a, b], dim=-1).reshape(-1, 4), certainty.reshape(-1)


def _block_counts(picked: torch.Tensor, matches: torch.Tensor) -> torch.Tensor:
    """(256,) how many picked matches fall in each 4 x 4 block of the 64 x 64 grid."""
    index = torch.cdist(picked, matches).argmin(dim=1)
    return torch.bincount((index // 256) * 16 + (index % 64) // 4, minlength=256)


def _pooled_counts(draw) -> torch.Tensor:
    """(256,) block counts summed over ``RUNS`` draws; ``draw(seed)`` returns (n, 4) matches."""
    matches, _ = _scene()
    return sum(_block_counts(draw(seed), matches) for seed in range(RUNS))


def _reference_draw(seed: int) -> torch.Tensor:
    matcher = _romatch("romatch.models.matcher")
    stub = SimpleNamespace(sample_mode="threshold_balanced", sample_thresh=0.05)
    matches, certainty = _scene()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        picked, _ = matcher.RegressionMatcher.sample(stub, matches, certainty, NUM)
    return picked


def _our_draw(seed: int) -> torch.Tensor:
    matches, certainty = _scene()
    generator = torch.Generator().manual_seed(100_000 + seed)
    return matches[balanced_sample(matches, certainty, NUM, generator=generator)]


def _plain_draw(seed: int) -> torch.Tensor:
    """Certainty sampling without balancing (RoMa's plain ``threshold`` mode)."""
    matches, certainty = _scene()
    weight = certainty.masked_fill(certainty > 0.05, 1)
    generator = torch.Generator().manual_seed(seed)
    return matches[torch.multinomial(weight, NUM, replacement=False, generator=generator)]


def _same_distribution_p(a: torch.Tensor, b: torch.Tensor) -> float:
    """p-value of a chi-square test that two pooled block counts come from one distribution.

    Draws without replacement vary less than the test assumes, so it errs towards accepting.
    """
    stats = pytest.importorskip("scipy.stats")
    keep = (a + b) > 0
    return stats.chi2_contingency(torch.stack([a[keep], b[keep]]).numpy())[1]


@pytest.fixture(scope="module")
def reference_counts() -> torch.Tensor:
    return _pooled_counts(_reference_draw)


@pytest.fixture(scope="module")
def our_counts() -> torch.Tensor:
    return _pooled_counts(_our_draw)


@pytest.mark.parametrize(("m", "chunk"), [(737, 100), (737, 737), (500, 7), (1, None)])
def test_kernel_density_matches_fp64(m, chunk):
    x = _points(m)
    got = kernel_density(x, chunk=chunk)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _exact_density(x), rtol=1e-5, atol=0)


def test_kernel_density_std_and_fp64_input():
    x = _points(300, seed=1).double()
    got = kernel_density(x, std=0.23, chunk=64)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, _exact_density(x, std=0.23), rtol=1e-12, atol=0)


def test_kernel_density_leaves_out_only_far_kernels(blocks):
    """Spread over [-4, 4]^4, most pairs lie beyond the radius: their kernels are not computed,
    and what they would add stays below fp32's rounding of each density."""
    x = torch.rand(2000, 4, generator=torch.Generator().manual_seed(4)) * 8 - 4
    got = kernel_density(x, chunk=50)
    assert blocks.total < 0.1 * x.shape[0] ** 2
    exact = _exact_density(x)
    assert exact.min() < 1.01  # lone points, whose density the far kernels would move most
    torch.testing.assert_close(got.double(), exact, rtol=1e-6, atol=0)


def test_kernel_density_computes_each_pair_once(blocks):
    x = _points(1000, seed=5) * 0.01  # all within the radius of each other
    got = kernel_density(x, chunk=50)
    assert blocks.total == sum(50 * (1000 - first) for first in range(0, 1000, 50))
    torch.testing.assert_close(got.double(), _exact_density(x), rtol=1e-6, atol=0)


def test_kernel_radius_bounds_the_left_out_kernels():
    radius = sampling.kernel_radius(20000, 0.1, torch.float32)
    left_out = 20000 * math.exp(-(radius**2) / (2 * 0.1**2))
    assert left_out == pytest.approx(torch.finfo(torch.float32).eps)
    assert 0.7 < radius < 0.75  # about 7 std


def test_kernel_density_matches_reference_kde_within_fp16():
    kde = _romatch("romatch.utils.kde").kde
    x = _points(1501, seed=2)
    exact = _exact_density(x)
    ours = kernel_density(x, chunk=256).double()
    ref = kde(x, std=0.1).double()
    # fp16 cdist errs by up to ~0.05 in distance: a few percent, or ~0.2 for lone points.
    torch.testing.assert_close(ours, ref, rtol=0.05, atol=0.3)
    assert ((ours - ref).abs() / ours).median() < 0.01
    # The fp16 error is the reference's: ours is ~1e4 times closer to the exact density.
    assert (ours - exact).abs().max() < 1e-4 * (ref - exact).abs().max()
    # The cut-off at density 10 is crossed only by candidates within a few percent of it.
    assert ((exact - 10).abs() < 1).sum() > 50  # ~100 points lie close to it
    flipped = (ours < 10) != (ref < 10)
    assert flipped.float().mean() < 0.005
    assert ((exact[flipped] - 10).abs() < 0.5).all()


def test_kernel_density_holds_one_block_of_rows(blocks, monkeypatch):
    x = _points(3000)
    default = kernel_density(x)
    assert blocks.largest <= sampling.BLOCK_ROWS * x.shape[0] <= sampling.DENSITY_BUDGET
    blocks.largest = 0
    monkeypatch.setattr(sampling, "DENSITY_BUDGET", 10 * x.shape[0])
    small = kernel_density(x)
    assert 4 * x.shape[0] < blocks.largest <= 10 * x.shape[0]
    torch.testing.assert_close(small, default, rtol=1e-6, atol=0)


def test_balanced_sample_memory_is_linear(blocks, monkeypatch):
    matches, certainty = _scene()
    num = 1000  # 4000 candidates: the reference's cdist would hold 16e6 values
    monkeypatch.setattr(sampling, "DENSITY_BUDGET", 2**14)
    with _LargestTensor() as mode:
        picked = balanced_sample(matches, certainty, num, generator=torch.Generator())
    assert picked.shape == (num,)
    assert mode.largest <= matches.numel()
    assert 0 < blocks.largest <= 2**14


def test_kernel_density_rejects_bad_chunk():
    with pytest.raises(ValueError, match="chunk"):
        kernel_density(_points(10), chunk=0)


def test_same_distribution_as_reference(reference_counts, our_counts):
    assert our_counts.sum() == reference_counts.sum() == RUNS * NUM
    assert _same_distribution_p(reference_counts, our_counts) > SIGNIFICANCE


def test_distribution_test_has_power(reference_counts, monkeypatch):
    """The comparison above notices a cut-off moved from density 10 to 12."""
    monkeypatch.setattr(sampling, "MIN_DENSITY", 12.0)
    assert _same_distribution_p(reference_counts, _pooled_counts(_our_draw)) < SIGNIFICANCE


def test_balancing_flattens_density(reference_counts, our_counts):
    plain = _pooled_counts(_plain_draw).reshape(4, 64).sum(dim=1)  # per band of 16 rows
    assert plain[2] > 0.25 * plain.sum()
    for counts in (reference_counts, our_counts):
        band = counts.reshape(4, 64).sum(dim=1)
        # The dense cluster loses ground to the medium band; the lone matches all but vanish.
        assert band[0] / band[1] < 0.8 * plain[0] / plain[1]
        assert band[2] < 0.001 * band.sum()


def test_thresholded_draw_reports_own_certainty():
    # One tight blob, so that balancing keeps everything; half of it below the threshold.
    matches = _points(400, seed=3) * 0.05
    certainty = torch.tensor([0.03, 0.9]).repeat(200)
    index = balanced_sample(matches, certainty, 50, generator=torch.Generator().manual_seed(0))
    assert index.dtype == torch.int64 and torch.unique(index).shape == (50,)
    low = (certainty[index] == 0.03).sum()
    assert (certainty[index] == 0.9).sum() == 50 - low
    # drawn in proportion to the thresholded weights 0.03 : 1, so ~1.5 of 50 are below it
    assert 0 < low < 10


def test_num_larger_than_matches():
    matches, certainty = _points(50), torch.linspace(0.01, 1, 50)
    generator = torch.Generator().manual_seed(0)
    index = balanced_sample(matches, certainty, 1000, generator=generator)
    assert torch.equal(index.sort().values, torch.arange(50))


def test_fewer_nonzero_certainties_than_candidates():
    """Only the 30 matches of non-zero certainty are candidates (the reference adds 50 more)."""
    matches, certainty = _points(100), torch.zeros(100)
    certainty[:30] = 0.5
    generator = torch.Generator().manual_seed(0)
    index = balanced_sample(matches, certainty, 20, generator=generator)
    assert index.shape == (20,)
    assert (index < 30).all()


@pytest.mark.parametrize(
    ("certainty", "num"),
    [(torch.zeros(64), 10), (torch.ones(64), 0), (torch.zeros(0), 10)],
    ids=["all-zero", "num-0", "no-matches"],
)
def test_empty_result(certainty, num):
    index = balanced_sample(_points(certainty.shape[0]), certainty, num)
    assert index.shape == (0,) and index.dtype == torch.int64


def test_negative_num_is_rejected():
    with pytest.raises(ValueError, match="num"):
        balanced_sample(_points(10), torch.ones(10), -1)


def test_same_generator_seed_same_draw():
    matches, certainty = _scene()
    first = balanced_sample(matches, certainty, NUM, generator=torch.Generator().manual_seed(7))
    again = balanced_sample(matches, certainty, NUM, generator=torch.Generator().manual_seed(7))
    other = balanced_sample(matches, certainty, NUM, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_accepts_a_dense_warp():
    """Like the reference, (H, W, 4) matches and (H, W) certainty are flattened."""
    matches, certainty = _scene()
    generator = torch.Generator().manual_seed(3)
    flat = balanced_sample(matches, certainty, NUM, generator=generator)
    generator = torch.Generator().manual_seed(3)
    grid = balanced_sample(
        matches.reshape(64, 64, 4), certainty.reshape(64, 64), NUM, generator=generator
    )
    assert torch.equal(grid, flat)
