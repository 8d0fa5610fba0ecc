"""``--frames A:B[:S]``: a range of positions, and a reader restricted to it (no Qt); the options
that every command reading a sequence takes."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from core.errors import MatchscopeError
from core.sequence.base import SequenceReader


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """``--frames``, ``--camera``, ``--intrinsics`` and ``--max-size``: what
    `core.sequence.open_sequence` takes besides the path (match-sequence, vo, bench vo and the
    window)."""
    parser.add_argument(
        "--frames", metavar="A:B[:S]", help="only the positions A..B-1 (every S-th with :S)"
    )
    parser.add_argument("--camera", metavar="NAME", help="a dataset's camera folder (image_1 ...)")
    parser.add_argument("--intrinsics", metavar="FILE", help="camera intrinsics (YAML/JSON)")
    parser.add_argument(
        "--max-size",
        type=int,
        metavar="PX",
        help="scale the frames (and the intrinsics) down to a longer side of PX pixels",
    )


def parse_frame_range(text: str) -> slice:
    """``"A:B"`` or ``"A:B:S"`` -> ``slice(A, B)`` or ``slice(A, B, S)`` of positions, as Python
    slices read (``10:50``, ``:100``, ``5:``; B excluded; ``::3`` every third frame, to try a VO
    on three times the motion per frame); :class:`MatchscopeError` in one line otherwise."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3):
        raise MatchscopeError(
            f"--frames {text!r}: expected A:B or A:B:S (e.g. 10:50, :100, 5:, ::2)"
        )
    try:
        start, stop, *step = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise MatchscopeError(f"--frames {text!r}: A, B and S must be whole numbers") from None
    step = step[0] if step else None
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        raise MatchscopeError(f"--frames {text!r}: positions start at 0")
    if start is not None and stop is not None and stop <= start:
        raise MatchscopeError(f"--frames {text!r}: B must be greater than A")
    if step is not None and step < 1:
        raise MatchscopeError(f"--frames {text!r}: the step S must be at least 1")
    return slice(start, stop, step)


class FrameSelection(SequenceReader):
    """The frames ``positions`` of ``reader``, renumbered from 0 (frame ids, timestamps,
    paths and poses kept)."""

    def __init__(self, reader: SequenceReader, positions: range):
        self.reader = reader
        self.positions = positions
        self.name = reader.name
        self.intrinsics = reader.intrinsics
        self.frames = [replace(reader.frames[p], position=i) for i, p in enumerate(positions)]
        self.poses = None if reader.poses is None else reader.poses[np.asarray(positions, int)]

    def read(self, position: int) -> np.ndarray:
        return self.reader.read(self.positions[position])

    def close(self) -> None:
        self.reader.close()


def select_frames(reader: SequenceReader, frames: slice | str | None) -> SequenceReader:
    """``reader`` restricted to the positions ``frames`` (a slice or ``"A:B[:S]"``; None: all);
    a range holding no frame raises :class:`MatchscopeError`."""
    if frames is None:
        return reader
    selected = parse_frame_range(frames) if isinstance(frames, str) else frames
    positions = range(len(reader))[selected]
    if len(positions) == 0:
        raise MatchscopeError(
            f"--frames {selected.start or 0}:{'' if selected.stop is None else selected.stop}: "
            f"no frames there (the sequence has {len(reader)}, positions 0..{len(reader) - 1})"
        )
    return FrameSelection(reader, positions)
