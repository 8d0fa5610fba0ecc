"""``matchscope bench roma-speed``: our RoMa against romatch (the reference) on the same weights.

Both models hold the same seeded random weights (:func:`core.models.testing.random_roma` on a
DINOv2 ViT-L/14, the backbone romatch hardcodes) and match the same image pair at the same
settings. The report gives, for each, seconds per pair, peak memory, GFLOP and achieved GFLOP/s,
then the speedup (``reference_s / ours_s``) and how well the two warps agree.

Method
------
* **One process per model.** The parent runs ``python -m core.bench.roma_speed_worker --worker
  KIND`` (:mod:`core.bench.roma_speed_worker`) twice, the reference first, so neither model's
  weights, caches or allocator state sit in the other's figures. A worker builds its model (the
  reference worker builds ours only to take its two state dicts, hands them to romatch's
  ``roma_model`` and frees them before measuring), loads the pair with
  :func:`core.imageio.load_image`, runs ``--warmup`` untimed matches, then ``--repeats`` timed
  ones under ``torch.inference_mode()``, and leaves its figures (JSON) and its last warp and
  certainty (``.npz``) in a temporary folder of the parent's. Its progress lines come through on
  stderr; its failure becomes one line (:class:`MatchscopeError`).
* **What is timed**: one pair, from the decoded uint8 images to the dense warp on the device.
  Ours includes its preprocessing (PIL bicubic resize and ImageNet normalisation at the coarse
  and the upsample resolution, :func:`core.matchers.roma.preprocess`); the reference gets PIL
  images and does the same inside ``match``. CUDA is synchronised before and after each run;
  seconds per pair is the mean over the repeats.
* **Peak memory** is the worker process's during the timed matches only, so it counts the
  resident weights as well as the activations: on Linux the kernel's high-water mark of the
  resident set (``VmHWM``, read after the runs) reset by writing 5 to ``/proc/self/clear_refs``
  right before them; where that file cannot be written, the resident set sampled every 2 ms by
  a thread. On CUDA it is ``torch.cuda.max_memory_allocated()`` after
  ``reset_peak_memory_stats()``: tensors only, not the caching allocator's slack nor the CUDA
  context. MB are 2^20 bytes.
* **FLOPs** of one pair through our model's forward (preprocessing excluded), counted by
  :class:`torch.utils.flop_counter.FlopCounterMode`: matrix products, convolutions and
  attention, 2 FLOPs per multiply-add. Element-wise work, softmax, normalisations, the GP's
  Cholesky solve and the local correlation (a gather and a blend, not a matmul) are not
  counted. The reference does the same work up to the local correlation, so one count serves
  both and their GFLOP/s compare on equal terms. The count needs no data: it runs in the parent
  on the ``meta`` device, or where an op refuses ``meta`` (``torch.autocast``, which the GP's
  fp32 section enters, does not know that device) on fake tensors
  (:class:`torch._subclasses.fake_tensor.FakeTensorMode`: CPU tensors with shapes and no
  storage); if both fail, on a real extra pass in the ours worker after its timed runs.
  ``flop_method`` and ``flop_notes`` in the JSON say which was used and why.
* **Precision** applies to ours (``torch.autocast`` through
  :func:`core.models.roma.autocast_context`). romatch always runs fp32 on CPU (it ignores its
  amp dtype there); on CUDA it gets the matching amp dtype (fp32: autocast off).
* **Warp agreement** is the fraction of grid cells whose warps, in normalised coordinates of
  the other image, differ by at most 1e-3 in both x and y: over A->B and, when symmetric, B->A.
* **Balanced sampling** (the matches drawn from the warp, RoMa's ``threshold_balanced``): the
  parent times ours and romatch's, taking turns, on the candidates of our worker's warp
  (:mod:`core.bench.sampling_speed`), drawing ``--num-samples`` matches.

Usage (small resolutions for a quick look; the defaults, the released 560 and 864, take far
longer and several GB per worker on a CPU)::

    python main.py bench roma-speed --coarse-res 126 --upsample-res 160 --json bench.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.bench import measure
from core.bench.measure import MB
from core.errors import MatchscopeError

if TYPE_CHECKING:
    from core.bench.roma_speed_worker import FlopCount

WORKERS = ("reference", "ours")  # in the order they run
PRECISIONS = ("fp32", "bf16", "fp16")
REFERENCE_BACKBONE = "dinov2_vitl14"  # romatch hardcodes DINOv2 ViT-L/14
AGREEMENT_TOLERANCE = 1e-3
ROMATCH_MISSING = (
    "romatch is not installed: pip install .[reference] and pip install --no-deps romatch"
)
JSON_KEYS = (
    "ours_s",
    "reference_s",
    "speedup",
    "ours_peak_mb",
    "reference_peak_mb",
    "warp_agreement",
    "gflop",
    "ours_gflops",
    "reference_gflops",
    "settings",
    "machine",
)


def _say(message: str) -> None:
    """A progress or status line, on stderr."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Settings


