"""Tracks: the matches of consecutive pairs chained through the keypoints they share (no Qt).

A sparse matcher detects the same keypoints on the same frame every time, so the B end of a
match of pair (t, t + 1) and the A end of a match of pair (t + 1, t + 2) are one keypoint of
frame t + 1 when their coordinates agree (on a grid of ``GRID_PX``, neighbouring cells
included). A *track* is a maximal chain of linked observations over consecutive frames.

Pairs arrive in any order and may be removed again; only the links are stored, and tracks are
followed along them when asked for, so adding or removing a pair costs its own matches only.
A track's id names its first observation (``position * 2**32 + keypoint index``): it lasts as
long as that observation stays the track's first. A pair that joins two tracks leaves the
earlier one's id to the joined track; one removed gives the later part a new id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_PX = 0.01
"""Keypoint coordinates are compared on a grid of this step in pixels."""
_ID_STEP = 2**32  # a track id is position * _ID_STEP + keypoint index
_NEIGHBOURS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]


@dataclass
class Trails:
    """The recent paths of the tracks seen in one frame, to draw over that frame's image.

    ``points`` (P, 2) float32: each track's observations in pixels of their own frames, oldest
    first, track after track; track ``i``'s are ``points[offsets[i]:offsets[i + 1]]`` and end in
    the frame asked for. ``offsets`` (T + 1,) int64; ``track_ids`` (T,) int64; ``age`` (T,)
    int64: the frames the track has been seen in up to and including that frame; ``certainty``
    (T,) float32: the mean match certainty of the links shown (NaN for a single observation).
    """

    points: np.ndarray
    offsets: np.ndarray
    track_ids: np.ndarray
    age: np.ndarray
    certainty: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)


@dataclass
class Track:
    """One whole track: ``positions`` (K,) int64 frames it is seen in (consecutive), ``points``
    (K, 2) float32 its pixel in each, ``certainty`` (K - 1,) float32 the match certainty of each
    link (``positions[i]`` -> ``positions[i] + 1``)."""

    track_id: int
    positions: np.ndarray
    points: np.ndarray
    certainty: np.ndarray


def _grid_keys(points: np.ndarray) -> np.ndarray:
    """(M, 2) pixels -> (M,) int64 keys of their ``GRID_PX`` cells (x cell * 2**32 + y cell)."""
    cells = np.round(np.asarray(points, np.float64) / GRID_PX).astype(np.int64)
    return cells[:, 0] * _ID_STEP + cells[:, 1]


class _Frame:
    """The keypoints of one frame that stored pairs name: ``points`` (K, 2) float32 pixels;
    ``prev`` / ``next`` (K,) int32: the linked keypoint's index in the frame before / after
    (-1: none); ``link_certainty`` (K,) float32: the certainty of the link to the next frame."""

    def __init__(self):
        self.points = np.zeros((0, 2), np.float32)
        self.prev = np.zeros(0, np.int32)
        self.next = np.zeros(0, np.int32)
        self.link_certainty = np.zeros(0, np.float32)
        self._sorted_keys = np.zeros(0, np.int64)
        self._order = np.zeros(0, np.int32)  # keypoint index of each sorted key

    def __len__(self) -> int:
        return len(self.points)

    def linked(self) -> np.ndarray:
        """(K,) bool: keypoints with a link (the others belong to no stored pair any more)."""
        return (self.prev >= 0) | (self.next >= 0)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """(M,) indices of the keypoints with grid ``keys``, -1 for those not known."""
        if not len(self):
            return np.full(len(keys), -1, np.int64)
        at = np.minimum(np.searchsorted(self._sorted_keys, keys), len(self) - 1)
        return np.where(self._sorted_keys[at] == keys, self._order[at], -1)

    def index(self, points: np.ndarray) -> np.ndarray:
        """(M,) indices of the keypoints at (M, 2) ``points``, adding those not yet known."""
        keys = _grid_keys(points)
        found = self._lookup(keys)
        for dx, dy in _NEIGHBOURS:
            missing = np.flatnonzero(found < 0)
            if missing.size == 0:
                break
            found[missing] = self._lookup(keys[missing] + dx * _ID_STEP + dy)
        missing = np.flatnonzero(found < 0)
        if missing.size:
            new_keys, first, inverse = np.unique(
                keys[missing], return_index=True, return_inverse=True
            )
            found[missing] = len(self) + inverse
            count = len(new_keys)
            self.points = np.concatenate([self.points, points[missing[first]].astype(np.float32)])
            self.prev = np.concatenate([self.prev, np.full(count, -1, np.int32)])
            self.next = np.concatenate([self.next, np.full(count, -1, np.int32)])
            self.link_certainty = np.concatenate(
                [self.link_certainty, np.full(count, np.nan, np.float32)]
            )
            keys_all = _grid_keys(self.points)
            self._order = np.argsort(keys_all, kind="stable").astype(np.int32)
            self._sorted_keys = keys_all[self._order]
        return found


class TrackSet:
    """Tracks over a sequence, built from the matches of consecutive pairs (see the module
    docstring); frames are sequence positions."""

    def __init__(self):
        self._frames: dict[int, _Frame] = {}
        self._pairs: set[int] = set()
        self._first_ids: dict[int, np.ndarray] = {}  # frame -> (K,) track id per keypoint

    def __contains__(self, position_a: int) -> bool:
        """Whether the pair (``position_a``, ``position_a`` + 1) is stored."""
        return position_a in self._pairs

    def add_pair(self, position_a: int, matches: np.ndarray, certainty: np.ndarray) -> None:
        """Store the pair (``position_a``, ``position_a`` + 1): (M, 4) ``[xA, yA, xB, yB]``
        pixels and (M,) certainty in [0, 1]; replaces that pair's earlier matches. A keypoint
        in more than one match keeps its surest one."""
        self.remove_pair(position_a)
        matches = np.asarray(matches, np.float64).reshape(-1, 4)
        certainty = np.asarray(certainty, np.float32).reshape(-1)
        frame_a = self._frames.setdefault(position_a, _Frame())
        frame_b = self._frames.setdefault(position_a + 1, _Frame())
        order = np.argsort(-certainty, kind="stable")
        index_a, index_b = frame_a.index(matches[order, :2]), frame_b.index(matches[order, 2:])
        keep = np.sort(np.unique(index_a, return_index=True)[1])
        keep = keep[np.unique(index_b[keep], return_index=True)[1]]
        frame_a.next[index_a[keep]] = index_b[keep]
        frame_a.link_certainty[index_a[keep]] = certainty[order[keep]]
        frame_b.prev[index_b[keep]] = index_a[keep]
        self._pairs.add(position_a)
        self._forget_ids_from(position_a)

    def remove_pair(self, position_a: int) -> None:
        """Forget the pair (``position_a``, ``position_a`` + 1) (nothing when not stored): its
        tracks split there."""
        if position_a not in self._pairs:
            return
        self._pairs.discard(position_a)
        frame_a, frame_b = self._frames[position_a], self._frames[position_a + 1]
        frame_a.next[:] = -1
        frame_a.link_certainty[:] = np.nan
        frame_b.prev[:] = -1
        for position in (position_a, position_a + 1):
            if position - 1 not in self._pairs and position not in self._pairs:
                del self._frames[position]
        self._forget_ids_from(position_a)

    def _forget_ids_from(self, position: int) -> None:
        self._first_ids = {p: ids for p, ids in self._first_ids.items() if p < position}

    def _track_ids(self, position: int) -> np.ndarray:
        """(K,) int64: the id of the track of each keypoint of frame ``position`` (followed back
        to its first observation; kept until a pair at or before ``position`` changes)."""
        ids = self._first_ids.get(position)
        if ids is not None:
            return ids
        frame = self._frames[position]
        ids = np.empty(len(frame), np.int64)
        rows = np.arange(len(frame))  # the entries of ids still followed back
        index = rows.copy()  # their keypoints in frame ``at``
        at = position
        while rows.size:
            prev = frame.prev[index]
            first = prev < 0
            ids[rows[first]] = at * _ID_STEP + index[first]
            rows, index, at = rows[~first], prev[~first].astype(np.int64), at - 1
            known = self._first_ids.get(at)
            if known is not None:
                ids[rows] = known[index]
                break
            frame = self._frames.get(at)
        self._first_ids[position] = ids
        return ids

    def trails(self, position: int, length: int) -> Trails:
        """The tracks seen in frame ``position`` in the order of their ids, each by its last up
        to ``length`` (>= 1) observations, frames ``position - length + 1`` .. ``position``."""
        frame = self._frames.get(position)
        index = np.flatnonzero(frame.linked()) if frame is not None else np.zeros(0, np.int64)
        ids = self._track_ids(position)[index] if index.size else np.zeros(0, np.int64)
        by_id = np.argsort(ids, kind="stable")
        index, ids = index[by_id], ids[by_id]
        age = position - ids // _ID_STEP + 1
        count = np.minimum(age, max(int(length), 1))
        steps = int(count.max()) if count.size else 0
        paths = np.full((len(index), steps, 2), np.nan, np.float32)  # oldest first, NaN: none
        link_sum = np.zeros(len(index), np.float64)
        if steps:
            paths[:, -1] = frame.points[index]
        current = index.copy()
        for step in range(1, steps):
            alive = np.flatnonzero(count > step)
            current[alive] = self._frames[position - step + 1].prev[current[alive]]
            earlier = self._frames[position - step]
            paths[alive, steps - 1 - step] = earlier.points[current[alive]]
            link_sum[alive] += earlier.link_certainty[current[alive]]
        with np.errstate(invalid="ignore", divide="ignore"):
            certainty = np.where(count > 1, link_sum / (count - 1), np.nan).astype(np.float32)
        return Trails(
            points=paths[~np.isnan(paths[..., 0])],
            offsets=np.concatenate([[0], np.cumsum(count)]).astype(np.int64),
            track_ids=ids,
            age=age.astype(np.int64),
            certainty=certainty,
        )

    def track(self, track_id: int) -> Track:
        """The whole track ``track_id``; KeyError when no track has that id (any more)."""
        position, index = divmod(int(track_id), _ID_STEP)
        frame = self._frames.get(position)
        if frame is None or index >= len(frame) or frame.prev[index] >= 0 or frame.next[index] < 0:
            raise KeyError(track_id)
        positions, points, certainty = [position], [frame.points[index]], []
        while frame.next[index] >= 0:
            certainty.append(frame.link_certainty[index])
            index, position = int(frame.next[index]), position + 1
            frame = self._frames[position]
            positions.append(position)
            points.append(frame.points[index])
        return Track(
            track_id=int(track_id),
            positions=np.array(positions, np.int64),
            points=np.array(points, np.float32).reshape(-1, 2),
            certainty=np.array(certainty, np.float32),
        )

    def track_at(self, position: int, x: float, y: float, radius_px: float) -> int | None:
        """The id of the track whose observation in frame ``position`` is nearest to pixel
        (x, y) within ``radius_px``, or None."""
        frame = self._frames.get(position)
        index = np.flatnonzero(frame.linked()) if frame is not None else np.zeros(0, np.int64)
        if index.size == 0:
            return None
        distance = np.hypot(frame.points[index, 0] - x, frame.points[index, 1] - y)
        best = int(np.argmin(distance))
        if distance[best] > radius_px:
            return None
        return int(self._track_ids(position)[index[best]])
