"""Geometry and colours that `widgets.trajectory_view.TrajectoryView` draws, as numpy arrays
(no Qt): camera frusta as line segments, per-point colour values and colour maps, the ground
truth as a line coloured by its error, and the screen projection used for picking."""

from __future__ import annotations

import numpy as np
from vispy.color import Colormap, get_colormap

FRUSTUM_VERTICES = 16
"""Line-segment vertices per frustum: 4 rays from the centre and the 4 edges of the image."""
NO_VALUE_RGBA = (0.55, 0.55, 0.55, 1.0)
"""The colour of a point or pose whose value is unknown (NaN)."""
LUT_SIZE = 256


def colour_table(cmap: Colormap) -> np.ndarray:
    """(LUT_SIZE, 4) float32 RGBA of ``cmap`` from low to high (indexing it is much faster
    than ``Colormap.map``: 0.3 against 7 ms for 20000 values)."""
    return cmap.map(np.linspace(0.0, 1.0, LUT_SIZE)[:, None]).astype(np.float32)


_GOOD_TO_BAD = Colormap([(0.2, 0.75, 0.3), (0.95, 0.85, 0.2), (0.9, 0.2, 0.2)])
COLOUR_MAPS = {
    "depth": colour_table(get_colormap("viridis")),
    "observations": colour_table(get_colormap("viridis")),
    "uncertainty": colour_table(_GOOD_TO_BAD),
    "truth": colour_table(_GOOD_TO_BAD),
}
"""The colour table of each colour mode (and of the ground truth's error): low to high."""
UNITS = {"depth": "", "uncertainty": "px", "observations": "keyframes", "truth": "m"}


def camera_centres(poses: np.ndarray) -> np.ndarray:
    """(N, 3) camera centres of (N, 4, 4) camera-to-world ``poses``."""
    return np.asarray(poses, np.float64)[:, :3, 3]


def path_extent(centres: np.ndarray) -> float:
    """The largest side of the (N, 3) ``centres``' bounding box (finite ones), else 1.0 (a
    single frame or none)."""
    finite = centres[np.all(np.isfinite(centres), axis=1)]
    extent = float(np.ptp(finite, axis=0).max()) if len(finite) else 0.0
    return extent if extent > 0 else 1.0


def frustum_segments(
    poses: np.ndarray, K: np.ndarray, image_size: tuple[int, int], depth: float
) -> np.ndarray:
    """(F * 16, 3) float32 line-segment vertex pairs drawing each of the (F, 4, 4)
    camera-to-world ``poses`` as a pyramid: the image's corners back-projected by ``K`` (3, 3)
    to ``depth`` (scene units) in front of the centre, joined to it and to each other."""
    width, height = image_size
    corners_px = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float)
    rays = corners_px @ np.linalg.inv(K).T  # (4, 3) at z = 1
    local = np.vstack([np.zeros((1, 3)), rays * depth])  # (5, 3): centre, 4 corners
    # vertex indices of the 8 segments: centre to each corner, then the image rectangle
    order = np.array([0, 1, 0, 2, 0, 3, 0, 4, 1, 2, 2, 3, 3, 4, 4, 1])
    poses = np.asarray(poses, np.float64).reshape(-1, 4, 4)
    world = local[order] @ poses[:, :3, :3].transpose(0, 2, 1) + poses[:, None, :3, 3]
    return world.reshape(-1, 3).astype(np.float32)


def finite_range(values: np.ndarray) -> tuple[float, float] | None:
    """(low, high) of the finite ``values`` (the 2nd and 98th percentiles when there are more
    than 50, so a few outliers do not wash the colours out), or None when none is finite."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    if len(finite) > 50:
        low, high = np.percentile(finite, [2, 98])
    else:
        low, high = finite.min(), finite.max()
    return float(low), float(high)


def map_colours(
    values: np.ndarray, table: np.ndarray, limits: tuple[float, float] | None
) -> np.ndarray:
    """(N, 4) float32 RGBA of the (N,) ``values`` through the colour ``table`` (a
    `colour_table`) over ``limits`` (clipped); NaN values (or no limits) get
    :data:`NO_VALUE_RGBA`."""
    colours = np.tile(np.asarray(NO_VALUE_RGBA, np.float32), (len(values), 1))
    known = np.isfinite(values)
    if limits is None or not known.any():
        return colours
    low, high = limits
    scaled = (values[known] - low) / (high - low) if high > low else np.zeros(known.sum())
    colours[known] = table[np.round(np.clip(scaled, 0.0, 1.0) * (LUT_SIZE - 1)).astype(int)]
    return colours


def point_values(scene, mode: str, camera_centre: np.ndarray | None) -> np.ndarray:
    """(P,) float64 the value each map point of ``scene`` (a `core.vo.scene.VoScene`) is
    coloured by in colour ``mode``: ``depth`` its distance to ``camera_centre`` (3,) (NaN when
    None), ``uncertainty`` ``point_sigma_px``, ``observations`` its keyframe count."""
    if mode == "depth":
        if camera_centre is None:
            return np.full(len(scene.points), np.nan)
        return np.linalg.norm(scene.points - camera_centre, axis=1)
    if mode == "uncertainty":
        return np.asarray(scene.point_sigma_px, np.float64)
    if mode == "observations":
        return scene.observation_counts.astype(np.float64)
    raise ValueError(f"no values for colour mode {mode!r}")


def truth_line(truth: np.ndarray, error_m: np.ndarray | None):
    """The ground truth (N, 4, 4) (NaN where unknown) as a line: (N, 3) float32 vertices
    (unknown ones at 0, never connected), (E, 2) uint32 segments between consecutive known
    poses, (N, 4) colours by ``error_m`` (N,) and the colour limits (or None)."""
    centres = camera_centres(truth)
    known = np.all(np.isfinite(centres), axis=1)
    vertices = np.where(known[:, None], centres, 0.0).astype(np.float32)
    joined = np.flatnonzero(known[:-1] & known[1:])
    segments = np.stack([joined, joined + 1], axis=1).astype(np.uint32)
    error = np.full(len(truth), np.nan) if error_m is None else np.asarray(error_m, float)
    limits = finite_range(error[known])
    return vertices, segments, map_colours(error, COLOUR_MAPS["truth"], limits), limits


def project_to_canvas(transform, positions: np.ndarray) -> np.ndarray:
    """(N, 2) canvas pixels (logical, origin top left) of the (N, 3) scene ``positions``
    through vispy's visual-to-canvas ``transform``; NaN for those behind the camera or not
    finite."""
    if not len(positions):
        return np.zeros((0, 2))
    mapped = np.asarray(transform.map(np.asarray(positions, np.float64)), np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        pixels = mapped[:, :2] / mapped[:, 3:4]
    pixels[~(mapped[:, 3] > 0)] = np.nan
    return pixels


def nearest_within(pixels: np.ndarray, click: tuple[float, float], radius: float) -> int | None:
    """The row of the (N, 2) ``pixels`` nearest to ``click`` if it is within ``radius``
    pixels, else None (NaN rows never match)."""
    if not len(pixels):
        return None
    distance = np.hypot(pixels[:, 0] - click[0], pixels[:, 1] - click[1])
    distance[~np.isfinite(distance)] = np.inf
    best = int(np.argmin(distance))
    return best if distance[best] <= radius else None
