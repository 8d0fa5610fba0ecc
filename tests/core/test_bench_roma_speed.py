"""`matchscope bench roma-speed` at tiny sizes: workers, parent, FLOPs, peak memory, errors."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.bench import roma_speed, roma_speed_worker
from core.errors import MatchscopeError
from tests.conftest import REPO

TINY = ("--coarse-res", "56", "--upsample-res", "64")
HIDE_ROMATCH = (
    "import sys; sys.modules['romatch'] = None; "
    "from core.bench.roma_speed_worker import worker_main; sys.exit(worker_main())"
)


def run_bench(*args):
    """The CLI in a subprocess; one thread per worker, so a busy machine does not stall it."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "bench", "roma-speed", *map(str, args)],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def settings(*args: str) -> roma_speed.Settings:
    parser = argparse.ArgumentParser()
    roma_speed.add_arguments(parser)
    return roma_speed.settings_from_args(parser.parse_args(["--device", "cpu", *args]))


def test_both_workers_run_and_agree(tmp_path):
    pytest.importorskip("romatch", exc_type=ImportError)
    done = run_bench(
        *TINY, "--warmup", "0", "--num-samples", "500", "--json", tmp_path / "bench.json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "bench.json").read_text())
    assert set(roma_speed.JSON_KEYS) <= set(summary)
    numbers = [key for key in roma_speed.JSON_KEYS if key not in ("settings", "machine")]
    assert all(isinstance(summary[key], float) for key in numbers), summary
    assert summary["speedup"] == pytest.approx(summary["reference_s"] / summary["ours_s"])
    assert summary["ours_gflops"] == pytest.approx(summary["gflop"] / summary["ours_s"])
    assert summary["warp_agreement"] >= 0.999
    assert summary["ours_peak_mb"] > 0 and summary["reference_peak_mb"] > 0
    assert summary["gflop"] > 0
    assert summary["settings"]["coarse_res"] == [56, 56]
    assert summary["settings"]["upsample_res"] == [64, 64]
    assert summary["settings"]["symmetric"] is True
    assert summary["machine"]["threads"] == 1 and summary["machine"]["cpu"]
    sampling = summary["sampling"]  # on our worker's 2 x 64 x 64 grid cells
    assert sampling["candidates"] == 2 * 64 * 64 and sampling["num_samples"] == 500
    assert sampling["speedup"] == pytest.approx(sampling["reference_s"] / sampling["ours_s"])
    for text in ("romatch (reference)", "ours", "speedup", "warp agreement", "torch"):
        assert text in done.stdout
    assert "balanced sampling, 500 of 8,192 candidates" in done.stdout
    assert "[reference]" in done.stderr and "[ours]" in done.stderr


@pytest.fixture(scope="module")
def small_count() -> roma_speed_worker.FlopCount:
    """FLOPs of one pair on RoMa-on-ViT-S/14 at 56 / 64 px, counted without data."""
    return roma_speed_worker.count_flops(settings(*TINY, "--backbone", "dinov2_vits14"))


def test_flops_are_counted_without_data_and_grow_with_resolution(small_count):
    large = roma_speed_worker.count_flops(
        settings("--coarse-res", "112", "--upsample-res", "128", "--backbone", "dinov2_vits14")
    )
    assert small_count.method and large.method == small_count.method
    assert 0 < small_count.flops < large.flops
    assert 2 < large.flops / small_count.flops < 6  # about 4x the pixels


@pytest.fixture
def one_thread():
    """torch on one thread for the test (as run_bench's workers), then as it was."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_ours_worker_counts_the_same_on_a_real_pass(small_count, tmp_path, one_thread):
    chosen = settings(*TINY, "--backbone", "dinov2_vits14", "--warmup", "0")
    roma_speed_worker.run_worker("ours", chosen, tmp_path, count_real_flops=True)
    report = json.loads((tmp_path / "ours.json").read_text())
    assert report["flops"] == small_count.flops
    assert report["peak_bytes"] > 0 and len(report["runs_s"]) == 1 and report["mean_s"] > 0
    assert report["threads"] == 1
    with np.load(tmp_path / "ours.npz") as data:
        assert data["warp"].shape == (2, 64, 64, 2) and data["certainty"].shape == (2, 64, 64)


def test_a_missing_reference_is_a_one_line_error(monkeypatch, capsys):
    from app.cli import main

    original = roma_speed.worker_command

    def without_romatch(*args, **kwargs):
        command = original(*args, **kwargs)  # python -m core.bench.roma_speed_worker --worker ...
        return [sys.executable, "-c", HIDE_ROMATCH, *command[3:]]

    monkeypatch.setattr(roma_speed, "worker_command", without_romatch)
    assert main(["bench", "roma-speed", *TINY]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors[-1] == f"matchscope: error: {roma_speed.ROMATCH_MISSING}"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--coarse-res", "57"), "multiples of the patch size 14"),
        (("--upsample-res", "60"), "sides must divide by 8"),
        (("--backbone", "dinov2_vits14"), "needs --only ours"),
        (("--pair", "nowhere.png", "nowhere.png"), "no such file"),
        (("--repeats", "0"), "--repeats must be >= 1"),
        (("--num-samples", "0"), "--num-samples must be >= 1"),
    ],
)
def test_bad_settings_are_one_line_errors(args, message, capsys):
    from app.cli import main

    assert main(["bench", "roma-speed", *TINY, *args]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("matchscope: error:") and message in error and "\n" not in error


PEAK_MEMORY_CHECK = """
import numpy as np
from core.bench import measure
megabyte = measure.MB
spike = np.ones(300 * megabyte // 8)  # a peak before the measurement: not counted
del spike
baseline = measure.current_rss()
with measure.PeakMemory("cpu") as peak:
    block = np.ones(80 * megabyte // 8)
    del block
assert peak.method
assert baseline + 75 * megabyte <= peak.bytes < baseline + 250 * megabyte, (baseline, peak.bytes)
"""


def test_peak_memory_counts_what_happens_inside_only():
    """In a fresh process: in this one, the allocator may hand back pages earlier tests left
    resident, so a new array need not raise the resident set."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_CHECK], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_warp_agreement_counts_cells_within_the_tolerance():
    ours = np.zeros((2, 4, 5, 2), np.float32)
    theirs = ours.copy()
    theirs[0, 0, 0, 1] = 2e-3  # y off: the cell disagrees
    theirs[1, 0, 0, 0] = 5e-4  # within the tolerance
    assert roma_speed.warp_agreement(ours, theirs) == pytest.approx(39 / 40)
    with pytest.raises(MatchscopeError, match="differ in shape"):
        roma_speed.warp_agreement(ours, theirs[:1])


def test_the_reference_output_is_split_into_our_layout():
    import torch

    warp = torch.arange(1 * 3 * 8 * 4, dtype=torch.float32).reshape(1, 3, 8, 4)
    certainty = torch.arange(24, dtype=torch.float32).reshape(1, 3, 8)
    warps, certainties = roma_speed_worker.split_reference(warp, certainty, symmetric=True)
    assert warps.shape == (2, 3, 4, 2) and certainties.shape == (2, 3, 4)
    assert torch.equal(warps[0], warp[0, :, :4, 2:]) and torch.equal(warps[1], warp[0, :, 4:, :2])
    assert torch.equal(certainties[1], certainty[0, :, 4:])


def test_compile_reaches_the_ours_worker():
    parser = argparse.ArgumentParser()
    roma_speed.add_arguments(parser)
    settings = roma_speed.settings_from_args(parser.parse_args(["--compile", "--device", "cpu"]))
    assert settings.compile and "--compile" in settings.worker_args()
    plain = roma_speed.settings_from_args(parser.parse_args(["--device", "cpu"]))
    assert "--compile" not in plain.worker_args()


# ---------------------------------------------------------------------------------------------
# --model romav2


def test_romav2_runs_both_workers_and_reports_the_ratio_and_agreement(tmp_path):
    """Both models at 64 px (4 x 4 coarse cells), each in its own process, one timed pair."""
    out = tmp_path / "v2.json"
    done = run_bench(
        "--model", "romav2", "--set", "setting=turbo", "--set", "resolution=64",
        "--warmup", "0", "--device", "cpu", "--json", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["model"] == "romav2"
    assert summary["speedup"] == pytest.approx(summary["reference_s"] / summary["ours_s"])
    assert summary["warp_agreement"] >= 0.999
    assert summary["ours_peak_mb"] > 1000 and summary["reference_peak_mb"] > 1000  # weights in
    assert summary["gflop"] > 0 and summary["settings"]["resolution_hw"] == [64, 64]
    assert "speedup" in done.stdout and "warp agreement" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "setting=slow"), "setting 'slow'"),
        (("--set", "seed=3"), "the benchmark takes"),
        (("--precision", "fp16"), "fp32 or bf16"),
    ],
)
def test_romav2_bad_options_are_refused_before_any_worker(args, message):
    from core.bench import romav2_speed

    parser = argparse.ArgumentParser()
    roma_speed.add_arguments(parser)
    parsed = parser.parse_args(["--device", "cpu", "--model", "romav2", *args])
    with pytest.raises(MatchscopeError, match=message):
        romav2_speed.settings_from_args(parsed)
