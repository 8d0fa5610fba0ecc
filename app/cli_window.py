"""The window's command line: ``matchscope [IMAGE IMAGE] [--matcher M] ...`` with no subcommand
(its arguments are checked before Qt starts, with the subcommands' one-line errors)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from app import WINDOW_MATCHER
from app.cli import (
    SUBCOMMANDS,
    _add_matcher_options,
    _check_out,
    _flag_settings,
    _parse_settings,
    _Parser,
)
from app.cli_sequence import add_sequence_options, read_run_info
from core.errors import MatchscopeError


def _gui_parser() -> argparse.ArgumentParser:
    from core.figure_compose import DEFAULT_PANELS, PANELS

    subcommands = "\n".join(f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items())
    parser = _Parser(
        prog="matchscope",
        description="Matchscope: a workbench for debugging image matchers. With no subcommand, "
        "opens the window on images A and B (the bundled demo pair by default).",
        epilog=f"subcommands (each has --help):\n{subcommands}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image A and image B; or one video file or sequence folder (images, KITTI "
        "odometry, TUM RGB-D, EuRoC MAV): the window opens it on the timeline",
    )
    _add_matcher_options(parser, WINDOW_MATCHER)
    add_sequence_options(parser)
    parser.add_argument(
        "--export-sequence",
        metavar="PATH",
        help="with a sequence: export a view over a range of frames to PATH (.mp4, .mkv, .mov, "
        ".avi: a video; else a folder of PNGs), each pair with its result, then exit (0 on "
        "success); see --export-view, --export-frames, --export-fps",
    )
    parser.add_argument(
        "--export-view",
        default="pair_view",
        metavar="NAME",
        help="the view --export-sequence writes: pair_view (default), certainty, warp, "
        "true_error, anchors, attention, keypoints, statistics, ...",
    )
    parser.add_argument(
        "--export-frames",
        metavar="A:B",
        help="the positions --export-sequence writes: A..B-1 (default: every frame)",
    )
    parser.add_argument(
        "--export-fps",
        type=float,
        default=10.0,
        metavar="FPS",
        help="frames per second of the exported video (default 10)",
    )
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="with a sequence: reopen the results in DIR (written by match-sequence or File > "
        "Save sequence results…) instead of matching those pairs again; the pairs it lacks are "
        "matched with its run.json's matcher unless --matcher is given",
    )
    parser.add_argument(
        "--dataset",
        metavar="PATH",
        help="benchmark the matcher on this dataset folder in the Benchmarks dock (the formats "
        "of `matchscope bench pairs`); click a pair there to see it with its ground truth",
    )
    parser.add_argument(
        "--screenshot",
        metavar="PATH",
        help="run the matcher (or the --dataset benchmark) to completion, save a PNG of the "
        "whole window and exit (0 on success); how the window is checked headlessly, e.g. "
        "under xvfb-run",
    )
    parser.add_argument(
        "--screenshot-views",
        metavar="DIR",
        help="as --screenshot, but save every view as its own PNG in DIR: pair_view.png, "
        "certainty.png, true_error.png, warp.png, anchors.png, attention.png, keypoints.png, "
        "matches.png, benchmarks.png, probe.png (each dock raised in turn)",
    )
    parser.add_argument(
        "--export-figure",
        metavar="PATH",
        help="as --screenshot, but save the composed figure of the result for the probe "
        "(PNG, SVG or PDF by PATH's suffix; see File > Export figure…)",
    )
    parser.add_argument(
        "--figure-views",
        type=_figure_views,
        metavar="LIST",
        help="the figure's panels, comma-separated, from: "
        f"{', '.join(PANELS)} (default: those of {','.join(DEFAULT_PANELS)} that the result has)",
    )
    parser.add_argument(
        "--figure-width", type=float, default=7.0, metavar="IN",
        help="the figure's width in inches (default 7.0, a double column; 3.5: a single one)",
    )  # fmt: skip
    parser.add_argument(
        "--figure-dpi", type=float, default=300.0, metavar="N",
        help="the figure's pixels per inch (PNG and its images; default 300)",
    )  # fmt: skip
    parser.add_argument(
        "--workspace",
        metavar="FILE",
        help="reopen a workspace saved with File > Save workspace…: its images, matcher and "
        "settings, probe and layout, with the result saved beside it (FILE's stem + "
        ".result.npz) when its weights' SHA-256 and images still match, else matched again",
    )
    parser.add_argument(
        "--vo",
        metavar="DIR",
        help="reopen a visual odometry run (DIR/scene.npz, written by `vo --out DIR` or "
        "Sequence > Save VO run…) without running it: with the sequence it came from when that "
        "can still be opened, else the VO docks alone",
    )
    parser.add_argument(
        "--probe",
        type=_probe_point,
        metavar="X,Y",
        help="once the match ends, probe pixel (X, Y) of A as a click there would (pixel "
        "centres: the top-left pixel is 0,0)",
    )
    return parser


def _figure_views(text: str) -> tuple[str, ...]:
    """``--figure-views a,certainty``: known panel names."""
    from core.figure_compose import PANELS

    views = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [view for view in views if view not in PANELS]
    if unknown or not views:
        raise argparse.ArgumentTypeError(
            f"unknown panel(s) {', '.join(unknown) or repr(text)}; panels: {', '.join(PANELS)}"
        )
    return views


def _probe_point(text: str) -> tuple[float, float]:
    """``--probe X,Y``: two finite numbers."""
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        x = y = None
    if x is None or not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"wants X,Y: two numbers (a pixel of A), got {text!r}")
    return x, y


def _check_probe(probe: tuple[float, float], path_a: str | None) -> None:
    """Fail unless pixel ``probe`` lies in image A (its pixels span -0.5 .. W - 0.5)."""
    from core.imageio import load_image

    if path_a is None:
        raise MatchscopeError("--probe needs image A: give the images A and B")
    height, width = load_image(path_a).size_hw
    x, y = probe
    if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):
        raise MatchscopeError(
            f"--probe {x:g},{y:g} is outside image A ({width} x {height} pixels: x in "
            f"0..{width - 1}, y in 0..{height - 1})"
        )


def run_window(argv: list[str]) -> int:
    """Check the window's arguments, then open it (see :func:`app.gui.run_gui`)."""
    from core.matchers import check_matcher

    args = _gui_parser().parse_args(argv)
    if len(args.images) not in (0, 1, 2):
        raise MatchscopeError(
            "give two images A and B, one video or sequence folder, or none for the demo pair "
            f"(got {len(args.images)})"
        )
    sequence = _sequence_request(args, argv)
    if args.vo is not None:
        _check_vo(args)
    settings = {**_parse_settings(args.matcher, args.settings), **_flag_settings(args)}
    if args.workspace:
        workspace = _read_workspace(args, settings)
        args.matcher, settings = workspace.matcher, workspace.settings
    check_matcher(args.matcher, settings)  # a wrong option stops here, before the window opens
    if args.dataset:
        from core.bench.datasets import open_dataset

        open_dataset(args.dataset)
    if args.screenshot_views:
        _check_out(Path(args.screenshot_views), "--screenshot-views")
    figure = _figure_request(args)
    if args.probe is not None and args.workspace:
        _check_probe(args.probe, workspace.image_a)
    elif args.probe is not None:
        _check_probe(args.probe, args.images[0] if args.images else _demo_a(args.dataset))
    if _no_display():
        raise MatchscopeError(
            "no display to open the window on: run under xvfb-run, set QT_QPA_PLATFORM=offscreen, "
            "or use `matchscope match` for headless work"
        )
    from app.gui import run_gui

    path_a, path_b = args.images if len(args.images) == 2 else (None, None)
    return run_gui(
        path_a,
        path_b,
        args.matcher,
        settings,
        args.screenshot,
        args.dataset,
        args.screenshot_views,
        args.probe,
        args.workspace,
        figure,
        sequence,
        args.vo,
    )


