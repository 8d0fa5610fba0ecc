"""``matchscope bench pairs``: matchers scored against a dataset's ground truth.

Every matcher runs on every pair of the dataset (:func:`core.bench.datasets.open_dataset`)
through :func:`core.run.run_match`, in the order the dataset lists them; its matches (and, for
flow, its dense warp) are scored with :mod:`core.bench.metrics`:

* **pose**: the dataset's :class:`~core.bench.datasets.PoseProtocol` (``pairs_with_gt.txt``
  and KITTI folders: ``../shared/data/README.md``'s protocol, 1 px over the mean ``fx``, prob
  0.999, one run; MegaDepth-1500 and ScanNet-1500: RoMa's, 0.5 px over the mean of ``fx`` and
  ``fy`` at 1200 px longer side / 480 px shorter side, prob 0.99999, 5000 matches, 5 runs).
  ``--ransac-runs`` overrides the number of runs; every run's error enters the AUC (as RoMa
  pools them) and a pair's reported error is the median over its runs. As RoMa, a pair's
  matches are cut to at most 5000 once (a random subset, seed 0) and the runs after the first
  shuffle that subset (seeded; :func:`run_order`), so that RANSAC draws different samples.
  What still differs from RoMa's printed numbers: RoMa scores a run whose estimation fails as
  90 degrees, we as ``inf`` (the same AUC@5/10/20); RoMa's ScanNet script appends each pair's
  last run once more (6 errors per pair), we keep the 5 runs; RoMa samples and shuffles
  unseeded (see also :mod:`core.bench.datasets`).
* **homography**: MAGSAC++ at 3 px, mean corner error, AUC@3/5/10 px over pairs, PCK@1/3/5 px
  of the matches averaged over pairs; ``mean_corner_error_px`` is the mean over the pairs where
  a homography was found (the others count as failures in the AUC and are ``null`` per pair).
* **flow**: EPE, PCK@1/3/5 px and coverage per pair, averaged over pairs. A result with a warp
  is scored densely, a sparse one (``MatchResult.is_sparse``) over its matches, whatever their
  number; dense results: EPE over the predicted pixels with a known true flow, PCK over every
  pixel with a known true flow (one without a prediction is wrong), ``coverage`` the predicted
  fraction of those (the mean over the pairs scored densely; ``null`` for sparse matchers).

``seconds_per_pair`` is the mean wall-clock time of ``run_match`` (loading the images and
scoring excluded). ``peak_mb`` is the most memory one match needed, over the matcher's pairs:
the peak resident set of this process during ``run_match`` minus the resident set just before
it. Before each match, freed memory is handed back to the system (``gc.collect`` and glibc's
``malloc_trim``) and the kernel's high-water mark (``VmHWM``) is reset by writing 5 to
``/proc/self/clear_refs``; it is read after the match (where that file cannot be written, the
resident set is sampled every 2 ms; see :class:`core.bench.measure.PeakMemory`). So it counts
the matcher's working memory, its result, and weights it loads during a match (RoMa does on its
first pair), but not what the process held before (Python, libraries such as torch that another
matcher of the same run imported, the two images); GPU memory is not in it. MB are 2^20 bytes.

A matcher whose weights are missing (when it is built, or on its first pair as RoMa) is
reported as ``{"skipped": reason}`` and the others still run; a wrong option stops the benchmark
(exit status 2). Any other exception of a matcher on a pair (a plugin's ``RuntimeError``, a
broken result contract, running out of memory) fails that pair only: it counts with an infinite
error, its one-line message is the pair's ``error_message`` and the run goes on, also for a
matcher that fails on every pair. Infinite and undefined numbers are written to JSON as
``null`` (a failed pair's ``error`` is ``null``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.bench import measure, metrics
from core.bench.datasets import (
    HOMOGRAPHY,
    POSE,
    Dataset,
    Pair,
    PoseProtocol,
    load_pair_images,
    open_dataset,
    read_flo,
)
from core.errors import Cancelled, InputError, MatchscopeError

MB = 2**20
DEFAULT_MATCHERS = ("sift",)


@dataclass(frozen=True)
class PairScore:
    """One pair's evaluation.

    error: the pair's headline error, ``inf`` when it failed: pose, the median over the RANSAC
        runs of the pose error (degrees); homography, the mean corner error (px); flow, the EPE
        (px).
    run_errors: pose errors (degrees) of each RANSAC run.
    pck: homography and flow, the fraction of matches or pixels within each of
        :data:`core.bench.metrics.PCK_THRESHOLDS_PX`.
    coverage: flow scored densely, the fraction of the pixels with a known true flow that the
        warp predicts; NaN otherwise.
    failure: the one-line message of the matcher's exception on this pair ("" if it ran).
    """

    error: float
    run_errors: tuple[float, ...] = ()
    pck: tuple[float, ...] = ()
    coverage: float = math.nan
    failure: str = ""


# ---------------------------------------------------------------------------------------------
# Scoring one pair


def rescale_view(
    points: np.ndarray, K: np.ndarray, size_hw: tuple[int, int], eval_side: tuple[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixels and (3, 3) K as if the image's ``"longer"``/``"shorter"`` side were
    ``eval_side[1]`` px long (pixel centres map to pixel centres: ``p' = s (p + 0.5) - 0.5``).

    Points and K are in OpenCV's convention and move together, so the normalised coordinates
    ``K^-1 p`` do not change; with MegaDepth's K read as :mod:`core.bench.datasets` does (COLMAP's
    moved by half a pixel) they equal RoMa's, which scales COLMAP's K and corner-origin points
    by ``s`` alone."""
    side, length = eval_side
    scale = length / (max(size_hw) if side == "longer" else min(size_hw))
    shift = 0.5 * scale - 0.5
    A = np.array([[scale, 0.0, shift], [0.0, scale, shift], [0.0, 0.0, 1.0]])
    return points * scale + shift, A @ K


