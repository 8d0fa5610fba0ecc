"""`VisualOdometry`: a monocular VO that turns frames into camera poses and a sparse map.

Per frame: the front-end's features (detected once, by `detect`, which may run in another
thread ahead of the tracking); the keypoints of the last keyframe and of the last frame that
see a map point are matched to them (`Frontend.match_rows`), and the points they carry give
2D-3D matches for PnP (RANSAC from the constant-velocity prediction, refined, inliers within
the front-end's ``match_error_px``). A keyframe is added when the tracked points fall below the
front-end's ``keyframe_tracked_share`` of the last keyframe's, or ``KEYFRAME_MAX_GAP`` frames
after it: new points are triangulated with the last ``TRIANGULATE_WITH`` keyframes (cheirality,
reprojection and parallax tests) and a local bundle adjustment (gtsam) refines the last
``WINDOW`` keyframes and their points, culling what no longer fits. Until the map exists, each
frame is tried against the first one for a two-view start (essential matrix, MAGSAC++, parallax
check); the frames in between are then localised against the new map. With a stereo partner
(`core.vo.stereo`) the map starts instead from the first frame whose right image triangulates
enough points with the metric baseline (the frames before it are localised then). A frame whose
PnP fails is matched with all the keypoints of the last frame, then of the last keyframes,
loosely (`Frontend.match_loosely`: relocalisation); one that fails that too is lost, and the
next ones are tried the same way until one localises.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from core.sequence.base import FrameInfo
from core.vo.backend import (
    Keyframe,
    SparseMap,
    initialise,
    local_bundle_adjustment,
    project,
    solve_pnp,
    triangulate,
)
from core.vo.frontend import Features, Frontend
from core.vo.scene import KEYPOINT_INLIER, KEYPOINT_OUTLIER
from core.vo.stereo import StereoPartner

KEYFRAME_MAX_GAP = 8
WINDOW = 6
RELOCALISE_KEYFRAMES = 4
SEARCH_RADIUS_PX = 10.0  # around where the tracked pose projects a local map point
TRIANGULATE_WITH = 2  # earlier keyframes a new one triangulates with (more parallax)
NEW_POINT_MIN_PARALLAX_DEG = 0.5  # BA refines them; the two-view start asks for 1 degree
STEREO_MIN_PARALLAX_DEG = 0.25  # KITTI's 0.54 m baseline: points up to about 120 m
STEREO_MIN_POINTS = 60
INIT_REFERENCE_MAX_AGE = 40  # frames: a start that never finds parallax picks a new reference


@dataclass
class FrameStats:
    """One frame's row of ``stats.csv``: whether it was tracked (and is a keyframe), its
    keypoints, matches to the map (2D-3D), PnP inliers, new map points, the inliers' mean
    reprojection error (px) and the seconds of each stage."""

    position: int
    tracked: bool = False
    keyframe: bool = False
    keypoints: int = 0
    matches: int = 0
    inliers: int = 0
    new_points: int = 0
    reprojection_error_px: float = float("nan")
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Detection:
    """A frame's ``features``, the ``seconds`` the front-end took to find them and the
    frame's (width, height) in pixels."""

    features: Features
    seconds: float
    image_size: tuple[int, int]


@dataclass
class _Frame:
    position: int
    features: Features
    pose: np.ndarray | None = None
    point_ids: np.ndarray | None = None  # (N,) map point per keypoint, -1 none


