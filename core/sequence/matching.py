"""Matching a sequence headless: the pairs, per-pair statistics, ``stats.csv`` and the
per-pair results (no Qt).

``DIR/stats.csv`` has one row per matched pair: ``frame_a, frame_b`` (the frames' ids, e.g. a
KITTI file name's number, not their positions), ``matches``, ``inliers`` (MAGSAC++ essential
matrix with intrinsics, else fundamental matrix; see :func:`core.geometry.two_view_inliers`),
``inlier_ratio``, ``mean_certainty``, ``seconds`` (matching only) and, when the sequence has
ground-truth poses, ``pose_error_deg`` (empty where a frame has no pose or no pose was found).
Each pair's result is ``DIR/results/A_B.npz`` (:func:`core.result.save_result`) with the
frame ids A and B.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError, MatchscopeError
from core.geometry import pose_error_deg, relative_pose, two_view_inliers
from core.imageio import from_array
from core.result import MatchResult, save_result
from core.run import run_match
from core.sequence.base import FrameInfo, SequenceReader
from core.sequence.cache import FrameCache

STATS_COLUMNS = (
    "frame_a",
    "frame_b",
    "matches",
    "inliers",
    "inlier_ratio",
    "mean_certainty",
    "seconds",
)
POSE_COLUMN = "pose_error_deg"
FRAME_CACHE_BYTES = 256 * 2**20
"""Decoded frames kept while matching (a pair's frames are read once for both pairs)."""


def sequence_pairs(
    length: int, step: int = 1, reference: int | None = None
) -> list[tuple[int, int]]:
    """Pairs of positions of a sequence of ``length`` frames: ``(t, t + step)`` for every t,
    or, with ``reference``, ``(t, reference)`` for every other t. :class:`MatchscopeError` for a
    step < 1 or a reference outside the sequence."""
    if reference is not None:
        if not 0 <= reference < length:
            raise MatchscopeError(
                f"--reference {reference}: no such position (the sequence has {length} frames, "
                f"positions 0..{length - 1})"
            )
        return [(t, reference) for t in range(length) if t != reference]
    if step < 1:
        raise MatchscopeError(f"--step {step}: must be 1 or more")
    return [(t, t + step) for t in range(length - step)]


@dataclass
class PairStats:
    """One pair's row of ``stats.csv`` (see the module docstring); ``pose_error_deg`` is NaN
    without a pose, None when the sequence has no ground truth at all."""

    frame_a: int | str
    frame_b: int | str
    matches: int
    inliers: int
    inlier_ratio: float
    mean_certainty: float
    seconds: float
    pose_error_deg: float | None = None


def pair_stats(
    result: MatchResult, reader: SequenceReader, position_a: int, position_b: int
) -> PairStats:
    """The statistics of ``result``, the match of positions ``position_a`` -> ``position_b``."""
    matches = np.asarray(result.matches, np.float64).reshape(-1, 4)
    intrinsics = reader.intrinsics
    K = None if intrinsics is None else intrinsics.K
    distortion = None
    if intrinsics is not None and np.any(intrinsics.distortion):
        distortion = intrinsics.distortion
    found = two_view_inliers(matches[:, :2], matches[:, 2:], K, distortion=distortion)
    count, inliers = len(matches), int(found.inliers.sum())
    certainty = np.asarray(result.match_certainty, np.float64)
    error = None
    if reader.poses is not None:
        T_wa, T_wb = reader.poses[position_a], reader.poses[position_b]
        error = float("nan")
        if found.pose is not None and np.isfinite(T_wa).all() and np.isfinite(T_wb).all():
            error = pose_error_deg(*found.pose, relative_pose(T_wa, T_wb))
    return PairStats(
        frame_a=reader.frames[position_a].frame_id,
        frame_b=reader.frames[position_b].frame_id,
        matches=count,
        inliers=inliers,
        inlier_ratio=inliers / count if count else 0.0,
        mean_certainty=float(certainty.mean()) if len(certainty) else float("nan"),
        seconds=float(result.timings.get("total", float("nan"))),
        pose_error_deg=error,
    )


def result_name(stats: PairStats) -> str:
    """``A_B.npz`` for the frame ids of a pair (characters unfit for a file name -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{stats.frame_a}_{stats.frame_b}") + ".npz"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_stats_csv(rows: list[PairStats], path: str | os.PathLike, with_pose: bool) -> None:
    """``rows`` as ``stats.csv`` (header line, then a row per pair; NaN written empty)."""
    columns = STATS_COLUMNS + ((POSE_COLUMN,) if with_pose else ())
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(_cell(getattr(row, column)) for column in columns)


def _frame_id(text: str) -> int | str:
    """A frame id as :class:`FrameInfo` types it: an int for a number written as
    :func:`write_stats_csv` writes one (``"12"``, not ``"012"``), else the text."""
    return int(text) if text.isdigit() and str(int(text)) == text else text


def _number(text: str, kind: type) -> float | int:
    return float("nan") if kind is float and text == "" else kind(text)


def read_stats_csv(path: str | os.PathLike) -> list[PairStats]:
    """The rows of a ``stats.csv`` written by :func:`write_stats_csv`, in file order (empty
    cells -> NaN; ``pose_error_deg`` None without that column). :class:`InputError` (one line)
    for a file that cannot be read or is not such a table."""
    try:
        with open(path, newline="") as handle:
            table = csv.reader(handle)
            header = tuple(next(table, ()))
            lines = list(table)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the statistics ({exc})") from None
    if header not in (STATS_COLUMNS, (*STATS_COLUMNS, POSE_COLUMN)):
        raise InputError(path, f"not a stats.csv: expected the columns {', '.join(STATS_COLUMNS)}")
    kinds = {name: int if name in ("matches", "inliers") else float for name in header[2:]}
    rows = []
    for number, line in enumerate(lines, start=2):
        if not line:
            continue
        if len(line) != len(header):
            raise InputError(path, f"line {number}: {len(line)} cells, expected {len(header)}")
        cells = dict(zip(header, line, strict=True))
        try:
            values = {name: _number(cells[name], kind) for name, kind in kinds.items()}
        except ValueError as exc:
            raise InputError(path, f"line {number}: {exc}") from None
        rows.append(PairStats(_frame_id(cells["frame_a"]), _frame_id(cells["frame_b"]), **values))
    return rows


@dataclass
class SequenceRun:
    """What :func:`match_sequence` did: ``rows`` (one per matched pair) and ``skipped`` (the
    frames that could not be decoded, with the reason, in the order met)."""

    rows: list[PairStats]
    skipped: list[tuple[FrameInfo, str]]


def match_sequence(
    reader: SequenceReader,
    matcher,
    pairs: list[tuple[int, int]],
    out: str | os.PathLike,
    matcher_name: str = "",
    progress: Callable[[Iterable], Iterable] = iter,
) -> SequenceRun:
    """Match the position ``pairs`` of ``reader`` with ``matcher``, writing each result as
    ``out/results/A_B.npz`` and the statistics as ``out/stats.csv``. A frame that cannot be
    decoded (:class:`InputError`) is recorded once and every pair with it skipped;
    ``progress`` wraps the iteration over the pairs (e.g. a tqdm bar)."""
    out = Path(out)
    results = out / "results"
    try:
        results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MatchscopeError(f"{out}: cannot write the results ({exc.strerror or exc})") from None
    cache = FrameCache(reader, FRAME_CACHE_BYTES)
    bad: dict[int, str] = {}
    run = SequenceRun([], [])

    def frame(position: int):
        if position in bad:
            return None
        try:
            return cache.get(position)
        except InputError as exc:
            bad[position] = exc.reason
            run.skipped.append((reader.frames[position], exc.reason))
            return None

    for position_a, position_b in progress(pairs):
        rgb_a, rgb_b = frame(position_a), frame(position_b)
        if rgb_a is None or rgb_b is None:
            continue
        image_a = from_array(rgb_a, reader.frames[position_a].path)
        image_b = from_array(rgb_b, reader.frames[position_b].path)
        result = run_match(matcher, image_a, image_b, matcher_name=matcher_name)
        stats = pair_stats(result, reader, position_a, position_b)
        try:
            save_result(result, results / result_name(stats))
        except OSError as exc:
            raise MatchscopeError(
                f"{results}: cannot write the results ({exc.strerror or exc})"
            ) from None
        run.rows.append(stats)
    write_stats_csv(run.rows, out / "stats.csv", with_pose=reader.poses is not None)
    return run


def skipped_line(skipped: list[tuple[FrameInfo, str]]) -> str:
    """One line naming the skipped frames, e.g. ``skipped 2 frames that could not be decoded:
    3 (position 3), 7 (position 7)``."""
    names = ", ".join(f"{info.frame_id} (position {info.position})" for info, _ in skipped)
    count = len(skipped)
    return f"skipped {count} frame{'s' if count != 1 else ''} that could not be decoded: {names}"