def run_order(count: int, limit: int | None, run: int) -> np.ndarray | slice:
    """Which of ``count`` matches RANSAC run ``run`` gets, in which order.

    The matches used are all of them, or with ``limit`` (fewer than ``count``) a random subset
    of ``limit`` drawn with seed 0, the same in every run (RoMa samples its 5000 matches once
    per pair). Run 0 takes them in their order; later runs a permutation of them seeded by
    ``run`` (RoMa shuffles the matches between runs: OpenCV 5's ``findEssentialMat`` does not
    follow ``cv2.setRNGSeed``)."""
    if limit is not None and count > limit:
        subset = np.sort(np.random.default_rng(0).choice(count, limit, replace=False))
    elif run == 0:
        return slice(None)
    else:
        subset = np.arange(count)
    if run == 0:
        return subset
    return subset[np.random.default_rng(run).permutation(len(subset))]


def score_pose(
    pair: Pair, matches: np.ndarray, sizes: tuple[tuple[int, int], ...], protocol: PoseProtocol
) -> PairScore:
    """Pose errors of ``protocol.runs`` RANSAC runs (seeds 0, 1, ..., matches cut and reordered
    by :func:`run_order`, threshold normalised by ``protocol.focal``) on (N, 4) matches;
    ``sizes``: (H, W) of A and B as matched."""
    pts_a, pts_b, K_a, K_b = matches[:, :2], matches[:, 2:], pair.K_a, pair.K_b
    if protocol.eval_side is not None:
        pts_a, K_a = rescale_view(pts_a, K_a, sizes[0], protocol.eval_side)
        pts_b, K_b = rescale_view(pts_b, K_b, sizes[1], protocol.eval_side)
    errors = []
    for run in range(protocol.runs):
        keep = run_order(len(matches), protocol.max_matches, run)
        error = metrics.relative_pose_error_deg(
            pts_a[keep],
            pts_b[keep],
            K_a,
            K_b,
            pair.T_ab,
            protocol.threshold_px,
            protocol.prob,
            run,
            protocol.focal,
        )
        errors.append(error)
    return PairScore(float(np.median(errors)), tuple(errors))


