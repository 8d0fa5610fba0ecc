"""``matchscope bench roma-speed``: our RoMa against romatch (the reference) on the same weights.

Both models hold the same seeded random weights (:func:`core.models.testing.random_roma` on a
DINOv2 ViT-L/14, the backbone romatch hardcodes) and match the same image pair at the same
settings. The report gives, for each, seconds per pair, peak memory, GFLOP and achieved GFLOP/s,
then the speedup (``reference_s / ours_s``) and how well the two warps agree.

Method
------
* **One process per model.** The parent runs ``python -m core.bench.roma_speed --worker KIND``
  twice, the reference first, so neither model's weights, caches or allocator state sit in the
  other's figures. A worker builds its model (the reference worker builds ours only to take its
  two state dicts, hands them to romatch's ``roma_model`` and frees them before measuring),
  loads the pair with :func:`core.imageio.load_image`, runs ``--warmup`` untimed matches, then
  ``--repeats`` timed ones under ``torch.inference_mode()``, and leaves its figures (JSON) and
  its last warp and certainty (``.npz``) in a temporary folder of the parent's. Its progress
  lines come through on stderr; its failure becomes one line (:class:`MatchscopeError`).
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
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.bench import measure
from core.bench.measure import MB, PeakMemory, release_memory
from core.errors import MatchscopeError

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
# FLOPs


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one pair through our forward (None: not counted), how, and what failed first."""

    flops: int | None
    method: str = ""
    notes: tuple[str, ...] = ()


def _extra_flop_formulas() -> dict:
    """Ops torch's counter does not know: SDPA's CPU kernel (it knows the CUDA ones)."""
    import torch
    from torch.utils.flop_counter import sdpa_flop_count

    try:
        op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    except (AttributeError, RuntimeError):
        return {}

    def cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query, key, value)

    return {op: cpu_attention}


