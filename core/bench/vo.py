"""``bench vo``: our VO against a frame-to-frame essential-matrix chain, in the same run.

The chain is the baseline every VO must beat: ORB features of consecutive frames matched as
the ``orb`` front-end does, an essential matrix and its pose, each step scaled to unit length,
no map. Its essential matrix is OpenCV's RANSAC (1 px): on KITTI 06 frames 0-50 MAGSAC++ picked
a wrong model (a sideways step, 5 degrees of rotation) on 3 of the first 10 pairs, and the
chain's ATE was 2.8 % of the path against RANSAC's 0.8 %: the stronger baseline is kept. A
step that finds no pose repeats the last motion (the frame counts as not tracked). Both are
evaluated by :func:`core.vo.evaluation.evaluate` (ATE after Sim(3) alignment, RPE, KITTI
drift, frames per second over the whole run, features included).
``--synthetic N`` runs on the synthetic room of :mod:`core.vo.synthetic` (turns and speed
changes: the motion a unit-step chain cannot follow) instead of ``--sequence``.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from core.bench import measure
from core.errors import MatchscopeError
from core.geometry import find_essential, recover_pose
from core.sequence.base import SequenceReader
from core.sequence.select import add_source_arguments
from core.vo.backend import pose_from_rt
from core.vo.evaluation import evaluate, trajectory_length_m
from core.vo.frontend import FRONTENDS, OrbFrontend, parse_options
from core.vo.run import run_vo

SYNTHETIC_SIZE_HW = (480, 640)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequence", metavar="PATH", help="a sequence with ground-truth poses")
    source.add_argument(
        "--synthetic", type=int, metavar="N", help="N frames of the synthetic room (480 x 640)"
    )
    parser.add_argument(
        "--frontend",
        action="append",
        choices=sorted(FRONTENDS),
        help="a front-end of ours (repeat for several; default orb)",
    )
    parser.add_argument(
        "--stereo",
        action="store_true",
        help="ours starts from a KITTI stereo pair (metric scale; `vo --stereo`)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[NAME.]KEY=VALUE",
        help="a front-end option of ours (`vo --set`), repeatable: KEY=VALUE for every "
        "front-end, NAME.KEY=VALUE for front-end NAME only (e.g. orb.max_features=2000)",
    )
    add_source_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of every RANSAC (default 0)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")


def chain_poses(reader: SequenceReader, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """The baseline's (N, 4, 4) camera-to-world poses, (N,) tracked mask and seconds."""
    frontend = OrbFrontend(reader.intrinsics)
    K = frontend.K
    poses, tracked = np.zeros((len(reader), 4, 4)), np.zeros(len(reader), bool)
    poses[0], tracked[0] = np.eye(4), True
    motion = np.eye(4)
    start = time.perf_counter()
    previous = frontend.detect(reader.read(0))
    for position in range(1, len(reader)):
        current = frontend.detect(reader.read(position))
        matches = frontend.match(previous, current)
        step = None
        if len(matches) >= 8:
            points_a, points_b = previous.ideal[matches[:, 0]], current.ideal[matches[:, 1]]
            found = find_essential(points_a, points_b, K, 1.0, cv2.RANSAC, seed=seed)
            if found is not None:
                pose = recover_pose(found[0], points_a, points_b, found[1], K)
                if pose is not None:
                    step = pose_from_rt(pose[0], pose[1] / np.linalg.norm(pose[1]))
        if step is not None:
            motion, tracked[position] = step, True
        poses[position] = poses[position - 1] @ motion
        previous = current
    return poses, tracked, time.perf_counter() - start


def measure_vo(
    reader: SequenceReader,
    frontends: list[str],
    seed: int,
    stereo: bool = False,
    settings: list[str] = (),
) -> dict:
    """``{"ours": {frontend: eval figures}, "chain": eval figures}`` on ``reader``; with
    ``stereo`` ours start from a stereo pair and their figures add ``path_length_ratio`` (the
    path's length over the truth's, before any alignment: 1 at metric scale); ``settings``:
    ``--set`` values (`frontend_options`)."""
    if reader.poses is None:
        raise MatchscopeError(f"{reader.name}: bench vo needs ground-truth poses")
    if reader.intrinsics is None:
        raise MatchscopeError(f"{reader.name}: bench vo needs intrinsics (--intrinsics FILE)")
    ours = {}
    for name in frontends:
        run = run_vo(reader, name, seed, stereo=stereo, options=frontend_options(settings, name))
        ours[name] = evaluate(run.poses, reader.poses, None, run.tracked, run.seconds)
        if stereo:
            truth = reader.poses[run.tracked]
            ours[name]["path_length_ratio"] = trajectory_length_m(
                run.poses[run.tracked]
            ) / trajectory_length_m(truth)
    poses, tracked, seconds = chain_poses(reader, seed)
    chain = evaluate(poses, reader.poses, None, tracked, seconds)
    return {"ours": ours, "chain": chain}


