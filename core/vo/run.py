"""A VO run over a whole sequence and its output folder (no Qt).

`run_vo` tracks every frame in order with `core.vo.tracker.VisualOdometry`; `write_outputs`
writes ``trajectory_kitti.txt`` (one camera-to-world pose per input frame, in input order; a
frame not tracked repeats the last pose, the identity before the first), ``trajectory_tum.txt``
(the tracked frames, timestamps from the sequence or else the frame index), ``stats.csv`` (a row
per frame), ``scene.npz`` (`core.vo.scene`: what the window shows), ``map.ply`` (the map points,
`core.vo.geometry3d.write_map_ply`), with ``evaluate`` ``eval.json`` and ``trajectories.png``,
and on request a Rerun recording (`core.vo.rerun_log`).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError, MatchscopeError
from core.sequence.base import SequenceReader
from core.vo.evaluation import (
    align_sim3,
    evaluate,
    plot_trajectories,
    write_kitti_trajectory,
    write_tum_trajectory,
)
from core.vo.frontend import Frontend, make_frontend
from core.vo.geometry3d import MAP_FILE, write_map_ply
from core.vo.scene import SCENE_FILE, frame_poses, save_scene, scene_from_run
from core.vo.stereo import stereo_partner
from core.vo.tracker import Detection, FrameStats, VisualOdometry

STAGES = ("detect", "match", "pose", "map")
STATS_COLUMNS = (
    "position",
    "frame_id",
    "tracked",
    "keyframe",
    "keypoints",
    "matches",
    "inliers",
    "new_points",
    "reprojection_error_px",
    *(f"seconds_{stage}" for stage in STAGES),
)


@dataclass
class VoRun:
    """A finished run: (N, 4, 4) ``poses`` per input frame (untracked frames repeat the last
    pose), (N,) ``tracked``, the frames' `FrameStats`, the frames that could not be decoded
    {position: reason}, the tracker (its map), the wall-clock ``seconds``, the frames' size and
    the scene's ``source`` (`core.vo.scene.sequence_source`)."""

    poses: np.ndarray
    tracked: np.ndarray
    stats: list[FrameStats]
    skipped: dict[int, str]
    odometry: VisualOdometry
    seconds: float
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the frames
    source: str = ""


def run_vo(
    reader: SequenceReader,
    frontend: str | Frontend,
    seed: int = 0,
    progress: Callable[[Iterable, int], Iterable] | None = None,
    options: dict[str, object] | None = None,
    stereo: bool = False,
) -> VoRun:
    """Track every frame of ``reader`` with the front-end named ``frontend`` (made with
    ``options``) or with a front-end already made; ``stereo``: start from a stereo pair
    (`core.vo.stereo`, metric scale); ``progress(steps, count)`` wraps the iterator of the
    ``count`` frames' steps (a progress bar)."""
    if reader.intrinsics is None:
        raise MatchscopeError(
            f"{reader.name}: VO needs the camera's intrinsics (give --intrinsics FILE)"
        )
    if not isinstance(frontend, Frontend):
        frontend = make_frontend(frontend, reader.intrinsics, options=options)
    partner = stereo_partner(reader) if stereo else None
    odometry = VisualOdometry(frontend, seed, partner)
    steps: Iterable[tuple[int, str | None]] = track_frames(reader, odometry)
    if progress is not None:
        steps = progress(steps, len(reader))
    skipped: dict[int, str] = {}
    start = time.perf_counter()
    for position, problem in steps:
        if problem is not None:
            skipped[position] = problem
    seconds = time.perf_counter() - start
    return collect_run(odometry, len(reader), skipped, seconds)