def score_homography(pair: Pair, matches: np.ndarray, size_a: tuple[int, int]) -> PairScore:
    """Mean corner error of the MAGSAC++ homography and PCK of the (N, 4) matches."""
    estimate = metrics.estimate_homography(matches[:, :2], matches[:, 2:])
    error = metrics.corner_error_px(estimate, pair.homography, size_a)
    distances = metrics.homography_match_errors(pair.homography, matches)
    return PairScore(error, pck=tuple(metrics.fraction_below(distances, metrics.PCK_THRESHOLDS_PX)))


def score_flow(pair: Pair, result) -> PairScore:
    """EPE, PCK and coverage against the pair's ``.flo`` of a
    :class:`~core.result.MatchResult`: of its warp, or of its matches when it is sparse."""
    flow = read_flo(pair.flow_path)
    height, width = result.size_a
    if flow.shape[:2] != (height, width):
        raise InputError(
            pair.flow_path,
            f"flow is {flow.shape[1]}x{flow.shape[0]} but {pair.name_a} is {width}x{height}",
        )
    coverage = math.nan
    if result.is_sparse:
        errors = metrics.sparse_flow_errors(np.asarray(result.matches, np.float64), flow)
    else:
        errors = metrics.dense_flow_errors(result.warp_ab, flow)
        coverage = float(np.isfinite(errors).mean()) if errors.size else 0.0
    predicted = errors[np.isfinite(errors)]
    epe = float(predicted.mean()) if predicted.size else math.inf
    pck = tuple(metrics.fraction_below(errors, metrics.PCK_THRESHOLDS_PX))
    return PairScore(epe, pck=pck, coverage=coverage)


def score_pair(dataset: Dataset, pair: Pair, result, protocol: PoseProtocol | None) -> PairScore:
    """Score one :class:`~core.result.MatchResult` against the pair's ground truth."""
    matches = np.asarray(result.matches, np.float64)
    if dataset.kind == POSE:
        return score_pose(pair, matches, (result.size_a, result.provenance.size_b), protocol)
    if dataset.kind == HOMOGRAPHY:
        return score_homography(pair, matches, result.size_a)
    return score_flow(pair, result)


# ---------------------------------------------------------------------------------------------
# Summaries


def _keyed(thresholds, values) -> dict[str, float]:
    return {
        str(threshold): float(value) for threshold, value in zip(thresholds, values, strict=True)
    }


def failed_score(protocol: PoseProtocol | None, failure: str) -> PairScore:
    """The score of a pair the matcher failed on (with the one-line ``failure``): infinite
    errors, no PCK."""
    runs = protocol.runs if protocol is not None else 1
    pck = (0.0,) * len(metrics.PCK_THRESHOLDS_PX)
    return PairScore(math.inf, (math.inf,) * runs, pck, failure=failure)


def _finite_mean(values) -> float | None:
    finite = [value for value in values if math.isfinite(value)]
    return float(np.mean(finite)) if finite else None


def _mean_pck(scores: list[PairScore]) -> dict[str, float]:
    table = np.array([score.pck for score in scores], np.float64).reshape(len(scores), -1)
    means = table.mean(axis=0) if len(scores) else np.zeros(len(metrics.PCK_THRESHOLDS_PX))
    return _keyed(metrics.PCK_THRESHOLDS_PX, means)


def summarise(kind: str, scores: list[PairScore]) -> dict:
    """The accuracy metrics of a list of pair scores (see the module docstring)."""
    if kind == POSE:
        pooled = [error for score in scores for error in score.run_errors]
        auc = metrics.pose_auc(pooled, metrics.POSE_THRESHOLDS_DEG)
        return {"auc": _keyed(metrics.POSE_THRESHOLDS_DEG, auc)}
    errors = [score.error for score in scores]
    if kind == HOMOGRAPHY:
        auc = metrics.pose_auc(errors, metrics.HOMOGRAPHY_THRESHOLDS_PX)
        return {
            "auc_px": _keyed(metrics.HOMOGRAPHY_THRESHOLDS_PX, auc),
            "mean_corner_error_px": _finite_mean(errors),
            "pck": _mean_pck(scores),
        }
    coverage = _finite_mean([score.coverage for score in scores])
    return {"epe": _finite_mean(errors), "pck": _mean_pck(scores), "coverage": coverage}


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _mean_seconds(seconds) -> float | None:
    """Mean of the timed pairs (NaN marks a failed pair)."""
    timed = [value for value in seconds if math.isfinite(value)]
    return float(np.mean(timed)) if timed else None


