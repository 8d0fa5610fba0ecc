"""`VoScene`: what a VO run leaves for viewing (no Qt): every frame's pose, its tracked keypoints
(inlier or outlier), the keyframes, the map points with their observations, the ground truth
after Sim(3) alignment. Saved as ``scene.npz`` in the run's folder, so ``matchscope --vo DIR``
reopens a run without running it again; the window builds one from a live run the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.errors import InputError

SCENE_FILE = "scene.npz"
KEYPOINT_FREE, KEYPOINT_INLIER, KEYPOINT_OUTLIER = 0, 1, 2
"""A frame keypoint's status: no map point, a PnP inlier, matched to a map point but rejected."""


@dataclass
class VoScene:
    """A VO run for viewing. N frames (input order), P map points, O observations.

    - ``K`` (3, 3) the camera; ``image_size`` (width, height) pixels.
    - ``poses`` (N, 4, 4) camera-to-world (untracked frames repeat the last pose);
      ``tracked`` (N,) bool; ``keyframe`` (N,) bool.
    - ``truth`` (N, 4, 4) ground truth after Sim(3) alignment to ``poses`` (NaN where unknown)
      or None; ``pose_error_m`` (N,) the aligned position error (NaN where unknown) or None.
    - ``keypoint_offsets`` (N + 1,) int: frame n's keypoints are rows
      ``offsets[n]:offsets[n+1]`` of ``keypoints`` (K, 2) float32 (recorded pixels) and
      ``keypoint_status`` (K,) int8 (``KEYPOINT_*``).
    - ``points`` (P, 3) float64 world positions, ``colours`` (P, 3) uint8 image colours,
      ``point_ids`` (P,) int64 the tracker's ids, ``point_sigma_px`` (P,) float64 the mean
      standard deviation (px) the front-end gave its observations (its uncertainty).
    - ``observations`` (O, 2) int64 rows (point index into ``points``, frame position of
      the keyframe that observes it) and ``observation_pixels`` (O, 2) float64: where that
      keyframe observed it (ideal pixels).
    - ``stats``: the per-frame columns of ``stats.csv`` by name, (N,) arrays.
    - ``name``: the sequence's name; ``frontend``: the front-end's; ``source``: how to open
      the sequence again (`sequence_source`; "" when unknown).
    """

    name: str
    frontend: str
    K: np.ndarray
    image_size: tuple[int, int]
    poses: np.ndarray
    tracked: np.ndarray
    keyframe: np.ndarray
    keypoint_offsets: np.ndarray
    keypoints: np.ndarray
    keypoint_status: np.ndarray
    points: np.ndarray
    colours: np.ndarray
    point_ids: np.ndarray
    point_sigma_px: np.ndarray
    observations: np.ndarray
    observation_pixels: np.ndarray
    stats: dict[str, np.ndarray]
    truth: np.ndarray | None = None
    pose_error_m: np.ndarray | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def observation_counts(self) -> np.ndarray:
        """(P,) int64 how many keyframes observe each point."""
        return np.bincount(self.observations[:, 0], minlength=len(self.points))

    def frame_keypoints(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``position``'s (K, 2) keypoints (recorded pixels) and (K,) statuses."""
        start, stop = self.keypoint_offsets[position], self.keypoint_offsets[position + 1]
        return self.keypoints[start:stop], self.keypoint_status[start:stop]

    def point_observations(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Point ``index``'s observing frame positions (O,) int and observed (O, 2) ideal
        pixels, in frame order."""
        rows = np.flatnonzero(self.observations[:, 0] == index)
        positions = self.observations[rows, 1]
        order = np.argsort(positions, kind="stable")
        return positions[order], self.observation_pixels[rows[order]]

    def reprojection(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point ``index`` seen by each of its frames: (O,) positions, (O, 2) the point
        projected by each frame's pose (ideal pixels) and (O,) the distance to where it was
        observed (px)."""
        from core.vo.backend import project

        positions, observed = self.point_observations(index)
        projected = np.array(
            [project(self.K, self.poses[p], self.points[index][None])[0][0] for p in positions]
        ).reshape(-1, 2)
        return positions, projected, np.linalg.norm(projected - observed, axis=1)


def sequence_source(
    path: str,
    camera: str | None = None,
    intrinsics: str | None = None,
    frames: str | None = None,
    max_size: int | None = None,
) -> str:
    """A scene's ``source``: `core.sequence.open_sequence`'s arguments as one JSON line (the
    paths absolute)."""
    absolute = None if intrinsics is None else str(Path(intrinsics).absolute())
    return json.dumps(
        {
            "path": str(Path(path).absolute()),
            "camera": camera,
            "intrinsics": absolute,
            "frames": frames,
            "max_size": max_size,
        }
    )


def parse_source(source: str) -> dict | None:
    """`sequence_source`'s arguments back (keys path, camera, intrinsics, frames, max_size);
    None when ``source`` names none."""
    try:
        values = json.loads(source) if source else None
    except ValueError:
        return None
    if not isinstance(values, dict) or not isinstance(values.get("path"), str):
        return None
    parsed = {key: values.get(key) for key in ("path", "camera", "intrinsics", "frames")}
    max_size = values.get("max_size")  # absent in scenes saved before --max-size
    parsed["max_size"] = max_size if isinstance(max_size, int) else None
    return parsed


def frame_poses(odometry, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 4, 4) camera-to-world poses of frames 0..count-1 (an untracked frame repeats the
    last pose, the identity before the first) and (count,) bool tracked, from a
    `core.vo.tracker.VisualOdometry`'s trajectory."""
    poses, tracked, last = np.zeros((count, 4, 4)), np.zeros(count, bool), np.eye(4)
    trajectory = odometry.trajectory()
    for position in range(count):
        if position in trajectory:
            last, tracked[position] = trajectory[position], True
        poses[position] = last
    return poses, tracked


def scene_from_run(run, reader) -> VoScene:
    """The scene of a `core.vo.run.VoRun` over ``reader`` (its ground truth aligned when it
    has one)."""
    return scene_from_odometry(run.odometry, reader, len(run.poses), run.image_size, run.source)


def scene_from_odometry(
    odometry, reader, count: int, image_size: tuple[int, int], source: str = ""
) -> VoScene:
    """The scene of frames 0..count-1 of ``reader`` as a `core.vo.tracker.VisualOdometry` has
    tracked them so far (a live run: call it from the thread that feeds ``odometry``);
    ``image_size`` (width, height) of the frames."""
    from core.vo.evaluation import align_sim3
    from core.vo.tracker import FrameStats

    poses, tracked = frame_poses(odometry, count)
    frame_stats = [odometry.stats.get(p, FrameStats(p)) for p in range(count)]
    offsets = np.zeros(count + 1, np.int64)
    keypoints, statuses = [], []
    for position in range(count):
        pixels = odometry.keypoints.get(position, np.zeros((0, 2), np.float32))
        keypoints.append(pixels)
        statuses.append(odometry.keypoint_status.get(position, np.zeros(len(pixels), np.int8)))
        offsets[position + 1] = offsets[position] + len(pixels)
    point_ids = np.array(sorted(odometry.map.points), np.int64)
    index_of = {int(pid): index for index, pid in enumerate(point_ids)}
    observations, pixels, sigmas = [], [], []
    frames = [kf for kf in odometry.map.keyframes.values() if not kf.partner]
    for keyframe in frames:  # a stereo start's right camera is no frame of the sequence
        for keypoint, pid in enumerate(keyframe.point_ids):
            if pid >= 0 and int(pid) in index_of:
                observations.append((index_of[int(pid)], keyframe.position))
                pixels.append(keyframe.ideal[keypoint])
                sigmas.append(keyframe.sigma_px[keypoint])
    observations = np.array(observations, np.int64).reshape(-1, 2)
    sigma_sum = np.bincount(observations[:, 0], np.asarray(sigmas, np.float64), len(point_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        point_sigma = sigma_sum / np.bincount(observations[:, 0], minlength=len(point_ids))
    points = odometry.map.positions(point_ids)
    colours = np.array([odometry.map.points[int(p)].colour for p in point_ids], np.uint8)
    keyframe = np.zeros(count, bool)
    keyframe[[kf.position for kf in frames]] = True
    truth = error = None
    if reader.poses is not None:
        reference = reader.poses[:count]
        known = np.all(np.isfinite(reference), axis=(1, 2)) & tracked
        if known.sum() >= 3:
            ours = np.where(known[:, None, None], poses, np.nan)
            truth, error = np.full_like(poses, np.nan), np.full(count, np.nan)
            try:
                truth[known] = align_sim3(reference, ours)  # the truth in our frame
                on_truth = align_sim3(ours, reference)  # ours in metres
            except ValueError:  # the centres lie on a line: no unique alignment
                truth = error = None
            else:
                error[known] = np.linalg.norm(
                    on_truth[:, :3, 3] - reference[known][:, :3, 3], axis=1
                )
    stats = {
        "tracked": tracked.astype(np.int8),
        "keypoints": np.array([s.keypoints for s in frame_stats], np.int64),
        "matches": np.array([s.matches for s in frame_stats], np.int64),
        "inliers": np.array([s.inliers for s in frame_stats], np.int64),
        "new_points": np.array([s.new_points for s in frame_stats], np.int64),
        "reprojection_error_px": np.array(
            [s.reprojection_error_px for s in frame_stats], np.float64
        ),
    }
    return VoScene(
        name=reader.name,
        frontend=odometry.frontend.name,
        K=odometry.K,
        image_size=image_size,
        poses=poses,
        tracked=tracked,
        keyframe=keyframe,
        keypoint_offsets=offsets,
        keypoints=np.concatenate(keypoints).reshape(-1, 2).astype(np.float32),
        keypoint_status=np.concatenate(statuses).astype(np.int8),
        points=points,
        colours=colours.reshape(-1, 3),
        point_ids=point_ids,
        point_sigma_px=point_sigma,
        observations=observations,
        observation_pixels=np.array(pixels, np.float64).reshape(-1, 2),
        stats=stats,
        truth=truth,
        pose_error_m=error,
        source=source,
    )


def save_scene(path: Path, scene: VoScene) -> None:
    """Write ``scene`` to ``path`` (an ``.npz``; ``stats`` columns as ``stats_<name>``)."""
    arrays = {}
    for item in fields(VoScene):
        value = getattr(scene, item.name)
        if item.name == "stats":
            arrays.update({f"stats_{key}": np.asarray(column) for key, column in value.items()})
        elif value is not None:
            arrays[item.name] = np.asarray(value)
    np.savez_compressed(path, **arrays)


def load_scene(path: Path) -> VoScene:
    """The scene saved at ``path`` (a run folder or its ``scene.npz``); an `InputError` when
    it is missing or not a scene."""
    path = Path(path)
    if path.is_dir():
        path = path / SCENE_FILE
    if not path.is_file():
        raise InputError(path, "no VO scene here (run `matchscope vo ... --out DIR` first)")
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable VO scene ({exc})") from exc
    stats = {key[6:]: values.pop(key) for key in list(values) if key.startswith("stats_")}
    missing = [
        item.name
        for item in fields(VoScene)
        if item.name not in values and item.name not in ("stats", "truth", "pose_error_m", "source")
    ]
    if missing:
        raise InputError(path, f"not a VO scene (missing {', '.join(missing)})")
    values["name"], values["frontend"] = str(values["name"]), str(values["frontend"])
    values["source"] = str(values.get("source", ""))
    values["image_size"] = tuple(int(v) for v in values["image_size"])
    return VoScene(stats=stats, **values)
