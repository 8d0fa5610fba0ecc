"""Memory a run will need against what the machine has, and one message for both refusing a run
that will not fit and a run that still runs out.

A matcher estimates its need before loading anything heavy (RoMa:
:func:`core.models.roma_memory.roma_need_bytes`; keypoint matchers:
:meth:`core.matchers.keypoints.KeypointMatcher.memory_need`) and calls :func:`check_memory`,
which raises :class:`OutOfMemory` when the need exceeds :func:`available_bytes`. Running out anyway
(CUDA's ``torch.OutOfMemoryError``, Python's ``MemoryError``, the CPU allocator's
``RuntimeError``) inside :func:`out_of_memory_as_error` gives the same message. GiB are 2^30 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import MatchscopeError

GIB = 2**30


def available_bytes(device) -> int | None:
    """Bytes a run on ``device`` can still allocate; None if unknown.

    CPU: the kernel's ``MemAvailable`` (``/proc/meminfo``, else psutil). CUDA: the free device
    memory (``torch.cuda.mem_get_info``) plus what torch's allocator holds but does not use.
    """
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if kind != "cpu":
        return None
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


@dataclass(frozen=True)
class MemoryNeed:
    """A run's estimated need on ``device``, what it was for (``settings``, e.g. "coarse 560,
    upsample 864, symmetric") and what to lower (``suggestion``), in bytes."""

    what: str  # the matcher's name
    device: str
    needed: int | None  # None: not estimated (nothing is refused, the message has no numbers)
    settings: str
    suggestion: str
    available: int | None = None

    def message(self) -> str:
        """The one line for a refused run and for one that ran out of memory."""
        text = f"{self.what}: out of memory on {self.device}: {self.suggestion}"
        if self.needed is None:
            return text
        numbers = f"needs about {self.needed / GIB:.2f} GiB at {self.settings}"
        if self.available is not None:
            numbers += f", {self.available / GIB:.2f} GiB available"
        return f"{text} ({numbers})"


class OutOfMemory(MatchscopeError):
    """A run refused, or stopped, for want of memory; ``need`` says how much and what to lower."""

    def __init__(self, need: MemoryNeed):
        self.need = need
        super().__init__(need.message())


def check_memory(need: MemoryNeed) -> MemoryNeed:
    """``need`` with the memory available now; raises :class:`OutOfMemory` if it does not fit."""
    from dataclasses import replace

    if need.needed is None:
        return need
    need = replace(need, available=available_bytes(need.device))
    if need.available is not None and need.needed > need.available:
        raise OutOfMemory(need)
    return need


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is running out of memory: CUDA's or Python's error, or the CPU
    allocator's ``RuntimeError`` ("can't allocate memory")."""
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


@contextmanager
def out_of_memory_as_error(need: MemoryNeed) -> Iterator[None]:
    """Turn running out of memory inside the block into :class:`OutOfMemory` with ``need``'s
    message; other errors pass."""
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, OutOfMemory) or not is_out_of_memory(exc):
            raise
        raise OutOfMemory(need) from None