def _sequence_request(args: argparse.Namespace, argv: list[str]):
    """The one-argument form, checked (the input must open as a sequence): a
    `SequenceRequest`, or None for pairs (then no sequence option may be given)."""
    from app.gui import SequenceRequest
    from core.sequence import is_video_file, open_sequence
    from core.sequence.matching import sequence_pairs

    options = [
        args.camera,
        args.intrinsics,
        args.frames,
        args.max_size,
        args.results,
        args.reference,
    ]
    if len(args.images) != 1:
        if any(o is not None for o in (*options, args.export_sequence)) or args.step != 1:
            raise MatchscopeError(
                "--step, --reference, --frames, --camera, --intrinsics, --max-size, --results "
                "and --export-sequence need one video file or sequence folder"
            )
        return None
    if args.workspace or args.dataset or args.probe is not None or args.export_figure:
        raise MatchscopeError(
            "a sequence takes none of --workspace, --dataset, --probe, --export-figure"
        )
    if Path(args.images[0]).is_file() and not is_video_file(args.images[0]):
        raise MatchscopeError(
            f"{args.images[0]}: not a sequence (one argument opens a video or a sequence "
            "folder); give two images A and B for a pair"
        )
    reader = open_sequence(args.images[0], args.camera, args.intrinsics, args.frames, args.max_size)
    try:
        if len(reader) < 2:
            raise MatchscopeError(f"{args.images[0]}: a sequence needs two frames or more")
        sequence_pairs(len(reader), args.step, args.reference)  # a step or reference out of range
        export = _export_request(args, len(reader))
    finally:
        reader.close()
    if args.results:
        _check_results(args, argv)
    return SequenceRequest(
        args.images[0], args.camera, args.intrinsics, args.frames, args.results, args.step,
        args.reference, export, args.max_size,
    )  # fmt: skip


