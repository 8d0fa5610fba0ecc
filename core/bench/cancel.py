"""``matchscope bench cancel``: how long a RoMa run takes to stop after Cancel.

Method
------
* **The run** is what the window runs: :func:`core.run.run_match` on the ``roma`` matcher
  (:class:`core.matchers.roma.RomaMatcher`, its ``match`` as is) in a :class:`core.run.Job` (a
  thread of its own), here with seeded random weights (:func:`core.models.testing.random_roma`,
  DINOv2 ViT-L/14 by default) instead of weight files, at the default 560 / 864, symmetric, fp32,
  on the demo pair. Cancel is ``Job.cancel(abandon=False)``, as the window's Cancel sets the
  event; the latency is from setting it to the job's end (``Cancelled`` raised and the thread's
  outcome delivered): what the window waits before it goes idle, less Qt's event delivery.
* **One full run first**, not cancelled: its seconds are the reference of this measurement, and
  it records when every cancel check happens (each ``RunControl.check``: the stage boundaries
  and the model's checkpoints). A cancel at instant ``t`` is seen at the first check after
  ``t``, so this run gives the latency of a cancel at every instant: **every instant** is the
  median and the maximum over 1,000 instants spread evenly over the run (the maximum is the
  longest stretch without a check). **Stage checks only** is the same for the checks made before
  the model checked inside its passes (stage boundaries and the start of each pass): the
  reference for what the model's checkpoints bring.
  The same is given for the instants in the model's forward pass alone (the "match" stage; the
  "sample" stage after it, RoMa's balanced sampling, has no checks inside).
* **Cancelled runs**: ``--points N`` runs cancelled at ``(i + 0.5) / N`` of the full run's time;
  each gives a measured latency (a run that ends before its instant is listed as such).
* **A plugin that ignores cancel** (it sleeps ``2 * ABANDON_AFTER_S + 1`` s without a check) in a
  ``Job`` with the window's abandon time, cancelled 0.5 s in: seconds from cancel until it is
  abandoned, and whether its late outcome was dropped.
* **Load**: the machine may be shared, so the 1-minute load average is read before and after.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np

from core.bench.measure import json_output, load_average, machine_info, write_json
from core.errors import Cancelled, MatchscopeError
from core.run import ABANDON_AFTER_S, Job, RunControl, run_match

INSTANTS = 1000  # evenly spread cancel instants evaluated on the full run's timeline
PLUGIN_CANCEL_AT_S = 0.5
STAGE_CHECKS = {"start", "load weights", "preprocess", "match", "sample", "finish"}
PASS_STARTS = {"coarse: VGG", "upsample: VGG"}  # where the model checked before, once a pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.bench.roma_speed import add_resolution_arguments

    add_resolution_arguments(parser)
    parser.add_argument(
        "--points", type=int, default=6, metavar="N", help="cancelled runs (default 6)"
    )
    parser.add_argument(
        "--pair", nargs=2, metavar=("A", "B"), help="the image pair (default: the demo pair)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (0)")
    parser.add_argument(
        "--backbone", default="dinov2_vitl14", help="coarse encoder (default dinov2_vitl14)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")


@dataclass(frozen=True)
class Settings:
    coarse_res: str
    upsample_res: str
    points: int
    pair: tuple[str, str]
    device: str
    seed: int
    backbone: str


def settings_from_args(args: argparse.Namespace) -> Settings:
    from core.bench.roma_speed import _pair_paths, resolve_device

    if args.points < 0:
        raise MatchscopeError("--points must be >= 0")
    return Settings(
        coarse_res=args.coarse_res,
        upsample_res=args.upsample_res,
        points=args.points,
        pair=_pair_paths(args.pair),
        device=resolve_device(args.device),
        seed=args.seed,
        backbone=args.backbone,
    )


class _Timeline(RunControl):
    """A `RunControl` that notes when each cancel check happens: (seconds since made, stage)."""

    def __init__(self, cancel: threading.Event):
        super().__init__(cancel=cancel)
        self.start = time.perf_counter()
        self.checks: list[tuple[float, str]] = []

    def check(self, stage: str = "") -> None:
        self.checks.append((time.perf_counter() - self.start, stage))
        super().check(stage)


def random_weights_matcher(settings: Settings):
    """The ``roma`` matcher at these settings, holding seeded random weights (no files)."""
    from core.matchers.roma import RomaMatcher
    from core.models.testing import random_roma

    matcher = RomaMatcher(
        backbone=settings.backbone,
        coarse_res=settings.coarse_res,
        upsample_res=settings.upsample_res,
        device=settings.device,
    )
    model = random_roma(settings.backbone, settings.seed).to(settings.device)
    matcher.load_model = lambda: model
    return matcher


def _run(matcher, images, cancel_at: float | None) -> tuple[str, float, float, _Timeline]:
    """One run in a `Job`, cancelled ``cancel_at`` s after it starts (None: never).

    Returns the outcome ("done" or "cancelled"), the seconds from start to end, the seconds
    from cancel to end (NaN if not cancelled) and the run's timeline."""
    ended = threading.Event()
    ends: list[tuple[float, str]] = []
    controls: list[_Timeline] = []

    def work(cancel: threading.Event) -> object:
        control = _Timeline(cancel)
        controls.append(control)
        try:
            run_match(matcher, *images, control, matcher_name="roma")
        except Cancelled:
            return "cancelled"
        except Exception as exc:  # handed to the caller's thread
            return exc
        return "done"

    def on_end(outcome) -> None:
        ends.append((time.perf_counter(), outcome))
        ended.set()

    start = time.perf_counter()
    job = Job(work, on_end)
    cancelled_at = None
    if cancel_at is not None and not ended.wait(cancel_at):
        cancelled_at = time.perf_counter()
        job.cancel(abandon=False)
    ended.wait()
    job.join()
    end, outcome = ends[0]
    if isinstance(outcome, Exception):
        raise outcome
    latency = end - cancelled_at if cancelled_at is not None else float("nan")
    return outcome, end - start, latency, controls[0]