def _pair_entry(pair: Pair, score: PairScore) -> dict:
    """A pair's JSON entry; a failed one (``error`` null) has its ``error_message``."""
    entry = {"a": pair.name_a, "b": pair.name_b, "error": _json_number(score.error)}
    if score.failure:
        entry["error_message"] = score.failure
    return entry


def matcher_entry(
    dataset: Dataset, pairs: list[Pair], scores: list[PairScore], seconds: list[float], peak: int
) -> dict:
    """The JSON entry of one matcher (with per-sequence metrics for folders of sequences);
    ``seconds``: each pair's matching time, NaN where the matcher failed; ``peak`` in bytes."""
    entry = {
        "pairs": len(scores),
        "kind": dataset.kind,
        **summarise(dataset.kind, scores),
        "seconds_per_pair": _mean_seconds(seconds),
        "peak_mb": peak / MB,
        "per_pair": [_pair_entry(pair, score) for pair, score in zip(pairs, scores, strict=True)],
    }
    if dataset.sequences:
        entry["sequences"] = {}
        for sequence in dict.fromkeys(pair.sequence for pair in pairs):
            picked = [i for i, pair in enumerate(pairs) if pair.sequence == sequence]
            entry["sequences"][sequence] = {
                "pairs": len(picked),
                "kind": dataset.kind,
                **summarise(dataset.kind, [scores[i] for i in picked]),
                "seconds_per_pair": _mean_seconds([seconds[i] for i in picked]),
            }
    return entry


# ---------------------------------------------------------------------------------------------
# Running


def one_line(error: Exception) -> str:
    """An error's message, first clause only, on one line."""
    return " ".join(str(error).split(";")[0].split())


def failure_message(error: Exception) -> str:
    """One line for any exception of a matcher: our errors' first clause; for others (a
    plugin's bug) the exception's type and the first line of its message."""
    if isinstance(error, MatchscopeError):
        return one_line(error)
    if isinstance(error, MemoryError):
        return "out of memory"
    first_line = (str(error).strip().splitlines() or [""])[0].strip()
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


def build_matchers(settings: dict[str, dict]) -> dict[str, object]:
    """Each matcher built with its settings, or the one-line reason it is skipped (its weights
    are missing); any other error (a wrong option) is raised."""
    from core.matchers import create_matcher
    from core.weights import WeightsNotFound

    built = {}
    for name, options in settings.items():
        try:
            built[name] = create_matcher(name, options)
        except WeightsNotFound as exc:
            built[name] = one_line(exc)
    return built


@dataclass(frozen=True)
class BenchProgress:
    """Where a benchmark is: ``done`` of ``total`` pairs of ``matcher`` scored (0 when the
    matcher starts); after a pair, that pair, its score and, if the matcher failed on it, the
    one-line reason."""

    matcher: str
    done: int
    total: int
    pair: Pair | None = None
    score: PairScore | None = None
    failure: str = ""


ProgressCallback = Callable[[BenchProgress], None]