def _check_vo(args: argparse.Namespace) -> None:
    """``--vo DIR`` must hold a readable scene.npz, and comes alone (it names its sequence)."""
    from core.vo.scene import load_scene

    if args.images or args.workspace or args.dataset or args.probe is not None:
        raise MatchscopeError(
            "--vo DIR names its own sequence: give no images, --workspace, --dataset or --probe"
        )
    if args.export_figure or args.screenshot_views:
        raise MatchscopeError("--vo takes no --export-figure or --screenshot-views")
    load_scene(Path(args.vo))


def _export_request(args: argparse.Namespace, length: int):
    """``--export-sequence`` and its options, checked against a sequence of ``length`` frames
    (None without it)."""
    from app.sequence_export import SequenceExport
    from core.sequence.select import parse_frame_range

    if args.export_sequence is None:
        if args.export_frames is not None:
            raise MatchscopeError("--export-frames needs --export-sequence PATH")
        return None
    if args.screenshot or args.screenshot_views:
        raise MatchscopeError("--export-sequence takes no --screenshot or --screenshot-views")
    if not 0.5 <= args.export_fps <= 120:
        raise MatchscopeError(f"--export-fps {args.export_fps:g}: use 0.5 to 120")
    chosen = range(length)
    if args.export_frames is not None:
        chosen = range(length)[parse_frame_range(args.export_frames)]
    if not len(chosen):
        raise MatchscopeError(f"--export-frames {args.export_frames}: no frame of the sequence")
    path = Path(args.export_sequence)
    _check_out(path.absolute().parent, "--export-sequence")
    return SequenceExport(
        args.export_view, chosen[0], chosen[-1], str(path), args.export_fps, wait=True
    )


def _check_results(args: argparse.Namespace, argv: list[str]) -> None:
    """``--results DIR`` must hold a stats.csv; without --matcher its run.json's matcher is
    taken, and without --max-size its frame size (a different --max-size is refused: the
    saved keypoints are pixels of frames of that size)."""
    if not (Path(args.results) / "stats.csv").is_file():
        raise MatchscopeError(f"{args.results}: --results has no stats.csv")
    info = read_run_info(args.results)
    given = any(arg == "--matcher" or arg.startswith("--matcher=") for arg in argv)
    if info is not None and not given:
        args.matcher = info[0]
        args.settings = [f"{key}={value}" for key, value in info[1].items()]
    if info is not None and info[2] is not None:
        if args.max_size is not None and args.max_size != info[2]:
            raise MatchscopeError(
                f"{args.results}: matched at --max-size {info[2]}, not {args.max_size}"
            )
        args.max_size = info[2]


def _figure_request(args: argparse.Namespace):
    """``--export-figure`` and its options, checked (None without it)."""
    from app.figure_dialog import FigureRequest
    from core.figure_compose import check_figure_path, check_figure_size

    if args.export_figure is None:
        if args.figure_views is not None:
            raise MatchscopeError("--figure-views needs --export-figure PATH")
        return None
    path = check_figure_path(args.export_figure)
    check_figure_size(args.figure_width, args.figure_dpi)
    _check_out(path.absolute().parent, "--export-figure")
    return FigureRequest(str(path), args.figure_views, args.figure_width, args.figure_dpi)


def _read_workspace(args: argparse.Namespace, settings: dict):
    """``--workspace FILE`` read (malformed: one line), refusing what it replaces."""
    from core.workspace import read_workspace

    if args.images or args.dataset:
        raise MatchscopeError("--workspace names its own images: give no images and no --dataset")
    if args.matcher != WINDOW_MATCHER or settings:
        raise MatchscopeError("--workspace names its own matcher and settings: give neither")
    return read_workspace(args.workspace)


def _demo_a(dataset: str | None) -> str | None:
    """Image A of the window without images: the demo pair's (none with a dataset)."""
    import assets

    return None if dataset or not assets.DEMO_A.exists() else str(assets.DEMO_A)


def _no_display() -> bool:
    """True on Linux with neither an X nor a Wayland display nor a chosen Qt platform."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
