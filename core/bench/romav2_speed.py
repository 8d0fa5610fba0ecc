"""``matchscope bench roma-speed --model romav2``: our RoMa v2 against the reference ``romav2``.

Both hold the same seeded random weights (:func:`core.models.testing.random_romav2`, the
DINOv3 ViT-L/16 inside) and match the same pair at the same setting; each runs in its own
process (``python -m core.bench.romav2_speed --worker KIND``), the reference first, as
:mod:`core.bench.roma_speed` does for RoMa: seconds per pair, peak memory, GFLOP, speedup and
warp agreement.

* **The reference** is built offline by :func:`core.models.romav2_reference.reference_romav2`
  (its DINOv3 from transformers' ``DINOv3ViTModel`` with the same weights; nothing
  downloaded). In fp32 its autocasts are off (the DPT's hard one patched out), as in the
  parity tests; in bf16 it runs as released. Its fused local-correlation package does not
  import with our torch, so it uses its plain-torch fallback, as any CPU user's would.
* **What is timed**: one pair from the decoded uint8 images to the warp and overlap on the
  device: the reference's ``match`` (resize, forward, ``_map_confidence``), and ours the same
  steps (:func:`core.matchers.romav2.resize_image`, the forward, ``map_confidence``).
* **Peak memory** and the machine come from :mod:`core.bench.measure` (the process's resident
  high-water mark during the timed runs, weights included). **FLOPs**: one pair through our
  forward, counted by ``FlopCounterMode`` on an extra pass in our worker.
* **Warp agreement**: the fraction of the final warp's cells (both directions when
  bidirectional) whose x and y differ by at most 1e-3 in normalised coordinates.

Usage::

    python main.py bench roma-speed --model romav2 --set setting=turbo --json turbo.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.bench import measure
from core.bench.measure import MB, release_memory
from core.bench.roma_speed import (
    _pair_paths,
    _ratio,
    _say,
    resolve_device,
    warp_agreement,
)
from core.errors import MatchscopeError

WORKERS = ("reference", "ours")


@dataclass(frozen=True)
class Settings:
    """One run of the benchmark: the matcher's options and how often to time."""

    setting: str = "turbo"
    resolution: str = ""
    high_resolution: str = ""
    bidirectional: str = ""
    precision: str = "fp32"
    device: str = "cpu"
    pair: tuple[str, str] = ("", "")
    seed: int = 0
    repeats: int = 1
    warmup: int = 1

    def matcher(self):
        """The :class:`core.matchers.romav2.RomaV2Matcher` of these options (checks them)."""
        from core.matchers.romav2 import RomaV2Matcher

        return RomaV2Matcher(
            setting=self.setting,
            resolution=self.resolution,
            high_resolution=self.high_resolution,
            bidirectional=self.bidirectional,
            precision=self.precision,
            device=self.device,
        )

    def worker_args(self) -> list[str]:
        return ["--settings", json.dumps(asdict(self))]


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The benchmark's settings from ``bench roma-speed``'s options and ``--set KEY=VALUE``."""
    from core.matchers.base import parse_setting
    from core.matchers.romav2 import RomaV2Matcher

    chosen = {}
    allowed = ("setting", "resolution", "high_resolution", "bidirectional")
    for text in args.set or []:
        key, value = parse_setting(text, RomaV2Matcher.default_conf)
        if key not in allowed:
            raise MatchscopeError(f"--set {key}: the benchmark takes {', '.join(allowed)}")
        chosen[key] = str(value)
    if args.precision not in ("fp32", "bf16"):
        raise MatchscopeError(f"--precision {args.precision}: RoMa v2 runs fp32 or bf16")
    if args.repeats < 1 or args.warmup < 0:
        raise MatchscopeError("--repeats must be >= 1 and --warmup >= 0")
    settings = Settings(
        **chosen,
        precision=args.precision,
        device=resolve_device(args.device),
        pair=_pair_paths(args.pair),
        seed=args.seed,
        repeats=args.repeats,
        warmup=args.warmup,
    )
    settings.matcher()  # refuses bad options here, before any worker starts
    return settings


# ---------------------------------------------------------------------------------------------
# Workers


def _ours(settings: Settings, rgb_a: np.ndarray, rgb_b: np.ndarray):
    """Our model and a callable matching the pair -> warp (D, H, W, 2), overlap (D, H, W)."""
    import torch

    from core.matchers.romav2 import resize_image
    from core.models.romav2 import map_confidence
    from core.models.testing import random_romav2

    matcher = settings.matcher()
    model = random_romav2(settings.seed).to(settings.device)
    if settings.precision == "bf16":
        model.f.to(torch.bfloat16)

    def inputs():
        sizes = [matcher.resolution] + ([matcher.high_resolution] * bool(matcher.high_resolution))
        images = [
            resize_image(rgb, size).to(settings.device) for size in sizes for rgb in (rgb_a, rgb_b)
        ]
        return images + [None] * (4 - len(images))

    def match():
        a, b, high_a, high_b = inputs()
        out = model(
            a,
            b,
            high_a=high_a,
            high_b=high_b,
            bidirectional=matcher.bidirectional,
            precision=settings.precision,
        )
        overlap, _ = map_confidence(out.confidence[:, 0], matcher.threshold)
        return out.warp[:, 0], overlap

    def count():
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            match()
        return counter.get_total_flops()

    return match, count


def _reference(settings: Settings, rgb_a: np.ndarray, rgb_b: np.ndarray):
    """The reference holding our random weights (ours freed) and its matching callable."""
    import torch

    from core.models.romav2_reference import reference_numerics, reference_romav2
    from core.models.testing import random_romav2

    matcher = settings.matcher()
    state = random_romav2(settings.seed).state_dict()
    preset = "mega1500" if settings.setting == "benchmark" else settings.setting
    reference = reference_romav2(state, preset, settings.precision).to(settings.device)
    del state
    release_memory(settings.device)
    reference.H_lr, reference.W_lr = matcher.resolution
    reference.H_hr, reference.W_hr = matcher.high_resolution or (None, None)
    reference.bidirectional, reference.threshold = matcher.bidirectional, matcher.threshold
    images = [
        torch.from_numpy(rgb).permute(2, 0, 1)[None].to(settings.device) for rgb in (rgb_a, rgb_b)
    ]

    def match():
        with reference_numerics(reference):
            preds = reference.match(*images)
        directions = ("AB", "BA") if matcher.bidirectional else ("AB",)
        warp = torch.cat([preds[f"warp_{d}"] for d in directions])
        overlap = torch.cat([preds[f"overlap_{d}"][..., 0] for d in directions])
        return warp, overlap

    return match, None


def run_worker(kind: str, settings: Settings, out_dir: Path) -> None:
    """Build one model, time it, and leave ``KIND.json`` and ``KIND.npz`` in ``out_dir``."""
    from core.bench.roma_speed_worker import measure_matches
    from core.imageio import load_image

    rgb_a, rgb_b = (load_image(path).rgb for path in settings.pair)
    started = time.perf_counter()
    _say(f"building {kind} with random weights (seed {settings.seed}) on {settings.device}")
    match, count = (_ours if kind == "ours" else _reference)(settings, rgb_a, rgb_b)
    build_s = time.perf_counter() - started
    report, (warp, overlap) = measure_matches(match, settings, kind, build_s)
    if count is not None:
        _say("counting FLOPs on an extra pass")
        report["flops"] = count()
    np.savez(
        out_dir / f"{kind}.npz",
        warp=warp.float().cpu().numpy(),
        overlap=overlap.float().cpu().numpy(),
    )
    (out_dir / f"{kind}.json").write_text(json.dumps(report))


def worker_main(argv: list[str] | None = None) -> int:
    """``python -m core.bench.romav2_speed --worker KIND --out DIR --settings JSON``."""
    parser = argparse.ArgumentParser(prog="python -m core.bench.romav2_speed")
    parser.add_argument("--worker", choices=WORKERS, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--settings", required=True)
    args = parser.parse_args(argv)
    import torch

    raw = json.loads(args.settings)
    settings = Settings(**{**raw, "pair": tuple(raw["pair"])})
    try:
        run_worker(args.worker, settings, args.out)
    except MatchscopeError as exc:
        message = " ".join(str(exc).split())
    except (MemoryError, torch.OutOfMemoryError):
        message = f"{args.worker}: out of memory at setting {settings.setting}"
    else:
        return 0
    (args.out / f"{args.worker}.error").write_text(message)
    _say(f"error: {message}")
    return 2


def run_worker_process(kind: str, settings: Settings, out_dir: Path) -> dict:
    """Run one worker in its own process; its report, or a one-line error."""
    _say(f"running the {kind} worker")
    command = [sys.executable, "-m", "core.bench.romav2_speed", "--worker", kind]
    return measure.run_worker_process(
        kind, [*command, "--out", str(out_dir), *settings.worker_args()], out_dir
    )


# ---------------------------------------------------------------------------------------------
# Parent


def run_benchmark(settings: Settings, only: str | None = None) -> dict:
    """Run the workers (both, or ``only`` one); the JSON summary."""
    import torch

    reports, grids = {}, {}
    with tempfile.TemporaryDirectory(prefix="matchscope-bench-") as folder:
        for kind in WORKERS:
            if only in (None, kind):
                reports[kind] = run_worker_process(kind, settings, Path(folder))
                with np.load(Path(folder) / f"{kind}.npz") as data:
                    grids[kind] = {name: data[name] for name in data.files}
    ours, reference = reports.get("ours", {}), reports.get("reference", {})
    both = len(grids) == 2
    flops = ours.get("flops")
    gflop = None if flops is None else flops / 1e9
    matcher = settings.matcher()
    first = next(iter(reports.values()))
    return {
        "model": "romav2",
        "ours_s": ours.get("mean_s"),
        "reference_s": reference.get("mean_s"),
        "speedup": _ratio(reference.get("mean_s"), ours.get("mean_s")),
        "ours_peak_mb": _ratio(ours.get("peak_bytes"), MB),
        "reference_peak_mb": _ratio(reference.get("peak_bytes"), MB),
        "memory_ratio": _ratio(reference.get("peak_bytes"), ours.get("peak_bytes")),
        "warp_agreement": (
            warp_agreement(grids["ours"]["warp"], grids["reference"]["warp"]) if both else None
        ),
        "overlap_max_abs_diff": (
            float(np.abs(grids["ours"]["overlap"] - grids["reference"]["overlap"]).max())
            if both
            else None
        ),
        "gflop": gflop,
        "ours_gflops": _ratio(gflop, ours.get("mean_s")),
        "reference_gflops": _ratio(gflop, reference.get("mean_s")),
        "settings": {
            **asdict(settings),
            "resolution_hw": list(matcher.resolution),
            "high_resolution_hw": list(matcher.high_resolution or []) or None,
            "bidirectional_used": matcher.bidirectional,
            "threshold_used": matcher.threshold,
        },
        "machine": measure.machine_info(
            threads=first.get("threads"),
            torch=torch.__version__,
            romav2=measure.package_version("romav2"),
            transformers=measure.package_version("transformers"),
        ),
        "ours_runs_s": ours.get("runs_s"),
        "reference_runs_s": reference.get("runs_s"),
        "peak_memory_method": first.get("peak_method"),
    }


def print_report(summary: dict) -> None:
    from core.bench.report import print_table

    settings = summary["settings"]
    high = settings["high_resolution_hw"]
    print(
        f"RoMa v2 speed: setting {settings['setting']}, {settings['resolution_hw']}"
        f"{f' + {high}' if high else ''}, "
        f"{'both directions' if settings['bidirectional_used'] else 'A->B'}, "
        f"{settings['precision']}, {settings['device']}, {settings['warmup']} warmup + "
        f"{settings['repeats']} timed, random weights seed {settings['seed']}"
    )
    print(f"pair: {settings['pair'][0]} {settings['pair'][1]}")

    def number(value, spec):
        return "-" if value is None else format(value, spec)

    rows = [["", "s / pair", "peak MB", "GFLOP/s"]]
    for kind in ("ours", "reference"):
        rows.append(
            [
                "ours" if kind == "ours" else "romav2 (reference)",
                number(summary[f"{kind}_s"], ".2f"),
                number(summary[f"{kind}_peak_mb"], ".0f"),
                number(summary[f"{kind}_gflops"], ".1f"),
            ]
        )
    print_table(rows)
    print(
        f"speedup {number(summary['speedup'], '.2f')}x, peak memory ratio (reference / ours) "
        f"{number(summary['memory_ratio'], '.2f')}, warp agreement "
        f"{number(summary['warp_agreement'], '.4f')} (cells within 1e-3), GFLOP "
        f"{number(summary['gflop'], '.1f')}"
    )


def run(args: argparse.Namespace) -> dict:
    """``bench roma-speed --model romav2``: measure, write ``--json``, print; the summary."""
    settings = settings_from_args(args)
    json_path = measure.json_output(args.json)
    summary = run_benchmark(settings, only=args.only)
    measure.write_json(json_path, summary)
    print_report(summary)
    return summary


if __name__ == "__main__":
    sys.exit(worker_main())
