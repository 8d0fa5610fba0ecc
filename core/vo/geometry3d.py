"""A VO scene as 3D geometry (no Qt): the trajectory and the aligned ground truth as polylines,
the keyframes' camera frusta as line segments, the map points in their image colours; as numpy
arrays (`scene_geometry`), as Open3D geometries (`open3d_geometries`, for the offscreen figure
and Open3D's window) and the map as ``map.ply`` (`write_map_ply`, `read_map_ply`).

Open3D is imported inside the functions that need it: importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.vo.scene import VoScene

MAP_FILE = "map.ply"
OBSERVATIONS_ATTRIBUTE = "observations"
"""The PLY vertex property (int) holding how many keyframes observe each map point."""

TRAJECTORY_RGB = (0.05, 0.35, 0.85)
TRUTH_RGB = (0.1, 0.65, 0.25)
FRUSTUM_RGB = (0.95, 0.45, 0.05)


@dataclass
class SceneGeometry:
    """A scene's 3D geometry, world coordinates (the run's, i.e. its first camera's, units).

    - ``trajectory`` (T, 3): the tracked frames' camera centres, in frame order.
    - ``truth`` (G, 3): the aligned ground truth's centres where known, or None.
    - ``frustum_vertices`` (5 F, 3): per keyframe its centre then the four image corners at
      ``frustum_depth``; ``frustum_edges`` (8 F, 2) int rows into ``frustum_vertices``.
    - ``points`` (P, 3); ``colours`` (P, 3) float in [0, 1]; ``observations`` (P,) int.
    - ``up`` (3,) unit vector: the cameras' mean "up" (-y of a camera); ``frustum_depth``.
    """

    trajectory: np.ndarray
    truth: np.ndarray | None
    frustum_vertices: np.ndarray
    frustum_edges: np.ndarray
    points: np.ndarray
    colours: np.ndarray
    observations: np.ndarray
    up: np.ndarray
    frustum_depth: float


def frustum_lines(
    K: np.ndarray, image_size: tuple[int, int], poses: np.ndarray, depth: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frusta of the (F, 4, 4) camera-to-world ``poses`` with camera ``K`` (3, 3) and
    ``image_size`` (width, height) px: the corners' rays cut at ``depth`` along the optical
    axis. Returns (5 F, 3) vertices (centre, then corners clockwise from the top left) and
    (8 F, 2) edges (four rays, four sides)."""
    width, height = image_size
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float)
    rays = (np.linalg.inv(K) @ corners.T).T * depth  # (4, 3), z = depth
    local = np.vstack([np.zeros(3), rays])  # (5, 3) in the camera
    vertices = np.einsum("fij,vj->fvi", poses[:, :3, :3], local) + poses[:, None, :3, 3]
    edges_one = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]])
    edges = (edges_one[None] + 5 * np.arange(len(poses))[:, None, None]).reshape(-1, 2)
    return vertices.reshape(-1, 3), edges


def scene_geometry(scene: VoScene, frustum_depth: float | None = None) -> SceneGeometry:
    """The geometry of ``scene``; ``frustum_depth`` defaults to 2.5 % of the trajectory's
    extent (the diagonal of its bounding box; 0.1 for a standing camera)."""
    trajectory = scene.poses[scene.tracked][:, :3, 3]
    if frustum_depth is None:
        extent = float(np.ptp(trajectory, axis=0).max()) if len(trajectory) else 0.0
        frustum_depth = 0.025 * extent if extent > 0 else 0.1
    truth = None
    if scene.truth is not None:
        centres = scene.truth[:, :3, 3]
        truth = centres[np.all(np.isfinite(centres), axis=1)]
    keyframes = scene.poses[scene.keyframe & scene.tracked]
    vertices, edges = frustum_lines(scene.K, scene.image_size, keyframes, frustum_depth)
    up = -scene.poses[scene.tracked][:, :3, 1].sum(axis=0) if len(trajectory) else np.zeros(3)
    norm = np.linalg.norm(up)
    return SceneGeometry(
        trajectory=trajectory,
        truth=truth,
        frustum_vertices=vertices,
        frustum_edges=edges,
        points=scene.points,
        colours=scene.colours.astype(np.float64) / 255.0,
        observations=scene.observation_counts,
        up=up / norm if norm > 0 else np.array([0.0, -1.0, 0.0]),
        frustum_depth=frustum_depth,
    )


