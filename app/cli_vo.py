"""``matchscope vo``: monocular visual odometry over a sequence, headless (the work is
:mod:`core.vo.run`); ``matchscope vo-figure``: the 3D figure of a saved run
(:mod:`core.vo.figure3d`)."""

from __future__ import annotations

import sys
from pathlib import Path

from app.cli import _check_out, _Parser


def _parser() -> _Parser:
    from core.sequence.select import add_source_arguments
    from core.vo.frontend import FRONTENDS

    parser = _Parser(
        prog="matchscope vo",
        description="Track a sequence (a video, a folder of images, or a KITTI, TUM RGB-D or "
        "EuRoC folder) into camera poses and a sparse map: DIR/trajectory_kitti.txt (a pose per "
        "input frame), DIR/trajectory_tum.txt (the tracked frames), DIR/stats.csv (a row per "
        "frame), DIR/scene.npz (what the window shows) and DIR/map.ply (the map points, their "
        "colours and observation counts); with --eval, DIR/eval.json (ATE after Sim(3) "
        "alignment, RPE, KITTI drift) and DIR/trajectories.png.",
    )
    parser.add_argument("sequence", metavar="SEQUENCE", help="a video file or a sequence folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--frontend", default="orb", choices=sorted(FRONTENDS), help="features (default orb)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a front-end option, repeatable (dino: backbone, dino_weights, heads, selector, "
        "descriptor, max_size, ...; see core/vo/dino.py; roma: resolution, "
        "certainty_threshold, snap_radius_px, cycle_radius_px, ...; see core/vo/frontend_roma.py)",
    )
    parser.add_argument("--eval", action="store_true", help="evaluate against the ground truth")
    parser.add_argument(
        "--stereo",
        action="store_true",
        help="start the map from a KITTI stereo pair (image_1 beside image_0): metric scale",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every RANSAC (default 0)")
    parser.add_argument(
        "--rerun",
        metavar="FILE.rrd",
        help="also write the run as a Rerun recording (open it with `rerun FILE.rrd`)",
    )
    parser.add_argument(
        "--rerun-image-width",
        type=int,
        default=480,
        metavar="PX",
        help="the frames in the recording at most PX wide (default 480; 0: no images)",
    )
    add_source_arguments(parser)
    return parser


def _figure_parser() -> _Parser:
    parser = _Parser(
        prog="matchscope vo-figure",
        description="Render a saved run (the folder of `matchscope vo --out DIR`) as a 3D "
        "figure: the trajectory, the keyframes' frusta, the map points in their colours and "
        "the aligned ground truth, seen obliquely from above (Open3D's offscreen renderer).",
    )
    parser.add_argument("run", metavar="DIR", help="a `matchscope vo` output folder")
    parser.add_argument("--out", required=True, metavar="FIGURE.png", help="the PNG to write")
    parser.add_argument(
        "--size", default="1280x960", metavar="WxH", help="pixels (default 1280x960)"
    )
    return parser


def run_vo_figure_command(argv: list[str]) -> int:
    """Parse ``argv`` and render the run's 3D figure."""
    from core.vo.figure3d import parse_size, render_scene_png
    from core.vo.scene import load_scene

    parser = _figure_parser()
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        parser.error(f"--size: {exc}")
    out = Path(args.out)
    _check_out(out.absolute().parent, "--out")
    load_scene(Path(args.run))  # a missing or broken scene: one line here, before rendering
    render_scene_png(Path(args.run), out, width, height)
    print(f"3D figure of {args.run} -> {out}")
    return 0


def run_vo_command(argv: list[str]) -> int:
    """Parse ``argv``, run, write the folder and print a summary line."""
    from tqdm import tqdm

    from core.errors import MatchscopeError
    from core.sequence import open_sequence
    from core.vo.frontend import parse_options
    from core.vo.run import run_vo, write_outputs
    from core.vo.scene import sequence_source

    parser = _parser()
    args = parser.parse_args(argv)
    if args.rerun_image_width < 0:
        parser.error("--rerun-image-width: 0 or more pixels")
    out = Path(args.out)
    _check_out(out)
    rerun = Path(args.rerun) if args.rerun else None
    if rerun is not None:
        _check_out(rerun.absolute().parent, "--rerun")
    reader = open_sequence(args.sequence, args.camera, args.intrinsics, args.frames, args.max_size)
    if args.eval and reader.poses is None:
        raise MatchscopeError(f"{args.sequence}: --eval needs ground-truth poses (none found)")
    try:
        run = run_vo(
            reader,
            args.frontend,
            args.seed,
            progress=lambda steps, count: tqdm(
                steps, total=count, desc="vo", unit="frame", file=sys.stderr
            ),
            options=parse_options(args.set),
            stereo=args.stereo,
        )
        run.source = sequence_source(
            args.sequence, args.camera, args.intrinsics, args.frames, args.max_size
        )
        figures = write_outputs(out, reader, run, args.eval, rerun, args.rerun_image_width)
    finally:
        reader.close()
    line = (
        f"{int(run.tracked.sum())} of {len(run.tracked)} frames tracked, "
        f"{len(run.odometry.map.points)} map points, {len(run.tracked) / run.seconds:.1f} frames/s"
    )
    if figures is not None:
        line += f"; ATE {figures['ate_rmse_m']:.3f} m ({figures['ate_percent']:.2f} % of the path)"
    print(f"{line} -> {out}" + (f" (and {rerun})" if rerun is not None else ""))
    if run.skipped:
        names = ", ".join(str(p) for p in sorted(run.skipped))
        print(
            f"matchscope vo: frames that could not be decoded (skipped): {names}", file=sys.stderr
        )
    return 0