class VisualOdometry:
    """Feed frames in order with `process`; ``poses`` holds each tracked frame's camera-to-world
    pose by position, ``map`` the keyframes and points. ``seed`` seeds every RANSAC."""

    def __init__(self, frontend: Frontend, seed: int = 0, stereo: StereoPartner | None = None):
        self.frontend = frontend
        self.stereo = stereo
        self.K = frontend.K
        self.seed = seed
        self.map = SparseMap()
        self.poses: dict[int, np.ndarray] = {}  # as tracked (the motion model's)
        self._anchors: dict[int, tuple[int, np.ndarray]] = {}  # keyframe id, pose in it
        self.stats: dict[int, FrameStats] = {}
        self.keypoint_status: dict[int, np.ndarray] = {}  # (N,) int8 KEYPOINT_* per frame
        self.keypoints: dict[int, np.ndarray] = {}  # (N, 2) float32 recorded pixels per frame
        self._reference: _Frame | None = None  # the start's first frame
        self._pending: list[_Frame] = []  # frames seen before the start
        self._last: _Frame | None = None  # the last tracked frame
        self._before_last: np.ndarray | None = None  # the pose before it (motion model)
        self._last_keyframe_inliers = 0
        self._frames_since_keyframe = 0
        self._detect_lock = threading.Lock()
        self.image_size = (0, 0)  # (width, height) of the frames tracked

    @property
    def initialised(self) -> bool:
        return bool(self.map.keyframes)

    def trajectory(self) -> dict[int, np.ndarray]:
        """Every tracked frame's pose by position, after the bundle adjustments so far: a
        frame keeps its pose relative to the keyframe it was tracked against, so it moves with
        that keyframe's adjustments."""
        return {
            position: self.map.keyframes[kf_id].pose @ relative
            for position, (kf_id, relative) in self._anchors.items()
        }

    def right_image(self, frame: FrameInfo) -> np.ndarray | None:
        """``frame``'s stereo partner image while the map waits for a stereo start, else None
        (read only while it is needed)."""
        if self.stereo is None or self.initialised:
            return None
        return self.stereo.read(frame)

    def detect(self, rgb: np.ndarray) -> Detection:
        """The front-end's features of an (H, W, 3) uint8 RGB frame. Safe to call from
        another thread while `process_detected` tracks an earlier frame (`core.vo.run`
        detects the next frame so); calls are serialised, as a front-end's detector need
        not be safe to share."""
        with self._detect_lock:
            start = time.perf_counter()
            features = self.frontend.detect(rgb)
            seconds = time.perf_counter() - start
        return Detection(features, seconds, (rgb.shape[1], rgb.shape[0]))

    def process(
        self, position: int, rgb: np.ndarray, right: np.ndarray | None = None
    ) -> FrameStats:
        """Track frame ``position`` ((H, W, 3) uint8 RGB; ``right``: its stereo partner's
        image, which starts the map when it has not started); its statistics."""
        return self.process_detected(position, self.detect(rgb), right)

    def process_detected(
        self, position: int, detection: Detection, right: np.ndarray | None = None
    ) -> FrameStats:
        """`process` of a frame whose features `detect` found."""
        stats = FrameStats(position)
        frame = _Frame(position, detection.features)
        stats.keypoints = len(frame.features)
        self.keypoints[position] = frame.features.keypoints.astype(np.float32)
        self.keypoint_status[position] = np.zeros(len(frame.features), np.int8)
        stats.seconds["detect"] = detection.seconds
        self.image_size = detection.image_size
        if not self.initialised and self.stereo is not None:
            if right is not None:
                self._try_stereo_start(frame, right, stats)
            if not self.initialised:  # localised once a stereo pair starts the map
                self._pending = [*self._pending, frame][-INIT_REFERENCE_MAX_AGE:]
        elif not self.initialised:
            self._try_initialise(frame, stats)
        else:
            self._track(frame, stats)
        self.stats[position] = stats
        return stats

    # the start ---------------------------------------------------------------------------------

    def _try_initialise(self, frame: _Frame, stats: FrameStats) -> None:
        reference = self._reference
        if reference is None or frame.position - reference.position > INIT_REFERENCE_MAX_AGE:
            self._reference, self._pending = frame, []
            return
        start = time.perf_counter()
        matches = self.frontend.match(reference.features, frame.features)
        stats.seconds["match"] = time.perf_counter() - start
        start = time.perf_counter()
        found = initialise(
            self.K, reference.features.ideal, frame.features.ideal, matches, self.seed
        )
        stats.seconds["pose"] = time.perf_counter() - start
        if found is None:
            self._pending.append(frame)
            return
        start = time.perf_counter()
        reference.pose, frame.pose = np.eye(4), found.pose_b
        kf_a = self._add_keyframe(reference)
        kf_b = self._add_keyframe(frame)
        features_b = frame.features
        for (index_a, index_b), point in zip(found.indices, found.points, strict=True):
            pid = self.map.add_point(
                point, features_b.colours[index_b], features_b.descriptors[index_b]
            )
            self.map.observe(kf_a, int(index_a), pid)
            self.map.observe(kf_b, int(index_b), pid)
        reference.point_ids = self.map.keyframes[kf_a].point_ids
        frame.point_ids = self.map.keyframes[kf_b].point_ids
        self._mark(reference.position, None, reference.point_ids)
        self._mark(frame.position, None, frame.point_ids)
        stats.tracked = stats.keyframe = True
        stats.matches = stats.inliers = stats.new_points = len(found.points)
        self.poses[reference.position] = reference.pose
        self.poses[frame.position] = frame.pose
        self._anchors[reference.position] = (kf_a, np.eye(4))
        self._anchors[frame.position] = (kf_b, np.eye(4))
        self.stats.setdefault(reference.position, FrameStats(reference.position))
        self.stats[reference.position].tracked = True
        self.stats[reference.position].keyframe = True
        self._localise_pending(reference, kf_a)
        self._last, self._before_last = frame, reference.pose
        self._last_keyframe_inliers = len(found.points)
        self._frames_since_keyframe = 0
        stats.seconds["map"] = time.perf_counter() - start

    def _try_stereo_start(self, frame: _Frame, right: np.ndarray, stats: FrameStats) -> None:
        """Start the map from ``frame`` and its stereo partner's image: the matches that
        triangulate with the metric baseline (`STEREO_MIN_PARALLAX_DEG`) become the first
        points, seen by the frame (the first keyframe, at the identity) and by the partner (a
        keyframe held fixed with it by the first bundle adjustments: the scale's gauge)."""
        start = time.perf_counter()
        features = self.detect(right).features
        matches = self.frontend.match(frame.features, features)
        relative = self.stereo.relative
        points, good, _ = triangulate(
            self.K,
            np.eye(4),
            relative,
            frame.features.ideal[matches[:, 0]],
            features.ideal[matches[:, 1]],
            STEREO_MIN_PARALLAX_DEG,
        )
        if good.sum() < STEREO_MIN_POINTS:
            return
        partner = _Frame(frame.position, features, relative)
        kf_right = self._add_keyframe(partner, is_partner=True)
        frame.pose = np.eye(4)
        kf_left = self._add_keyframe(frame)
        for (index_l, index_r), point in zip(matches[good], points[good], strict=True):
            pid = self.map.add_point(
                point, frame.features.colours[index_l], frame.features.descriptors[index_l]
            )
            self.map.observe(kf_left, int(index_l), pid)
            self.map.observe(kf_right, int(index_r), pid)
        frame.point_ids = self.map.keyframes[kf_left].point_ids
        self._mark(frame.position, None, frame.point_ids)
        stats.tracked = stats.keyframe = True
        stats.matches = stats.inliers = stats.new_points = int(good.sum())
        self.poses[frame.position] = frame.pose
        self._anchors[frame.position] = (kf_left, np.eye(4))
        self._localise_pending(frame, kf_left)
        self._last, self._before_last = frame, None
        self._last_keyframe_inliers = int(good.sum())
        self._frames_since_keyframe = 0
        stats.seconds["map"] = time.perf_counter() - start

    def _localise_pending(self, reference: _Frame, kf_id: int) -> None:
        """Poses, by PnP against the new map, of the frames seen before the start (``reference``
        is keyframe ``kf_id``, at the identity)."""
        guess = reference.pose
        for pending in self._pending:
            stats = self.stats.get(pending.position) or FrameStats(pending.position)
            matches = self.frontend.match(reference.features, pending.features)
            pnp = self._pnp_through(matches, reference.point_ids, pending, guess)
            if pnp is not None:
                self._mark(pending.position, None, pending.point_ids)
                self.poses[pending.position] = guess = pnp[0]
                self._anchors[pending.position] = (kf_id, pnp[0])
                stats.tracked, stats.matches, stats.inliers = True, pnp[1], pnp[2]
            self.stats[pending.position] = stats
        self._pending = []

    # tracking ----------------------------------------------------------------------------------

    def _track(self, frame: _Frame, stats: FrameStats) -> None:
        keyframe = self.map.keyframes[len(self.map.keyframes) - 1]
        start = time.perf_counter()
        point_ids = np.full(len(frame.features), -1, np.int64)
        sources = [(_keyframe_features(keyframe), keyframe.point_ids)]
        if self._last is not None and self._last.position != keyframe.position:
            sources.append((self._last.features, self._last.point_ids))
        for features, source_ids in sources:  # the keyframe's points first
            seeing = np.flatnonzero(source_ids >= 0)  # only they carry a point to the frame
            matches = self.frontend.match_rows(features, seeing, frame.features)
            _carry(point_ids, matches, source_ids, self.map)
        stats.seconds["match"] = time.perf_counter() - start
        start = time.perf_counter()
        guess = self._predicted_pose()
        pnp = self._pnp(point_ids, frame, guess)
        if pnp is None:
            pnp = self._relocalise(frame, guess)
        if pnp is not None:  # more of the local map, found where the pose projects it
            found = self._search_local_map(frame, pnp.pose, pnp.point_ids, SEARCH_RADIUS_PX)
            pnp = self._pnp(found, frame, pnp.pose) or pnp
        stats.seconds["pose"] = time.perf_counter() - start
        if pnp is None:
            stats.matches = int((point_ids >= 0).sum())
            self._mark(frame.position, point_ids, None)
            self._before_last = None  # no motion model across a loss
            return
        frame.pose, frame.point_ids = pnp.pose, pnp.point_ids
        self._mark(frame.position, np.maximum(point_ids, found), pnp.point_ids)
        stats.tracked = True
        stats.matches, stats.inliers = pnp.matches, pnp.inliers
        stats.reprojection_error_px = pnp.error_px
        self.poses[frame.position] = frame.pose
        kf_id = len(self.map.keyframes) - 1
        self._anchors[frame.position] = (kf_id, np.linalg.inv(keyframe.pose) @ frame.pose)
        self._frames_since_keyframe += 1
        if self._wants_keyframe(pnp.inliers):
            start = time.perf_counter()
            stats.new_points = self._insert_keyframe(frame)
            stats.keyframe = True
            self.poses[frame.position] = frame.pose  # adjusted with its keyframe
            self._anchors[frame.position] = (len(self.map.keyframes) - 1, np.eye(4))
            stats.seconds["map"] = time.perf_counter() - start
        last = self._last
        self._before_last = None if last is None else self.poses.get(last.position)
        self._last = frame

    def _mark(self, position: int, candidates, inliers) -> None:
        """Frame ``position``'s keypoint statuses: those with a (N,) ``candidates`` map point
        are outliers unless (N,) ``inliers`` keeps theirs (either may be None)."""
        status = self.keypoint_status[position]
        if candidates is not None:
            status[candidates >= 0] = KEYPOINT_OUTLIER
        if inliers is not None:
            status[inliers >= 0] = KEYPOINT_INLIER

    def _predicted_pose(self) -> np.ndarray:
        """The constant-velocity prediction from the last two tracked poses (the last pose
        without a second)."""
        last = self._last.pose
        if self._before_last is None:
            return last
        return last @ (np.linalg.inv(self._before_last) @ last)

    def _pnp(self, point_ids: np.ndarray, frame: _Frame, guess: np.ndarray):
        """PnP of ``frame`` from its keypoints' map points; a `_Tracked` or None."""
        have = np.flatnonzero(point_ids >= 0)
        if len(have) == 0:
            return None
        points = self.map.positions(point_ids[have])
        result = solve_pnp(
            self.K,
            points,
            frame.features.ideal[have],
            guess,
            self.seed,
            self.frontend.match_error_px,
        )
        if result is None:
            return None
        kept = np.full(len(frame.features), -1, np.int64)
        kept[have[result.inliers]] = point_ids[have[result.inliers]]
        return _Tracked(result.pose, kept, len(have), int(result.inliers.sum()), result.error_px)

    def _search_local_map(
        self, frame: _Frame, pose: np.ndarray, point_ids: np.ndarray, radius: float
    ) -> np.ndarray:
        """``point_ids`` with the points of the last ``WINDOW`` keyframes that ``pose``
        projects within ``radius`` px of a free keypoint whose descriptor is within the
        front-end's ``max_distance`` (the closest such point per keypoint)."""
        from scipy.spatial import cKDTree

        point_ids = point_ids.copy()
        window = sorted(self.map.keyframes)[-WINDOW:]
        seen = set(point_ids[point_ids >= 0].tolist())
        local = sorted(
            {
                int(pid)
                for kf_id in window
                for pid in self.map.keyframes[kf_id].point_ids
                if pid >= 0 and int(pid) not in seen
            }
        )
        free = np.flatnonzero(point_ids < 0)
        if not local or len(free) == 0:
            return point_ids
        pixels, depth = project(self.K, pose, self.map.positions(np.array(local)))
        inside = (depth > 0) & np.all((pixels >= 0) & (pixels < self.image_size), axis=1)
        local, pixels = np.array(local)[inside], pixels[inside]
        if len(local) == 0:
            return point_ids
        tree = cKDTree(frame.features.ideal[free])
        near = tree.query_ball_point(pixels, radius)
        counts = np.array([len(candidates) for candidates in near])
        if counts.sum() == 0:
            return point_ids
        point_index = np.repeat(np.arange(len(local)), counts)
        keypoint_index = free[np.concatenate([np.asarray(c, np.int64) for c in near])]
        descriptors = np.array([self.map.points[int(pid)].descriptor for pid in local])
        distance = self.frontend.distances(
            descriptors[point_index], frame.features.descriptors[keypoint_index]
        )
        keep = distance <= self.frontend.max_distance
        point_index, keypoint_index, distance = (
            point_index[keep],
            keypoint_index[keep],
            distance[keep],
        )
        order = np.lexsort((distance, keypoint_index))  # the closest point per keypoint
        point_index, keypoint_index = point_index[order], keypoint_index[order]
        first = np.ones(len(order), bool)
        first[1:] = keypoint_index[1:] != keypoint_index[:-1]
        point_index, keypoint_index = point_index[first], keypoint_index[first]
        _, once = np.unique(point_index, return_index=True)  # and one keypoint per point
        point_ids[keypoint_index[once]] = local[point_index[once]]
        return point_ids

    def _pnp_through(self, matches, reference_ids, frame, guess):
        """(pose, matches, inliers) of ``frame`` from ``matches`` to a frame whose keypoints
        see ``reference_ids``; None when PnP fails."""
        point_ids = np.full(len(frame.features), -1, np.int64)
        _carry(point_ids, matches, reference_ids, self.map)
        tracked = self._pnp(point_ids, frame, guess)
        if tracked is None:
            return None
        frame.point_ids = tracked.point_ids
        return tracked.pose, tracked.matches, tracked.inliers

    def _relocalise(self, frame: _Frame, guess: np.ndarray):
        """Tracking failed: try the last frame, then the last ``RELOCALISE_KEYFRAMES``
        keyframes, newest first, all of their keypoints matched loosely
        (`Frontend.match_loosely`)."""
        ids = sorted(self.map.keyframes)[-RELOCALISE_KEYFRAMES:]
        sources = [
            (_keyframe_features(self.map.keyframes[kf_id]), self.map.keyframes[kf_id])
            for kf_id in reversed(ids)
        ]
        last = self._last
        if last is not None and last.pose is not None and last.position != sources[0][1].position:
            sources.insert(0, (last.features, last))
        for features, source in sources:
            matches = self.frontend.match_loosely(features, frame.features)
            point_ids = np.full(len(frame.features), -1, np.int64)
            _carry(point_ids, matches, source.point_ids, self.map)
            for start in (guess, source.pose):
                tracked = self._pnp(point_ids, frame, start)
                if tracked is not None:
                    return tracked
        return None

    # keyframes ---------------------------------------------------------------------------------

    def _wants_keyframe(self, inliers: int) -> bool:
        return (
            inliers < self.frontend.keyframe_tracked_share * self._last_keyframe_inliers
            or self._frames_since_keyframe >= KEYFRAME_MAX_GAP
        )

    def _add_keyframe(self, frame: _Frame, is_partner: bool = False) -> int:
        features = frame.features
        ids = np.full(len(features), -1, np.int64)
        return self.map.add_keyframe(
            Keyframe(
                frame.position,
                frame.pose,
                features.ideal,
                features.sigma_px,
                features.descriptors,
                features.colours,
                ids,
                features.native,
                is_partner,
            )
        )

    def _insert_keyframe(self, frame: _Frame) -> int:
        """Make ``frame`` a keyframe: it observes its tracked points, new points triangulate
        with the last ``TRIANGULATE_WITH`` keyframes, then the local bundle adjustment.
        Returns the number of new points."""
        tracked_ids = frame.point_ids
        kf_id = self._add_keyframe(frame)
        for index in np.flatnonzero(tracked_ids >= 0):
            pid = int(tracked_ids[index])
            if pid in self.map.points and kf_id not in self.map.points[pid].observations:
                self.map.observe(kf_id, int(index), pid)
        keyframe = self.map.keyframes[kf_id]
        new_points = 0
        for previous_id in range(kf_id - 1, max(kf_id - 1 - TRIANGULATE_WITH, -1), -1):
            older = _keyframe_features(self.map.keyframes[previous_id])
            matches = self.frontend.match(older, frame.features)
            new_points += self._triangulate(previous_id, kf_id, matches)
        window = sorted(self.map.keyframes)[-WINDOW:]
        local_bundle_adjustment(self.K, self.map, window)
        frame.pose = keyframe.pose
        frame.point_ids = keyframe.point_ids
        self._last_keyframe_inliers = int((keyframe.point_ids >= 0).sum())
        self._frames_since_keyframe = 0
        return new_points

    def _triangulate(self, older_id: int, kf_id: int, matches: np.ndarray) -> int:
        """New points from ``matches`` between keyframes ``older_id`` and ``kf_id`` whose
        keypoints both see no point yet; returns how many passed the tests."""
        older, keyframe = self.map.keyframes[older_id], self.map.keyframes[kf_id]
        if len(matches) == 0:
            return 0
        free = (older.point_ids[matches[:, 0]] < 0) & (keyframe.point_ids[matches[:, 1]] < 0)
        candidates = matches[free]
        points, good, _ = triangulate(
            self.K,
            older.pose,
            keyframe.pose,
            older.ideal[candidates[:, 0]],
            keyframe.ideal[candidates[:, 1]],
            NEW_POINT_MIN_PARALLAX_DEG,
            self.frontend.match_error_px,
        )
        for (index_a, index_b), point in zip(candidates[good], points[good], strict=True):
            pid = self.map.add_point(
                point, keyframe.colours[index_b], keyframe.descriptors[index_b]
            )
            self.map.observe(older_id, int(index_a), pid)
            self.map.observe(kf_id, int(index_b), pid)
        return int(good.sum())


@dataclass
class _Tracked:
    pose: np.ndarray
    point_ids: np.ndarray
    matches: int
    inliers: int
    error_px: float


def _keyframe_features(keyframe: Keyframe) -> Features:
    return Features(
        keyframe.ideal,
        keyframe.ideal,
        keyframe.descriptors,
        keyframe.sigma_px,
        keyframe.colours,
        keyframe.native,
    )


def _carry(
    point_ids: np.ndarray, matches: np.ndarray, source_ids: np.ndarray, sparse_map: SparseMap
) -> None:
    """Give each matched keypoint without a point the point its match in the source sees (when
    that point is still in the map)."""
    if len(matches) == 0 or source_ids is None:
        return
    carried = source_ids[matches[:, 0]]
    for index, pid in zip(matches[:, 1], carried, strict=True):
        if pid >= 0 and point_ids[index] < 0 and int(pid) in sparse_map.points:
            point_ids[index] = pid