def track_frames(
    reader: SequenceReader, odometry: VisualOdometry
) -> Iterator[tuple[int, str | None]]:
    """Feed every frame of ``reader`` to ``odometry`` in order, yielding ``(position, None)``
    after each, or ``(position, reason)`` for a frame that could not be decoded. The next
    frame is decoded and its features detected in a thread while this one is tracked (the
    decoders, OpenCV and torch release the GIL): on KITTI 06 with ORB that hides the
    detection's 20 to 25 ms a frame. Closing the generator stops after the frame in hand."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = worker.submit(_read_and_detect, reader, odometry, 0) if len(reader) else None
        for position in range(len(reader)):
            found = pending.result()
            if position + 1 < len(reader):
                pending = worker.submit(_read_and_detect, reader, odometry, position + 1)
            if isinstance(found, InputError):
                yield position, str(found)
                continue
            right = odometry.right_image(reader.frames[position])
            odometry.process_detected(position, found, right)
            yield position, None


def _read_and_detect(
    reader: SequenceReader, odometry: VisualOdometry, position: int
) -> Detection | InputError:
    """Frame ``position``'s features, or the error that kept it from being read."""
    try:
        rgb = reader.read(position)
    except InputError as exc:
        return exc
    return odometry.detect(rgb)


def collect_run(
    odometry: VisualOdometry, count: int, skipped: dict[int, str], seconds: float, source: str = ""
) -> VoRun:
    """The `VoRun` of a tracker fed frames of a sequence of ``count`` frames (those it was not
    given count as untracked)."""
    poses, tracked = frame_poses(odometry, count)
    stats = [odometry.stats.get(p, FrameStats(p)) for p in range(count)]
    return VoRun(poses, tracked, stats, skipped, odometry, seconds, odometry.image_size, source)


def write_outputs(
    out: Path,
    reader: SequenceReader,
    run: VoRun,
    with_eval: bool,
    rerun: Path | None = None,
    rerun_image_width: int = 480,
) -> dict | None:
    """The output folder (module docstring); the evaluation's figures with ``with_eval``. With
    ``rerun``, the run as a Rerun recording there, with the frames at most
    ``rerun_image_width`` px wide (0: no images; ``reader`` must still be open)."""
    out.mkdir(parents=True, exist_ok=True)
    write_kitti_trajectory(out / "trajectory_kitti.txt", run.poses)
    timestamps = np.array(
        [
            frame.timestamp if frame.timestamp is not None else float(frame.position)
            for frame in reader.frames
        ]
    )
    write_tum_trajectory(
        out / "trajectory_tum.txt", timestamps[run.tracked], run.poses[run.tracked]
    )
    scene = scene_from_run(run, reader)
    save_scene(out / SCENE_FILE, scene)
    write_map_ply(out / MAP_FILE, scene)
    if rerun is not None:
        from core.vo.rerun_log import log_scene

        frames = reader.read if rerun_image_width > 0 else None
        log_scene(scene, rerun, frames, rerun_image_width)
    with open(out / "stats.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(STATS_COLUMNS)
        for stats, frame in zip(run.stats, reader.frames, strict=True):
            writer.writerow(
                [
                    stats.position,
                    frame.frame_id,
                    int(stats.tracked),
                    int(stats.keyframe),
                    stats.keypoints,
                    stats.matches,
                    stats.inliers,
                    stats.new_points,
                    f"{stats.reprojection_error_px:.4f}",
                    *(f"{stats.seconds.get(stage, 0.0):.5f}" for stage in STAGES),
                ]
            )
    if not with_eval:
        return None
    if reader.poses is None:
        raise MatchscopeError(f"{reader.name}: --eval needs ground-truth poses")
    figures = evaluate(run.poses, reader.poses, None, run.tracked, run.seconds)
    (out / "eval.json").write_text(json.dumps(figures, indent=1) + "\n")
    known = np.all(np.isfinite(reader.poses), axis=(1, 2))
    plot_trajectories(
        out / "trajectories.png",
        align_sim3(run.poses, reader.poses),
        reader.poses[known],
        f"{reader.name}: {run.odometry.frontend.name}",
    )
    return figures