def _line_set(vertices: np.ndarray, edges: np.ndarray, rgb: tuple[float, float, float]):
    import open3d as o3d

    lines = o3d.geometry.LineSet(
        o3d.utility.Vector3dVector(np.asarray(vertices, np.float64).reshape(-1, 3)),
        o3d.utility.Vector2iVector(np.asarray(edges, np.int32).reshape(-1, 2)),
    )
    lines.paint_uniform_color(rgb)
    return lines


def _polyline_edges(count: int) -> np.ndarray:
    return np.column_stack([np.arange(count - 1), np.arange(1, count)]).reshape(-1, 2)


def open3d_geometries(geometry: SceneGeometry) -> dict[str, object]:
    """Open3D (legacy) geometries by name: ``map`` (a PointCloud in the points' colours),
    ``trajectory`` and ``truth`` (LineSets, polylines; ``truth`` only with a ground truth) and
    ``frusta`` (a LineSet, 8 segments per keyframe)."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(geometry.points))
    cloud.colors = o3d.utility.Vector3dVector(geometry.colours)
    items = {
        "map": cloud,
        "trajectory": _line_set(
            geometry.trajectory, _polyline_edges(len(geometry.trajectory)), TRAJECTORY_RGB
        ),
        "frusta": _line_set(geometry.frustum_vertices, geometry.frustum_edges, FRUSTUM_RGB),
    }
    if geometry.truth is not None:
        items["truth"] = _line_set(geometry.truth, _polyline_edges(len(geometry.truth)), TRUTH_RGB)
    return items


def write_map_ply(path: Path, scene: VoScene) -> None:
    """Write the map points of ``scene`` to the binary PLY ``path``: x, y, z (double), red,
    green, blue (uchar, the image colour) and ``observations`` (int, how many keyframes observe
    the point). An empty map is a header with no vertices (Open3D refuses to write one)."""
    import open3d as o3d

    if len(scene.points) == 0:
        properties = [f"property double {axis}" for axis in "xyz"]
        properties += [f"property uchar {colour}" for colour in ("red", "green", "blue")]
        properties.append(f"property int {OBSERVATIONS_ATTRIBUTE}")
        header = ["ply", "format binary_little_endian 1.0", "element vertex 0", *properties]
        Path(path).write_text("\n".join([*header, "end_header"]) + "\n")
        return
    cloud = o3d.t.geometry.PointCloud()
    cloud.point.positions = o3d.core.Tensor(np.asarray(scene.points, np.float64).reshape(-1, 3))
    cloud.point.colors = o3d.core.Tensor(np.asarray(scene.colours, np.uint8).reshape(-1, 3))
    counts = scene.observation_counts.astype(np.int32)[:, None]
    setattr(cloud.point, OBSERVATIONS_ATTRIBUTE, o3d.core.Tensor(counts))
    if not o3d.t.io.write_point_cloud(str(path), cloud, write_ascii=False):
        raise OSError(f"could not write {path}")


def read_map_ply(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map of ``map.ply`` at ``path``: (P, 3) float64 points, (P, 3) uint8 colours and
    (P,) int observation counts."""
    import open3d as o3d

    cloud = o3d.t.io.read_point_cloud(str(path))
    if "positions" not in cloud.point:
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0, np.int64)
    counts = getattr(cloud.point, OBSERVATIONS_ATTRIBUTE).numpy().reshape(-1)
    return cloud.point.positions.numpy(), cloud.point.colors.numpy(), counts