def forward_flops(model, inputs: tuple, symmetric: bool) -> int:
    """FLOPs of ``model(a, b, upsample_a=up_a, upsample_b=up_b)``; ``inputs = (a, b, up_a,
    up_b)``: (1, 3, h, w) coarse images and (1, 3, H, W) upsample ones or None."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    a, b, up_a, up_b = inputs
    counter = FlopCounterMode(display=False, custom_mapping=_extra_flop_formulas())
    with torch.inference_mode(), counter:
        model(a, b, upsample_a=up_a, upsample_b=up_b, symmetric=symmetric)
    return int(counter.get_total_flops())


def _blank_inputs(settings: Settings) -> tuple:
    """Inputs without values on the current default device (meta or fake): see forward_flops."""
    import torch

    coarse, upsample = settings.coarse_res, settings.upsample_res
    ups = (torch.empty(1, 3, *upsample), torch.empty(1, 3, *upsample)) if upsample else (None,) * 2
    return (torch.empty(1, 3, *coarse), torch.empty(1, 3, *coarse), *ups)


def _flops_on_meta(settings: Settings) -> int:
    import torch

    from core.models.roma import Roma
    from core.models.vit import build_backbone

    with torch.device("meta"):
        model = Roma(build_backbone(settings.backbone, device="meta")).eval()
        return forward_flops(model, _blank_inputs(settings), settings.symmetric)


def _flops_on_fake_tensors(settings: Settings) -> int:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from core.models.roma import Roma
    from core.models.vit import build_backbone

    with FakeTensorMode():
        model = Roma(build_backbone(settings.backbone)).eval()
        return forward_flops(model, _blank_inputs(settings), settings.symmetric)


def count_flops(settings: Settings) -> FlopCount:
    """FLOPs of one pair through our forward at ``settings``, counted without computing."""
    notes = []
    for method, counter in (("meta", _flops_on_meta), ("fake tensors", _flops_on_fake_tensors)):
        try:
            return FlopCount(counter(settings), method, tuple(notes))
        except Exception as exc:  # an op the device or the fake mode does not support
            first_line = (str(exc).strip().splitlines() or [""])[0]
            notes.append(f"{method} failed: {type(exc).__name__}: {first_line}")
    return FlopCount(None, "", tuple(notes))


# ---------------------------------------------------------------------------------------------
# The models, as a worker runs them


def build_ours(settings: Settings):
    """:func:`~core.models.testing.random_roma` (seed, backbone) on the device, eval mode."""
    from core.models.roma import compile_model
    from core.models.testing import random_roma

    model = random_roma(settings.backbone, settings.seed).to(settings.device)
    return compile_model(model) if settings.compile else model


def ours_inputs(settings: Settings, rgb_a: np.ndarray, rgb_b: np.ndarray) -> tuple:
    """(H, W, 3) uint8 A and B -> (a, b, up_a, up_b) on the device: (1, 3, h, w) at the coarse
    resolution and (1, 3, H, W) at the upsample one (None without upsampling)."""
    from core.matchers.roma import preprocess

    sizes = (settings.coarse_res, settings.upsample_res)
    return tuple(
        preprocess(rgb, size).to(settings.device) if size else None
        for size in sizes
        for rgb in (rgb_a, rgb_b)
    )


def ours_matcher(model, settings: Settings, rgb_a: np.ndarray, rgb_b: np.ndarray) -> Callable:
    """A callable matching the pair, preprocessing included -> warp (N', H, W, 2), certainty
    (N', H, W)."""
    import torch

    from core.models.roma import autocast_context

    def match():
        a, b, up_a, up_b = ours_inputs(settings, rgb_a, rgb_b)
        with torch.inference_mode(), autocast_context(settings.device, settings.precision):
            out = model(a, b, upsample_a=up_a, upsample_b=up_b, symmetric=settings.symmetric)
        return out.warp, out.certainty

    return match


def import_reference():
    """romatch's ``roma_models`` module, or a one-line error saying how to install it."""
    try:
        from romatch.models.model_zoo import roma_models
    except ImportError as exc:
        missing = (exc.name or "romatch").split(".")[0]
        if missing == "romatch":
            raise MatchscopeError(ROMATCH_MISSING) from None
        raise MatchscopeError(
            f"romatch cannot be imported without {missing}: pip install .[reference]"
        ) from None
    return roma_models


def _reference_amp_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def build_reference(settings: Settings):
    """romatch's RoMa holding ``random_roma(seed)``'s weights; ours is freed before returning."""
    from core.models.testing import random_roma, without_random_init

    zoo = import_reference()
    ours = random_roma(REFERENCE_BACKBONE, settings.seed)
    weights, dino_weights = ours.state_dict(), ours.backbone.state_dict()
    with without_random_init():  # romatch loads both state dicts strictly
        reference = zoo.roma_model(
            resolution=settings.coarse_res,
            upsample_preds=settings.upsample_res is not None,
            upsample_res=settings.upsample_res,
            device=settings.device,
            weights=weights,
            dinov2_weights=dino_weights,
            amp_dtype=_reference_amp_dtype(settings.precision),
            use_custom_corr=False,
            symmetric=settings.symmetric,
        )
    del ours, weights, dino_weights
    release_memory(settings.device)
    return reference.eval()


def reference_matcher(reference, rgb_a: np.ndarray, rgb_b: np.ndarray) -> Callable:
    """A callable matching the pair with romatch -> its raw (warp, certainty)."""
    from PIL import Image

    def match():
        return reference.match(Image.fromarray(rgb_a), Image.fromarray(rgb_b))

    return match


def split_reference(warp, certainty, symmetric: bool) -> tuple:
    """romatch's output -> ours: warp (N', H, W, 2) and certainty (N', H, W).

    Symmetric: (1, H, 2W, 4) and (1, H, 2W); rows hold (xA, yA, xB, yB): in the left half A's
    cells and where they land in B, in the right half where B's cells land in A and B's cells.
    Else (1, H, W, 4) and (1, H, W), the left half alone.
    """
    import torch

    if not symmetric:
        return warp[..., 2:], certainty
    width = warp.shape[2] // 2
    warps = torch.stack((warp[0, :, :width, 2:], warp[0, :, width:, :2]))
    return warps, torch.stack((certainty[0, :, :width], certainty[0, :, width:]))


# ---------------------------------------------------------------------------------------------
# Worker


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_matches(match: Callable, settings: Settings) -> tuple[list[float], PeakMemory, object]:
    """Run ``match`` ``repeats`` times: seconds of each, the peak memory, the last output."""
    import torch

    seconds, output = [], None
    with torch.inference_mode(), PeakMemory(settings.device) as peak:
        for index in range(settings.repeats):
            output = None  # the previous output is not held during the next run
            _synchronize(settings.device)
            start = time.perf_counter()
            output = match()
            _synchronize(settings.device)
            seconds.append(time.perf_counter() - start)
            _say(f"timed run {index + 1}/{settings.repeats}: {seconds[-1]:.3f} s")
    return seconds, peak, output


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def build_matcher(kind: str, settings: Settings, rgb_a: np.ndarray, rgb_b: np.ndarray) -> tuple:
    """The model of ``kind`` and a callable matching the pair with it."""
    what = "romatch" if kind == "reference" else f"ours on {settings.backbone}"
    _say(f"building {what} with random weights (seed {settings.seed}) on {settings.device}")
    if kind == "ours":
        model = build_ours(settings)
        return model, ours_matcher(model, settings, rgb_a, rgb_b)
    model = build_reference(settings)
    return model, reference_matcher(model, rgb_a, rgb_b)


def run_worker(kind: str, settings: Settings, out_dir: Path, count_real_flops: bool) -> None:
    """Build one model, time it, and leave ``KIND.json`` (figures) and ``KIND.npz`` (``warp``
    (N', H, W, 2), ``certainty`` (N', H, W)) in ``out_dir``."""
    import torch

    from core.imageio import load_image

    rgb_a, rgb_b = (load_image(path).rgb for path in settings.pair)
    started = time.perf_counter()
    model, match = build_matcher(kind, settings, rgb_a, rgb_b)
    build_s = time.perf_counter() - started
    release_memory(settings.device)
    for index in range(settings.warmup):
        _say(f"warmup {index + 1}/{settings.warmup}")
        with torch.inference_mode():
            match()
    seconds, peak, output = time_matches(match, settings)
    if kind == "reference":
        output = split_reference(*output, settings.symmetric)
    report = {
        "kind": kind,
        "runs_s": seconds,
        "mean_s": sum(seconds) / len(seconds),
        "build_s": build_s,
        "peak_bytes": peak.bytes,
        "peak_method": peak.method,
        "threads": torch.get_num_threads(),
        "device_name": _device_name(settings.device),
        "torch": torch.__version__,
    }
    if count_real_flops and kind == "ours":
        _say("counting FLOPs on a real pass")
        inputs = ours_inputs(settings, rgb_a, rgb_b)
        report["flops"] = forward_flops(model, inputs, settings.symmetric)
    warp, certainty = (tensor.float().cpu().numpy() for tensor in output)
    np.savez(out_dir / f"{kind}.npz", warp=warp, certainty=certainty)
    (out_dir / f"{kind}.json").write_text(json.dumps(report))


def worker_main(argv: list[str] | None = None) -> int:
    """``python -m core.bench.roma_speed --worker KIND --out DIR ...`` (run by the parent)."""
    parser = argparse.ArgumentParser(
        prog="python -m core.bench.roma_speed",
        description="One worker of `matchscope bench roma-speed`, which runs it.",
    )
    add_arguments(parser)
    parser.add_argument("--worker", choices=WORKERS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--count-flops", action="store_true", help="count on a real pass")
    args = parser.parse_args(argv)
    import torch

    try:
        run_worker(args.worker, settings_from_args(args), args.out, args.count_flops)
    except MatchscopeError as exc:
        message = " ".join(str(exc).split())
    except (MemoryError, torch.OutOfMemoryError):
        message = (
            f"{args.worker}: out of memory at coarse {args.coarse_res} / upsample "
            f"{args.upsample_res}: lower the resolutions"
        )
    else:
        return 0
    (args.out / f"{args.worker}.error").write_text(message)
    _say(f"error: {message}")
    return 2


# ---------------------------------------------------------------------------------------------
# Parent


def worker_command(kind: str, settings: Settings, out_dir: Path, count_flops: bool) -> list[str]:
    """The command line of one worker process."""
    command = [sys.executable, "-m", "core.bench.roma_speed", "--worker", kind]
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


if __name__ == "__main__":
    sys.exit(worker_main())
