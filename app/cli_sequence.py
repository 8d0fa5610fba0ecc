"""``matchscope match-sequence``: match a sequence's frame pairs headless (the work is
:mod:`core.sequence.matching`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli import _add_matcher_options, _check_out, _flag_settings, _parse_settings, _Parser

RUN_INFO = "run.json"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="matchscope match-sequence",
        description="Match the frame pairs of a sequence (a video, a folder of images, or a "
        "KITTI, TUM RGB-D or EuRoC folder) and write DIR/stats.csv (frame_a, frame_b: frame ids; "
        "matches, inliers under an essential matrix with intrinsics, else a fundamental matrix, "
        "MAGSAC++; inlier_ratio, mean_certainty, seconds; pose_error_deg with ground-truth "
        "poses) and DIR/results/A_B.npz, each pair's result. Frames that cannot be decoded are "
        "skipped and named on stderr.",
    )
    parser.add_argument("sequence", metavar="SEQUENCE", help="a video file or a sequence folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_sequence_options(parser)
    _add_matcher_options(parser, "sift")
    return parser


def add_sequence_options(parser: argparse.ArgumentParser) -> None:
    """--step / --reference, --frames, --camera, --intrinsics and --max-size (match-sequence's
    and the window's)."""
    from core.sequence.select import add_source_arguments

    pairs = parser.add_mutually_exclusive_group()
    pairs.add_argument(
        "--step", type=int, default=1, metavar="K", help="pairs t, t+K of positions (default 1)"
    )
    pairs.add_argument(
        "--reference", type=int, metavar="N", help="pairs t, N with the fixed position N"
    )
    add_source_arguments(parser)


def write_run_info(out: Path, matcher: str, settings: dict, max_size: int | None = None) -> None:
    """``DIR/run.json``: the matcher, settings and ``--max-size`` that made a results folder
    (the window matches the pairs it lacks with them, on frames of the same size)."""
    info = {"matcher": matcher, "settings": settings, "max_size": max_size}
    (out / RUN_INFO).write_text(json.dumps(info, indent=1, default=str) + "\n")


def read_run_info(folder: str | Path) -> tuple[str, dict, int | None] | None:
    """The matcher, settings and ``--max-size`` (None: full size) of a results folder's
    ``run.json``; None without one (or a malformed one: the folder's results still open)."""
    try:
        info = json.loads((Path(folder) / RUN_INFO).read_text())
        max_size = info.get("max_size")
        return (
            str(info["matcher"]),
            dict(info.get("settings") or {}),
            max_size if isinstance(max_size, int) else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def run_match_sequence(argv: list[str]) -> int:
    """Parse ``argv``, match, print a summary line; 0 also when frames were skipped."""
    from tqdm import tqdm

    from core.matchers import create_matcher
    from core.sequence import open_sequence
    from core.sequence.matching import match_sequence, sequence_pairs, skipped_line

    args = _parser().parse_args(argv)
    out = Path(args.out)
    _check_out(out)
    reader = open_sequence(args.sequence, args.camera, args.intrinsics, args.frames, args.max_size)
    pairs = sequence_pairs(len(reader), args.step, args.reference)
    settings = {**_parse_settings(args.matcher, args.settings), **_flag_settings(args)}
    matcher = create_matcher(args.matcher, settings)
    try:
        run = match_sequence(
            reader,
            matcher,
            pairs,
            out,
            matcher_name=args.matcher,
            progress=lambda items: tqdm(items, desc="matching", unit="pair", file=sys.stderr),
        )
    finally:
        reader.close()
    write_run_info(out, args.matcher, settings, args.max_size)
    print(f"{len(run.rows)} of {len(pairs)} pairs matched -> {out / 'stats.csv'}")
    if run.skipped:
        print(f"matchscope match-sequence: {skipped_line(run.skipped)}", file=sys.stderr)
    return 0