def instant_latencies(
    check_times: list[float], end: float, window: tuple[float, float] | None = None
) -> np.ndarray:
    """Seconds from a cancel at each of `INSTANTS` instants spread evenly over ``window``
    (default: the whole run, [0, end)) to the next check (or the end of the run)."""
    times = np.sort(np.append(np.asarray(check_times, float), end))
    first, last = window or (0.0, end)
    instants = first + np.arange(INSTANTS) * ((last - first) / INSTANTS)
    return times[np.searchsorted(times, instants, side="right")] - instants


def _longest_gap(checks: list[tuple[float, str]], end: float) -> dict:
    """The longest stretch without a check: its seconds and the checks on either side."""
    points = [*checks, (end, "end of run")]
    index = max(range(1, len(points)), key=lambda i: points[i][0] - points[i - 1][0])
    return {
        "seconds": points[index][0] - points[index - 1][0],
        "after": points[index - 1][1],
        "before": points[index][1],
    }


def _stats(latencies) -> dict:
    values = [float(value) for value in latencies]
    if not values:
        return {"median_s": None, "max_s": None}
    return {"median_s": statistics.median(values), "max_s": max(values)}


def plugin_abandonment(abandon_after: float = ABANDON_AFTER_S) -> dict:
    """A job that sleeps through cancel: seconds from cancel to its abandonment, and whether
    its late outcome was dropped (it must end only once, abandoned)."""
    sleep = 2 * abandon_after + 1
    ends: list[tuple[float, object]] = []
    abandoned = threading.Event()

    def on_end(outcome) -> None:
        ends.append((time.perf_counter(), outcome))
        abandoned.set()

    job = Job(lambda cancel: time.sleep(sleep) or "late result", on_end, abandon_after)
    time.sleep(PLUGIN_CANCEL_AT_S)
    cancelled_at = time.perf_counter()
    job.cancel()
    abandoned.wait()
    job.join()  # the late result arrives now, and must be dropped
    return {
        "abandon_after_s": abandon_after,
        "sleeps_s": sleep,
        "latency_s": ends[0][0] - cancelled_at,
        "late_outcome_dropped": [outcome for _, outcome in ends] == [None],
    }