def bench_matcher(
    dataset: Dataset,
    pairs: list[Pair],
    name: str,
    matcher,
    protocol: PoseProtocol | None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Run ``matcher`` (called ``name``) over ``pairs``; its JSON entry. ``on_progress`` hears
    of the start and of every pair; setting ``cancel`` (from any thread) stops the run between
    two stages of a match with :class:`~core.errors.Cancelled`. Missing weights on the first
    pair skip the matcher; any other exception of the matcher fails its pair only."""
    from core.bench.measure import PeakMemory, current_rss, release_memory
    from core.feature_cache import bypassed
    from core.run import RunControl, run_match
    from core.weights import WeightsNotFound

    report = on_progress or (lambda progress: None)
    scores, seconds, peak = [], [], 0
    report(BenchProgress(name, 0, len(pairs)))
    for index, pair in enumerate(pairs):
        control = RunControl(cancel=cancel)  # its own stage timings
        control.check(f"{name} on {pair.name_a}")
        image_a, image_b = load_pair_images(pair)
        release_memory("cpu")  # what earlier pairs freed is not counted again
        before = current_rss() or 0
        try:
            with PeakMemory("cpu") as memory, bypassed():  # timed in full, never from a cache
                result = run_match(matcher, image_a, image_b, control, matcher_name=name)
        except Cancelled:
            raise
        except Exception as exc:  # a user's matcher may raise anything
            if index == 0 and isinstance(exc, WeightsNotFound):
                return {"skipped": one_line(exc)}
            scores.append(failed_score(protocol, failure_message(exc)))
            seconds.append(math.nan)
            failure = f"{name}: {pair.name_a} {pair.name_b} failed: {scores[-1].failure}"
            report(BenchProgress(name, index + 1, len(pairs), pair, scores[-1], failure))
            continue
        peak = max(peak, memory.bytes - before)
        seconds.append(result.timings["total"])
        scores.append(score_pair(dataset, pair, result, protocol))
        del result  # not resident while the next pair is matched
        report(BenchProgress(name, index + 1, len(pairs), pair, scores[-1]))
    return matcher_entry(dataset, pairs, scores, seconds, peak)


def benchmark(
    dataset: Dataset,
    pairs: list[Pair],
    matchers: dict[str, object],
    protocol: PoseProtocol | None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Every matcher of ``matchers`` (built, or the reason it is skipped) over ``pairs``: the
    results in the JSON shape of the module docstring."""
    entries = {}
    for name, matcher in matchers.items():
        if isinstance(matcher, str):
            entries[name] = {"skipped": matcher}
        else:
            entries[name] = bench_matcher(
                dataset, pairs, name, matcher, protocol, on_progress, cancel
            )
    return {"dataset": dataset.name, "matchers": entries}


@dataclass
class BenchPlan:
    """What a benchmark will run: the dataset, the pairs, the pose protocol (None for other
    kinds), each matcher built (or the reason it is skipped) and the header lines that say
    what is measured with which settings."""

    dataset: Dataset
    pairs: list[Pair]
    protocol: PoseProtocol | None
    matchers: dict[str, object]
    header: list[str]


def plan_benchmark(
    dataset_path: str | Path,
    settings: dict[str, dict],
    max_pairs: int | None = None,
    ransac_runs: int | None = None,
) -> BenchPlan:
    """Open the dataset and build the matchers (``{name: options}``); ``max_pairs``: only the
    first pairs; ``ransac_runs``: overrides the protocol's runs per pair."""
    from core.bench import report

    if max_pairs is not None and max_pairs < 1:
        raise MatchscopeError("--max-pairs must be >= 1")
    if ransac_runs is not None and ransac_runs < 1:
        raise MatchscopeError("--ransac-runs must be >= 1")
    dataset = open_dataset(dataset_path)
    protocol = dataset.protocol
    if protocol is not None and ransac_runs is not None:
        protocol = dataclasses.replace(protocol, runs=ransac_runs)
    pairs = dataset.pairs[:max_pairs]
    matchers = build_matchers(settings)
    used = {  # every option of a built-in matcher; the ones given for others
        name: dict(getattr(matcher, "conf", None) or settings[name])
        for name, matcher in matchers.items()
    }
    header = report.header_lines(dataset, len(pairs), protocol, used)
    return BenchPlan(dataset, pairs, protocol, matchers, header)


class ProgressBars:
    """A tqdm bar per matcher on stderr, for :func:`benchmark`'s ``on_progress``; failed pairs
    are written above the bars."""

    def __init__(self, dataset_name: str):
        self.dataset_name = dataset_name
        self.bar = None

    def __call__(self, progress: BenchProgress) -> None:
        from tqdm import tqdm

        if progress.done == 0:
            self.close()
            self.bar = tqdm(
                total=progress.total,
                desc=f"{progress.matcher} on {self.dataset_name}",
                unit="pair",
                file=sys.stderr,
            )
            return
        if progress.failure:
            tqdm.write(progress.failure, file=sys.stderr)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def matcher_settings(names: list[str], texts: list[str]) -> dict[str, dict]:
    """``--set`` options per matcher: ``MATCHER.KEY=VALUE`` sets one matcher's option;
    ``KEY=VALUE`` sets it on every matcher that has it (a user's ``package.module:factory``
    matcher gets every unqualified option). Values are typed like the matcher's defaults."""
    from core.matchers import BUILTIN_MATCHERS, matcher_class
    from core.matchers.base import parse_setting

    defaults = {}
    for name in names:
        if name in BUILTIN_MATCHERS or ":" not in name:
            defaults[name] = matcher_class(name).default_conf  # raises for an unknown name
    settings: dict[str, dict] = {name: {} for name in names}
    for text in texts:
        left, _, value = text.partition("=")
        target, dot, key = left.rpartition(".")
        key = key.strip().replace("-", "_")
        if dot and target not in settings:
            raise MatchscopeError(f"--set {text}: {target!r} is not one of the --matcher names")
        targets = [target] if dot else [n for n in names if n not in defaults or key in defaults[n]]
        if not targets:
            raise MatchscopeError(f"--set {text}: no matcher here has the option {key!r}")
        for name in targets:
            parsed_key, parsed = parse_setting(f"{key}={value}", defaults.get(name, {}))
            settings[name][parsed_key] = parsed
    return settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``matchscope bench pairs``."""
    parser.add_argument(
        "--dataset",
        required=True,
        metavar="PATH",
        help="a dataset folder (pairs_with_gt.txt, KITTI odometry, Oxford affine or HPatches "
        "sequences or a folder of them, Middlebury .flo, MegaDepth/ScanNet-1500 .npz), a "
        "SuperGlue pairs file or a scene-info .npz",
    )
    parser.add_argument(
        "--matcher",
        action="append",
        dest="matchers",
        metavar="NAME",
        help="a matcher to benchmark, repeatable (default: sift); `matchscope matchers` lists "
        "them, package.module:factory for your own",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="settings",
        metavar="[MATCHER.]KEY=VALUE",
        help="a matcher option, repeatable: KEY=VALUE for every matcher that has KEY, "
        "MATCHER.KEY=VALUE for one (e.g. --set sift.max_keypoints=4000)",
    )
    parser.add_argument("--max-pairs", type=int, metavar="N", help="only the first N pairs")
    parser.add_argument(
        "--ransac-runs",
        type=int,
        metavar="N",
        help="RANSAC runs per pair for poses (default: the dataset's protocol, 1 or 5)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results to PATH as JSON")
    parser.add_argument(
        "--report", metavar="DIR", help="write DIR/report.md with a table and PNG plots"
    )
    parser.add_argument(
        "--markdown",
        metavar="PATH",
        help="add (or replace) this dataset's section in a Markdown page, e.g. "
        "docs/benchmarks.md, with the command that produced it",
    )


def _check_output(path: str | None, option: str, folder: bool = False) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    parent = path if folder else path.parent
    if folder and path.exists() and not path.is_dir():
        raise MatchscopeError(f"{option} {path}: exists and is not a folder")
    if not folder and not parent.is_dir():
        raise MatchscopeError(f"{option} {path}: no folder {parent}")
    return path


def run(args: argparse.Namespace, command: str = "") -> dict:
    """``matchscope bench pairs``: benchmark, print the table, write what was asked; the
    results (see the module docstring for their JSON shape)."""
    from core.bench import report

    json_path = _check_output(args.json, "--json")
    report_dir = _check_output(args.report, "--report", folder=True)
    markdown = _check_output(args.markdown, "--markdown")
    names = list(dict.fromkeys(args.matchers or DEFAULT_MATCHERS))
    plan = plan_benchmark(
        args.dataset, matcher_settings(names, args.settings), args.max_pairs, args.ransac_runs
    )
    for line in plan.header:
        print(line)
    bars = ProgressBars(plan.dataset.name)
    try:
        results = benchmark(plan.dataset, plan.pairs, plan.matchers, plan.protocol, bars)
    finally:
        bars.close()
    measure.write_json(json_path, results, indent=1)
    report.print_results(results)
    command = command or shlex.join(["matchscope", "bench", "pairs", "--dataset", args.dataset])
    if report_dir is not None:
        report.write_report(results, report_dir, command, plan.header)
    if markdown is not None:
        report.update_markdown(markdown, results, command, plan.header, report_dir)
    return results