def add_resolution_arguments(parser: argparse.ArgumentParser) -> None:
    """``--coarse-res`` and ``--upsample-res``, as every RoMa benchmark takes them."""
    parser.add_argument(
        "--coarse-res", default="560", metavar="N|HxW", help="coarse resolution (default 560)"
    )
    parser.add_argument(
        "--upsample-res",
        default="864",
        metavar="N|HxW|0",
        help="upsample (fine pass) resolution, 0 for none (default 864)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (the parent's and the workers')."""
    add_resolution_arguments(parser)
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="autocast dtype of ours (default fp32); romatch runs fp32 on CPU, this on CUDA",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--no-symmetric",
        dest="symmetric",
        action="store_false",
        help="match A->B only (default: A->B and B->A in one batch, as romatch)",
    )
    parser.add_argument(
        "--pair", nargs=2, metavar=("A", "B"), help="the image pair (default: the demo pair)"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile ours (meant for CUDA; the warm-up runs take the compile time)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (0)")
    parser.add_argument(
        "--num-samples",
        type=int,
        default=5000,
        metavar="N",
        help="matches drawn by the timed balanced sampling (default 5000, as the matcher)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="timed matches (default 1)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed matches first (1)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    parser.add_argument(
        "--model",
        choices=("roma", "romav2"),
        default="roma",
        help="roma: ours against romatch (default); romav2: ours against the romav2 package",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="with --model romav2: setting=turbo|fast|base|precise|benchmark, resolution, "
        "high_resolution, bidirectional (default setting=turbo)",
    )
    # for quick checks at tiny sizes: ours on a smaller backbone, or one model only
    parser.add_argument("--backbone", default=REFERENCE_BACKBONE, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=WORKERS, help=argparse.SUPPRESS)


@dataclass(frozen=True)
class Settings:
    """What one benchmark run measures; resolutions are (height, width), device resolved."""

    coarse_res: tuple[int, int]
    upsample_res: tuple[int, int] | None
    precision: str = "fp32"
    device: str = "cpu"
    symmetric: bool = True
    pair: tuple[str, str] = ("", "")
    seed: int = 0
    repeats: int = 1
    warmup: int = 1
    backbone: str = REFERENCE_BACKBONE
    compile: bool = False
    num_samples: int = 5000

    @property
    def output_grid(self) -> tuple[int, int]:
        """(H, W) of the warp: the upsample resolution, else the coarse one."""
        return self.upsample_res or self.coarse_res

    @property
    def reference_precision(self) -> str:
        return self.precision if self.device.startswith("cuda") else "fp32"

    def worker_args(self) -> list[str]:
        """The command-line options that give a worker these settings."""
        args = [
            "--coarse-res", _resolution_text(self.coarse_res),
            "--upsample-res", _resolution_text(self.upsample_res),
            "--precision", self.precision,
            "--device", self.device,
            "--pair", *self.pair,
            "--seed", str(self.seed),
            "--repeats", str(self.repeats),
            "--warmup", str(self.warmup),
            "--backbone", self.backbone,
        ]  # fmt: skip
        args += [] if self.symmetric else ["--no-symmetric"]
        return [*args, "--compile"] if self.compile else args

    def as_dict(self) -> dict:
        return {
            "coarse_res": list(self.coarse_res),
            "upsample_res": list(self.upsample_res) if self.upsample_res else None,
            "precision": self.precision,
            "reference_precision": self.reference_precision,
            "device": self.device,
            "symmetric": self.symmetric,
            "pair": list(self.pair),
            "seed": self.seed,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "backbone": self.backbone,
            "num_samples": self.num_samples,
        }


def _resolution_text(size: tuple[int, int] | None) -> str:
    return f"{size[0]}x{size[1]}" if size else "0"


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Checked :class:`Settings` from :func:`add_arguments`' options."""
    from core.matchers.roma import parse_resolution
    from core.models.vit import BACKBONES

    config = BACKBONES.get(args.backbone)
    if config is None:
        raise MatchscopeError(f"--backbone {args.backbone!r}: use one of {', '.join(BACKBONES)}")
    coarse = parse_resolution(args.coarse_res, "--coarse-res")
    if coarse is None:
        raise MatchscopeError("--coarse-res: a coarse resolution is required")
    if any(side % config.patch_size for side in coarse):
        raise MatchscopeError(
            f"--coarse-res {args.coarse_res}: sides must be multiples of the patch size "
            f"{config.patch_size} of {args.backbone}"
        )
    upsample = parse_resolution(args.upsample_res, "--upsample-res")
    if upsample is not None and any(side % 8 for side in upsample):
        raise MatchscopeError(f"--upsample-res {args.upsample_res}: sides must divide by 8")
    if args.repeats < 1 or args.warmup < 0:
        raise MatchscopeError("--repeats must be >= 1 and --warmup >= 0")
    if args.num_samples < 1:
        raise MatchscopeError("--num-samples must be >= 1")
    return Settings(
        coarse_res=coarse,
        upsample_res=upsample,
        precision=args.precision,
        device=resolve_device(args.device),
        symmetric=args.symmetric,
        pair=_pair_paths(args.pair),
        seed=args.seed,
        repeats=args.repeats,
        warmup=args.warmup,
        backbone=args.backbone,
        compile=args.compile,
        num_samples=args.num_samples,
    )


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; refuses an absent ``cuda``."""
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if name == "cuda" and not available:
        raise MatchscopeError("--device cuda: no CUDA device is available to torch here")
    return name


def _pair_paths(pair: list[str] | None) -> tuple[str, str]:
    """Absolute paths of the pair (the demo pair by default), checked readable."""
    from core.imageio import check_file

    if pair is None:
        from assets import DEMO_A, DEMO_B

        pair = [DEMO_A, DEMO_B]
    paths = [Path(path).resolve() for path in pair]
    for path in paths:
        check_file(path)
    return str(paths[0]), str(paths[1])


# ---------------------------------------------------------------------------------------------
# Parent


def worker_command(kind: str, settings: Settings, out_dir: Path, count_flops: bool) -> list[str]:
    """The command line of one worker process."""
    command = [sys.executable, "-m", "core.bench.roma_speed_worker", "--worker", kind]
    command += ["--out", str(out_dir), *settings.worker_args()]
    return [*command, "--count-flops"] if count_flops else command


def run_worker_process(
    kind: str, settings: Settings, out_dir: Path, count_flops: bool = False
) -> dict:
    """Run one worker, passing its output on to stderr; its report, or a one-line error."""
    _say(f"running the {kind} worker ({'romatch' if kind == 'reference' else 'ours'})")
    return measure.run_worker_process(
        kind, worker_command(kind, settings, out_dir, count_flops), out_dir
    )


def warp_agreement(ours: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of cells whose warps (N', H, W, 2) differ by <= 1e-3 in both x and y."""
    if ours.shape != reference.shape:
        raise MatchscopeError(f"the warps differ in shape: ours {ours.shape}, {reference.shape}")
    return float((np.abs(ours - reference).max(axis=-1) <= AGREEMENT_TOLERANCE).mean())


def machine_info(reports: dict[str, dict]) -> dict:
    """Where the figures come from: CPU, threads, device, versions."""
    import torch

    first = next(iter(reports.values()), {})
    return measure.machine_info(
        threads=first.get("threads", torch.get_num_threads()),
        device=first.get("device_name", ""),
        torch=torch.__version__,
        romatch=measure.package_version("romatch"),
    )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def summarise(
    settings: Settings, reports: dict, grids: dict, flops: FlopCount, sampling: dict | None = None
) -> dict:
    """The JSON summary (:data:`JSON_KEYS` first, then extras, ``sampling`` from
    :func:`core.bench.sampling_speed.measure_sampling`); None where not measured."""
    ours, reference = reports.get("ours", {}), reports.get("reference", {})
    ours_s, reference_s = ours.get("mean_s"), reference.get("mean_s")
    gflop = flops.flops / 1e9 if flops.flops is not None else None
    both = "ours" in grids and "reference" in grids
    summary = {
        "ours_s": ours_s,
        "reference_s": reference_s,
        "speedup": _ratio(reference_s, ours_s),
        "ours_peak_mb": _ratio(ours.get("peak_bytes"), MB),
        "reference_peak_mb": _ratio(reference.get("peak_bytes"), MB),
        "warp_agreement": (
            warp_agreement(grids["ours"]["warp"], grids["reference"]["warp"]) if both else None
        ),
        "gflop": gflop,
        "ours_gflops": _ratio(gflop, ours_s),
        "reference_gflops": _ratio(gflop, reference_s),
        "settings": settings.as_dict(),
        "machine": machine_info(reports),
        "ours_runs_s": ours.get("runs_s"),
        "reference_runs_s": reference.get("runs_s"),
        "ours_build_s": ours.get("build_s"),
        "reference_build_s": reference.get("build_s"),
        "peak_memory_method": next((r["peak_method"] for r in reports.values()), None),
        "flop_method": flops.method or None,
        "flop_notes": list(flops.notes),
        "sampling": sampling,
    }
    if both:
        for name in ("warp", "certainty"):
            difference = np.abs(grids["ours"][name] - grids["reference"][name])
            summary[f"{name}_max_abs_diff"] = float(difference.max())
    return summary


def run_benchmark(settings: Settings, only: str | None = None) -> dict:
    """Run the workers (both, or ``only`` one) and count FLOPs; the summary (see summarise)."""
    from core.bench.roma_speed_worker import FlopCount, count_flops  # it imports this module

    kinds = [kind for kind in WORKERS if only in (None, kind)]
    reports, grids = {}, {}
    with tempfile.TemporaryDirectory(prefix="matchscope-bench-") as folder:
        out_dir = Path(folder)
        if "reference" in kinds:
            reports["reference"] = run_worker_process("reference", settings, out_dir)
        _say("counting FLOPs without data")
        flops = count_flops(settings)
        for note in flops.notes:
            _say(f"FLOP count: {note}")
        if "ours" in kinds:
            real = flops.flops is None
            reports["ours"] = run_worker_process("ours", settings, out_dir, count_flops=real)
            if real:
                flops = FlopCount(reports["ours"]["flops"], "real pass (ours worker)", flops.notes)
        for kind in reports:
            with np.load(out_dir / f"{kind}.npz") as data:
                grids[kind] = {name: data[name] for name in data.files}
    sampling = None
    if "ours" in grids:
        from core.bench.sampling_speed import measure_sampling

        _say(f"timing balanced sampling of {settings.num_samples} matches, ours and romatch's")
        grid = grids["ours"]
        sampling = measure_sampling(
            grid["warp"],
            grid["certainty"],
            settings.num_samples,
            settings.symmetric,
            repeats=settings.repeats,
            warmup=settings.warmup,
            with_reference=only != "ours",
        )
    return summarise(settings, reports, grids, flops, sampling)


# ---------------------------------------------------------------------------------------------
# Report


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_header(summary: dict) -> list[str]:
    """Settings and machine, so the figures can be traced."""
    settings, machine = summary["settings"], summary["machine"]
    coarse, upsample = settings["coarse_res"], settings["upsample_res"]
    upsample_text = f"{upsample[0]}x{upsample[1]}" if upsample else "none"
    return [
        f"RoMa speed: coarse {coarse[0]}x{coarse[1]}, upsample {upsample_text}, "
        f"{'symmetric' if settings['symmetric'] else 'A->B only'}, precision "
        f"{settings['precision']} (romatch {settings['reference_precision']}), "
        f"{settings['device']}, {settings['warmup']} warmup + {settings['repeats']} timed, "
        f"random weights seed {settings['seed']}, backbone {settings['backbone']}",
        f"pair: {settings['pair'][0]} {settings['pair'][1]}",
        f"machine: {machine['cpu']} ({machine['cpu_count']} CPUs), torch threads "
        f"{machine['threads']}, device {machine['device']}, torch {machine['torch']}, romatch "
        f"{machine['romatch']}, Python {machine['python']}",
    ]


def report_rows(summary: dict) -> list[list[str]]:
    """The table: a header row, then romatch's and ours."""
    rows = [["", "s / pair", "peak MB", "GFLOP", "GFLOP/s"]]
    for kind, label in (("reference", "romatch (reference)"), ("ours", "ours")):
        if summary[f"{kind}_s"] is None:  # not run (--only)
            continue
        rows.append(
            [
                label,
                _number(summary[f"{kind}_s"], ".3f"),
                _number(summary[f"{kind}_peak_mb"], ",.0f"),
                _number(summary["gflop"], ",.1f"),
                _number(summary[f"{kind}_gflops"], ",.1f"),
            ]
        )
    return rows


def report_footer(summary: dict) -> list[str]:
    """Speedup, warp agreement, and what the figures mean."""
    directions = "A->B and B->A" if summary["settings"]["symmetric"] else "A->B"
    lines = []
    if summary["speedup"] is not None:
        lines.append(f"speedup: {summary['speedup']:.2f}x (reference_s / ours_s)")
    if summary["warp_agreement"] is not None:
        lines.append(
            f"warp agreement: {100 * summary['warp_agreement']:.2f} % of grid cells within "
            f"{AGREEMENT_TOLERANCE:g} ({directions}; max |difference| "
            f"{summary['warp_max_abs_diff']:.2g})"
        )
    if summary.get("sampling") is not None:
        from core.bench.sampling_speed import report_line

        lines.append(report_line(summary["sampling"]))
    lines.append(
        f"peak memory: {summary['peak_memory_method']}, during the timed runs (weights included)"
    )
    if summary["gflop"] is None:
        lines.append("GFLOP: not counted")
    else:
        lines.append(
            f"GFLOP: one pair through our forward, counted on {summary['flop_method']}; romatch "
            "does the same work up to the local correlation (not a matmul, not counted)"
        )
    return lines + [f"note: {note}" for note in summary["flop_notes"]]


def print_report(summary: dict) -> None:
    for line in report_header(summary):
        print(line)
    from core.bench.report import print_table

    print_table(report_rows(summary))
    for line in report_footer(summary):
        print(line)


def run(args: argparse.Namespace) -> dict:
    """``matchscope bench roma-speed``: measure, write ``--json``, print; the summary."""
    if getattr(args, "model", "roma") == "romav2":
        from core.bench import romav2_speed

        return romav2_speed.run(args)
    if getattr(args, "set", None):
        raise MatchscopeError("--set applies to --model romav2")
    settings = settings_from_args(args)
    if settings.backbone != REFERENCE_BACKBONE and args.only != "ours":
        raise MatchscopeError(
            f"romatch runs {REFERENCE_BACKBONE} only: --backbone {settings.backbone} needs "
            "--only ours"
        )
    json_path = measure.json_output(args.json)
    summary = run_benchmark(settings, only=args.only)
    measure.write_json(json_path, summary)
    print_report(summary)
    return summary
