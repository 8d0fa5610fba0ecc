"""RoMa's balanced match sampling, ours against romatch's, on the same candidates.

Part of ``matchscope bench roma-speed``: the parent takes our worker's grid warp and certainty,
builds the candidates our matcher samples from (:func:`core.matchers.roma.sampling_candidates`:
every grid cell of A and, symmetric, of B) and times, in one process and taking turns,
:func:`core.models.sampling.balanced_sample` and romatch's ``RegressionMatcher.sample`` in its
``threshold_balanced`` mode (the released models' mode, ``sample_thresh = 0.05``), drawing the
same number of matches. Each gets ``warmup`` untimed draws, then ``repeats`` timed ones; seconds
per draw are the mean. Both draw from the same distribution (``tests/core/models/
test_sampling.py`` checks it); each is seeded, so a run repeats.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

SAMPLE_THRESH = 0.05  # romatch's sample_thresh for the released models, and our default


def reference_sampler():
    """romatch's ``RegressionMatcher.sample`` bound to a stub in ``threshold_balanced`` mode,
    or None when romatch cannot be imported."""
    try:
        from romatch.models.matcher import RegressionMatcher
    except ImportError:
        return None
    stub = SimpleNamespace(sample_mode="threshold_balanced", sample_thresh=SAMPLE_THRESH)
    return lambda matches, certainty, num: RegressionMatcher.sample(stub, matches, certainty, num)


def measure_sampling(
    warp: np.ndarray,
    certainty: np.ndarray,
    num: int,
    symmetric: bool,
    repeats: int = 1,
    warmup: int = 1,
    with_reference: bool = True,
) -> dict:
    """Time both samplers on the candidates of warp (N', H, W, 2) and certainty (N', H, W).

    Returns ``num_samples``, ``candidates``, ``ours_s`` and ``reference_s`` (mean seconds per
    draw; ``reference_s`` None without romatch or ``with_reference``), their runs, ``speedup``
    (``reference_s / ours_s``) and ``reference_note`` (why the reference was not timed).
    """
    import torch

    from core.matchers.roma import sampling_candidates
    from core.models.sampling import balanced_sample

    matches, weights = sampling_candidates(
        torch.from_numpy(warp).float(), torch.from_numpy(certainty).float(), symmetric
    )
    reference = reference_sampler() if with_reference else None
    ours_runs, reference_runs = [], []
    for index in range(warmup + repeats):  # taking turns, seeded by the run's index
        if reference is not None:
            with torch.random.fork_rng():
                torch.manual_seed(index)
                start = time.perf_counter()
                reference(matches, weights, num)
                seconds = time.perf_counter() - start
            if index >= warmup:
                reference_runs.append(seconds)
        generator = torch.Generator().manual_seed(index)
        start = time.perf_counter()
        balanced_sample(matches, weights, num, thresh=SAMPLE_THRESH, generator=generator)
        seconds = time.perf_counter() - start
        if index >= warmup:
            ours_runs.append(seconds)
    ours_s = sum(ours_runs) / len(ours_runs)
    reference_s = sum(reference_runs) / len(reference_runs) if reference_runs else None
    note = None
    if reference is None:
        note = "not asked for (--only ours)" if not with_reference else "romatch not installed"
    return {
        "num_samples": num,
        "candidates": int(matches.shape[0]),
        "ours_s": ours_s,
        "reference_s": reference_s,
        "speedup": reference_s / ours_s if reference_s is not None and ours_s else None,
        "ours_runs_s": ours_runs,
        "reference_runs_s": reference_runs,
        "reference_note": note,
    }


def report_line(sampling: dict) -> str:
    """One line of the roma-speed report."""
    head = (
        f"balanced sampling, {sampling['num_samples']} of {sampling['candidates']:,} "
        f"candidates: ours {sampling['ours_s']:.3f} s"
    )
    if sampling["reference_s"] is None:
        return f"{head}, romatch {sampling['reference_note']}"
    return (
        f"{head}, romatch {sampling['reference_s']:.3f} s: {sampling['speedup']:.1f}x "
        "(reference_s / ours_s, same candidates and distribution)"
    )
