"""What every benchmark measures besides its own figures: this process's memory, the machine,
and its load (``bench roma-speed``, ``bench pairs``, ``bench cancel``, ``bench ui`` and
``bench vo`` share them; :func:`machine_info` is the ``machine`` entry of their JSON, which
:func:`json_output` and :func:`write_json` check and write).

A model benchmark measures each model in a worker process of its own
(:func:`run_worker_process`), so that neither's weights or allocator state sit in the other's
figures.

Peak memory (:class:`PeakMemory`) counts the resident weights as well as the activations: on
Linux the kernel's high-water mark of the resident set (``VmHWM``) reset by writing 5 to
``/proc/self/clear_refs``; where that file cannot be written, the resident set sampled every
2 ms by a thread; on CUDA ``torch.cuda.max_memory_allocated()`` after
``reset_peak_memory_stats()``. MB are 2^20 bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path

from core.errors import MatchscopeError

MB = 2**20
SAMPLING_INTERVAL_S = 0.002
REPO_ROOT = Path(__file__).resolve().parents[2]


def current_rss() -> int | None:
    """This process's resident set in bytes (Linux ``/proc``, else psutil); None if unknown."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def _status_kb(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (e.g. ``VmHWM``), None if absent."""
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident set (``VmHWM``) to the current one; False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


class _RssSampler(threading.Thread):
    """The largest resident set seen by sampling every 2 ms (``stop()`` returns it, bytes)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = current_rss() or 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLING_INTERVAL_S):
            self.peak = max(self.peak, current_rss() or 0)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return max(self.peak, current_rss() or 0)


class PeakMemory:
    """Peak memory of this process inside ``with``: ``.bytes``, and ``.method`` saying how.

    CUDA: ``torch.cuda.max_memory_allocated()``; Linux: ``VmHWM`` reset by ``clear_refs``;
    elsewhere the resident set sampled every 2 ms, or as a last resort ``ru_maxrss`` (the
    peak over the whole process's life).
    """

    def __init__(self, device: str):
        self.device = device
        self.bytes = 0
        self.method = ""
        self._sampler: _RssSampler | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.method = "torch.cuda.max_memory_allocated"
        elif _reset_peak_rss():
            self.method = "VmHWM reset by /proc/self/clear_refs"
        elif current_rss() is not None:
            self.method = "resident set sampled every 2 ms"
            self._sampler = _RssSampler()
            self._sampler.start()
        else:
            self.method = "ru_maxrss (peak over the whole worker's life)"
        return self

    def __exit__(self, *exc_info) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            self.bytes = int(torch.cuda.max_memory_allocated())
        elif self._sampler is not None:
            self.bytes = self._sampler.stop()
        elif self.method.startswith("VmHWM"):
            self.bytes = (_status_kb("VmHWM") or 0) * 1024
        else:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.bytes = int(peak if sys.platform == "darwin" else peak * 1024)


def release_memory(device: str) -> None:
    """Give back what building left: Python's garbage, glibc's free lists, CUDA's cache."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def cpu_model() -> str:
    """The CPU's name (``model name`` in /proc/cpuinfo, else what platform knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> float | None:
    """The machine's 1-minute load average (others' work shows in it), None if unknown."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, None if it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(**extra) -> dict:
    """Where a benchmark's figures come from: the CPU, its count, the load average (1 min) now,
    Python and the platform; ``extra`` entries (threads, device, versions) are added."""
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **extra,
    }


def json_output(path: str | None) -> Path | None:
    """``--json PATH`` checked before any work: its folder must exist (None: no JSON)."""
    if not path:
        return None
    json_path = Path(path)
    if not json_path.parent.is_dir():
        raise MatchscopeError(f"--json {json_path}: no folder {json_path.parent}")
    return json_path


def write_json(json_path: Path | None, summary: dict, indent: int = 2) -> None:
    """Write a benchmark's ``summary`` to ``json_path`` (nothing for None); one line on failure."""
    if json_path is None:
        return
    try:
        json_path.write_text(json.dumps(summary, indent=indent) + "\n")
    except OSError as exc:
        raise MatchscopeError(f"--json {json_path}: cannot write ({exc.strerror})") from None


def run_worker_process(kind: str, command: list[str], out_dir: Path) -> dict:
    """Run one benchmark worker (``command``, with the repository on ``PYTHONPATH``), passing
    its output on to stderr as ``[kind] ...`` lines; its ``out_dir/KIND.json`` report. A worker
    that leaves ``KIND.error`` or fails raises :class:`MatchscopeError` with one line."""
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    last = ""
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
    ) as process:
        for line in process.stdout:
            if line.strip():
                last = line.strip()
                print(f"  [{kind}] {line.rstrip()}", file=sys.stderr, flush=True)
        status = process.wait()
    error = out_dir / f"{kind}.error"
    if error.exists():
        raise MatchscopeError(error.read_text().strip())
    if status != 0:
        raise MatchscopeError(f"the {kind} worker failed (exit status {status}): {last}")
    return json.loads((out_dir / f"{kind}.json").read_text())
