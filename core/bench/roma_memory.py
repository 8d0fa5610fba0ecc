"""``matchscope bench roma-memory``: RoMa's measured peak memory against its estimate.

For each backbone, RoMa with seeded random weights (:func:`core.models.testing.random_roma`) is
built (the growth of the resident set is the measured weights) and the ``roma`` matcher's
``match`` runs on the demo pair at each ``coarse/upsample`` setting, symmetric and not; its peak
(:class:`core.bench.measure.PeakMemory`, less the resident set before) is put beside
:func:`core.models.roma_memory.activation_bytes`. The estimate refuses a run
(:mod:`core.memory`), so it should be at or above the measured peak, and not far above.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.bench.measure import MB, PeakMemory, cpu_model, current_rss, load_average, release_memory

DEFAULT_SETTINGS = ("224/256", "280/384", "392/512")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backbones",
        default="dinov2_vits14,dinov2_vitl14",
        help="comma-separated backbones (default dinov2_vits14,dinov2_vitl14)",
    )
    parser.add_argument(
        "--settings",
        default=",".join(DEFAULT_SETTINGS),
        metavar="C/U,...",
        help="coarse/upsample resolutions, 0 for no upsample (default "
        f"{','.join(DEFAULT_SETTINGS)})",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the rows to PATH as JSON")


def measure(backbone: str, settings: list[tuple[str, str]], symmetric=(True, False)) -> list[dict]:
    """Rows ``{backbone, coarse, upsample, symmetric, measured_mb, estimated_mb, ratio}``; the
    first row of a backbone is its weights (``coarse`` "weights")."""
    import torch

    from assets import DEMO_A, DEMO_B
    from core.imageio import load_image
    from core.matchers.roma import RomaMatcher
    from core.models import roma_memory
    from core.models.testing import random_roma

    rgb_a, rgb_b = load_image(DEMO_A).rgb, load_image(DEMO_B).rgb
    release_memory("cpu")
    before = current_rss() or 0
    model = random_roma(backbone)
    release_memory("cpu")
    weights = (current_rss() or 0) - before
    rows = [_row(backbone, "weights", "", True, weights, roma_memory.weight_bytes(backbone))]
    for coarse, upsample in settings:
        for sym in symmetric:
            matcher = RomaMatcher(
                backbone=backbone, coarse_res=coarse, upsample_res=upsample, symmetric=sym
            )
            matcher.load_model = lambda: model
            estimate = roma_memory.activation_bytes(
                backbone, matcher.memory_settings(rgb_a.shape[:2], rgb_b.shape[:2])
            )
            release_memory("cpu")
            start = current_rss() or 0
            with torch.inference_mode(), PeakMemory("cpu") as peak:
                result = matcher.match(rgb_a, rgb_b)
            del result
            rows.append(_row(backbone, coarse, upsample, sym, peak.bytes - start, estimate))
            print(_line(rows[-1]), flush=True)
    return rows


def _row(backbone, coarse, upsample, symmetric, measured: int, estimated: int) -> dict:
    return {
        "backbone": backbone,
        "coarse": coarse,
        "upsample": upsample,
        "symmetric": symmetric,
        "measured_mb": round(measured / MB, 1),
        "estimated_mb": round(estimated / MB, 1),
        "ratio": round(estimated / measured, 2) if measured > 0 else None,
    }


def _line(row: dict) -> str:
    what = "weights" if row["coarse"] == "weights" else f"{row['coarse']}/{row['upsample']}"
    sym = "symmetric" if row["symmetric"] else "one-way"
    return (
        f"| {row['backbone']} | {what} | {sym if what != 'weights' else ''} | "
        f"{row['measured_mb']:.0f} | {row['estimated_mb']:.0f} | {row['ratio']} |"
    )


def run(args: argparse.Namespace) -> None:
    settings = []
    for text in args.settings.split(","):
        coarse, _, upsample = text.partition("/")
        settings.append((coarse, upsample or "0"))
    print(f"# CPU: {cpu_model()}, load {load_average()}; peak by PeakMemory('cpu')")
    print("| backbone | coarse/upsample | | measured MB | estimated MB | estimated/measured |")
    print("|---|---|---|---|---|---|")
    rows = []
    for backbone in args.backbones.split(","):
        found = measure(backbone.strip(), settings)
        print(_line(found[0]), flush=True)
        rows += found
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