def measure(settings: Settings) -> dict:
    """Run the measurement (module docstring); the summary."""
    import torch

    from core.imageio import load_image

    load_before = load_average()
    matcher = random_weights_matcher(settings)
    images = tuple(load_image(path) for path in settings.pair)
    print(f"full run at {settings.coarse_res} / {settings.upsample_res} ...", flush=True)
    outcome, full_s, _, timeline = _run(matcher, images, None)
    if outcome != "done":
        raise MatchscopeError("the full run did not finish")
    check_times = [at for at, _ in timeline.checks]
    stage_times = [at for at, stage in timeline.checks if stage in STAGE_CHECKS | PASS_STARTS]
    every = instant_latencies(check_times, full_s)
    stage_at = {stage: at for at, stage in timeline.checks if stage in STAGE_CHECKS}
    forward = instant_latencies(check_times, full_s, (stage_at["match"], stage_at["sample"]))
    stages_only = instant_latencies(stage_times, full_s)
    runs = []
    for index in range(settings.points):
        at = (index + 0.5) / settings.points * full_s
        outcome, _, latency, _ = _run(matcher, images, at)
        runs.append({"cancel_at_s": at, "outcome": outcome, "latency_s": latency})
        shown = f"{latency:.2f} s" if outcome == "cancelled" else "finished first"
        print(f"cancel at {at:.1f} s: {shown}", flush=True)
    latencies = [run["latency_s"] for run in runs if run["outcome"] == "cancelled"]
    plugin = plugin_abandonment()
    return {
        "settings": {
            "coarse_res": settings.coarse_res,
            "upsample_res": settings.upsample_res,
            "backbone": settings.backbone,
            "device": settings.device,
            "pair": list(settings.pair),
            "seed": settings.seed,
        },
        "machine": machine_info(
            threads=torch.get_num_threads(), load_before=load_before, load_after=load_average()
        ),
        "full_run_s": full_s,
        "checks": len(check_times),
        "longest_gap": _longest_gap(timeline.checks, full_s),
        "every_instant": _stats(every),
        "forward_pass": _stats(forward),
        "stage_checks_only": _stats(stages_only),
        "cancelled_runs": runs,
        "cancelled": _stats(latencies),
        "plugin": plugin,
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def print_report(summary: dict) -> None:
    from core.bench.report import print_table

    settings, machine = summary["settings"], summary["machine"]
    loads = [machine["load_before"], machine["load_after"]]
    load = " / ".join("-" if value is None else f"{value:.1f}" for value in loads)
    print(
        f"Cancel latency: roma, random weights (seed {settings['seed']}, "
        f"{settings['backbone']}), coarse {settings['coarse_res']}, upsample "
        f"{settings['upsample_res']}, symmetric, fp32, {settings['device']}"
    )
    print(
        f"machine: {machine['cpu']} ({machine['cpu_count']} CPUs), torch threads "
        f"{machine['threads']}, load average (1 min) before / after {load}"
    )
    gap = summary["longest_gap"]
    print(
        f"full run: {summary['full_run_s']:.1f} s, {summary['checks']} cancel checks; longest "
        f"stretch without one {gap['seconds']:.2f} s (after {gap['after']!r}, before "
        f"{gap['before']!r})"
    )
    cancelled = sum(run["outcome"] == "cancelled" for run in summary["cancelled_runs"])
    rows = [["cancel to stop", "median", "max", "max / full run"]]
    for label, key in (
        (f"at every instant ({INSTANTS}, from the full run)", "every_instant"),
        ("  of which in the model's forward pass", "forward_pass"),
        (f"cancelled runs ({cancelled} of {len(summary['cancelled_runs'])})", "cancelled"),
        ("stage checks only (before; from the full run)", "stage_checks_only"),
    ):
        stats = summary[key]
        share = "-" if stats["max_s"] is None else f"{stats['max_s'] / summary['full_run_s']:.1%}"
        rows.append([label, _seconds(stats["median_s"]), _seconds(stats["max_s"]), share])
    print_table(rows)
    plugin = summary["plugin"]
    print(
        f"a plugin that ignores cancel (sleeps {plugin['sleeps_s']:g} s): abandoned "
        f"{plugin['latency_s']:.2f} s after cancel (abandon after {plugin['abandon_after_s']:g} "
        f"s); late result {'dropped' if plugin['late_outcome_dropped'] else 'NOT dropped'}"
    )


def run(args: argparse.Namespace) -> dict:
    """``matchscope bench cancel``: measure, write ``--json``, print; the summary."""
    settings = settings_from_args(args)
    json_path = json_output(args.json)
    summary = measure(settings)
    write_json(json_path, summary)
    print_report(summary)
    return summary