def frontend_options(settings: list[str], name: str) -> dict[str, str]:
    """The options of front-end ``name`` among ``--set`` values: ``KEY=VALUE`` (every
    front-end's) and ``NAME.KEY=VALUE`` (``name``'s own, which wins over every front-end's)."""
    shared, own = [], []
    for text in settings:
        key = text.partition("=")[0]
        prefix, dot, _ = key.partition(".")
        if not dot:
            shared.append(text)
        elif prefix not in FRONTENDS:
            raise MatchscopeError(f"--set {text}: {prefix} is no front-end")
        elif prefix == name:
            own.append(text[len(prefix) + 1 :])
    return {**parse_options(shared), **parse_options(own)}


def run(args: argparse.Namespace) -> dict:
    """``matchscope bench vo``: measure, write ``--json``, print; the summary."""
    from core.sequence import open_sequence

    json_path = measure.json_output(args.json)
    if args.synthetic is not None:
        from core.vo.synthetic import SyntheticSequence

        if args.synthetic < 10:
            raise MatchscopeError("--synthetic needs at least 10 frames")
        from core.sequence.resize import resize_frames
        from core.sequence.select import select_frames

        room = SyntheticSequence(args.synthetic, SYNTHETIC_SIZE_HW, args.seed)
        reader = resize_frames(select_frames(room, args.frames), args.max_size)
        height, width = SYNTHETIC_SIZE_HW
        source = f"the synthetic room, {args.synthetic} frames {width} x {height}" + (
            f" --frames {args.frames}" if args.frames else ""
        )
    else:
        reader = open_sequence(
            args.sequence, args.camera, args.intrinsics, args.frames, args.max_size
        )
        source = f"{args.sequence}" + (f" --frames {args.frames}" if args.frames else "")
    source += f" --max-size {args.max_size}" if args.max_size else ""
    source += "".join(f" --set {text}" for text in args.set)
    load_before = measure.load_average()
    try:
        frontends = args.frontend or ["orb"]
        figures = measure_vo(reader, frontends, args.seed, args.stereo, args.set)
    finally:
        reader.close()
    summary = {
        **figures,
        "source": source,
        "machine": measure.machine_info(load_before=load_before),
    }
    measure.write_json(json_path, summary)
    print_report(summary)
    return summary


def print_report(summary: dict) -> None:
    machine = summary["machine"]
    print(f"VO on {summary['source']}")
    print(
        f"machine: {machine['cpu']} ({machine['cpu_count']} CPUs), load average (1 min) "
        f"before / after {machine['load_before']} / {machine['load_average']}"
    )
    rows = [*((f"ours: {name}", f) for name, f in summary["ours"].items())]
    rows.append(("chain (E, unit steps)", summary["chain"]))
    print(f"{'':24} {'ATE m':>8} {'ATE %':>7} {'RPE1 m':>8} {'RPE1 deg':>8} {'fps':>6} tracked")
    for name, f in rows:
        print(
            f"{name:24} {f['ate_rmse_m']:8.3f} {f['ate_percent']:7.2f} "
            f"{f['rpe_trans_m_1']:8.4f} {f['rpe_rot_deg_1']:8.3f} {f['fps']:6.1f} "
            f"{f['tracked_frames']}/{f['frames']}"
        )
    chain = summary["chain"]["ate_rmse_m"]
    for name, f in summary["ours"].items():
        print(f"{name}: ATE {chain / f['ate_rmse_m']:.1f} times lower than the chain's")
        if "path_length_ratio" in f:
            print(f"{name}: stereo start, path length {f['path_length_ratio']:.3f} x the truth's")
