"""One worker of ``matchscope bench roma-speed`` (:mod:`core.bench.roma_speed`, whose
docstring gives the method): the models as a worker builds, runs and times them, its process's
entry point (``python -m core.bench.roma_speed_worker --worker KIND``), and the FLOP count of
our forward that the parent makes without data."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.bench.measure import PeakMemory, release_memory
from core.bench.roma_speed import (
    REFERENCE_BACKBONE,
    ROMATCH_MISSING,
    WORKERS,
    Settings,
    _say,
    add_arguments,
    settings_from_args,
)
from core.errors import MatchscopeError

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


def measure_matches(match: Callable, settings, kind: str, build_s: float) -> tuple[dict, object]:
    """``settings.warmup`` untimed runs of ``match``, then ``settings.repeats`` timed ones
    (``settings``: this module's or `core.bench.romav2_speed`'s); the report's figures (seconds
    of each run and their mean, the peak memory, threads, device, torch) and the last output."""
    import torch

    release_memory(settings.device)
    for index in range(settings.warmup):
        _say(f"warmup {index + 1}/{settings.warmup}")
        with torch.inference_mode():
            match()
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
    return report, output


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

    from core.imageio import load_image

    rgb_a, rgb_b = (load_image(path).rgb for path in settings.pair)
    started = time.perf_counter()
    model, match = build_matcher(kind, settings, rgb_a, rgb_b)
    build_s = time.perf_counter() - started
    report, output = measure_matches(match, settings, kind, build_s)
    if kind == "reference":
        output = split_reference(*output, settings.symmetric)
    if count_real_flops and kind == "ours":
        _say("counting FLOPs on a real pass")
        inputs = ours_inputs(settings, rgb_a, rgb_b)
        report["flops"] = forward_flops(model, inputs, settings.symmetric)
    warp, certainty = (tensor.float().cpu().numpy() for tensor in output)
    np.savez(out_dir / f"{kind}.npz", warp=warp, certainty=certainty)
    (out_dir / f"{kind}.json").write_text(json.dumps(report))


def worker_main(argv: list[str] | None = None) -> int:
    """``python -m core.bench.roma_speed_worker --worker KIND --out DIR ...`` (run by the
    parent)."""
    parser = argparse.ArgumentParser(
        prog="python -m core.bench.roma_speed_worker",
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


if __name__ == "__main__":
    sys.exit(worker_main())
