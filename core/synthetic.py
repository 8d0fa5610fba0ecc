"""Procedural, deterministic test scenes with exact ground truth.

A small indoor room (floor, walls, a few boxes and a leaning board) is ray-cast with numpy. Every
surface carries its own procedural texture glued to its 2D surface coordinates and a shading
factor that depends on its normal only, so a world point looks the same from every view and
brightness constancy holds. The renderer also returns z-depth, from which
:func:`ground_truth_flow` gives exact correspondences between two views.

Conventions: the world frame is metric with ``y`` pointing down (OpenCV-like: ``x`` right,
``y`` down, ``z`` forward for an unrotated camera), the floor is the plane ``y = 1.3``.
Poses are ``T_world_to_cam`` (4, 4) float64 with ``X_cam = R @ X_world + t``. Pixel coordinates
follow OpenCV: the centre of the top-left pixel is ``(0, 0)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
_GLYPHS = list("ABCDEFGHJKLMNPQRSTUVWXYZabdefghkmnpqrty0123456789#&%@?")

# The room: x in [-2.4, 3.6], y in [-2.7, 1.3] (floor at 1.3), z in [-1, 6] metres.
_ROOM_MIN = np.array([-2.4, -2.7, -1.0])
_ROOM_MAX = np.array([3.6, 1.3, 6.0])
_FLOOR_Y = _ROOM_MAX[1]

_TEXELS_PER_METRE = 200.0
_MAX_TEXTURE = 1024
_LIGHT = np.array([0.35, -1.0, -0.45]) / np.linalg.norm([0.35, -1.0, -0.45])
_AMBIENT = 0.45
# A ray hits a rectangle when its surface coordinates lie in [-tol, 1 + tol]: closes the room's
# corners against rounding.
_EDGE_TOL = 1e-6
_NEAR = 1e-6


def make_texture(size: int, seed: int) -> np.ndarray:
    """A rich, non-repetitive texture: (size, size, 3) uint8 RGB.

    Multi-scale value noise under random ellipses, polygons, lines and text glyphs drawn from a
    per-texture palette, then modulated by fine multi-octave noise so that no region is flat.
    Deterministic in ``seed`` (a non-negative integer).
    """
    rng = np.random.default_rng(seed)
    palette = rng.uniform(30.0, 230.0, (6, 3))
    palette = 0.4 * palette.mean(axis=1, keepdims=True) + 0.6 * palette
    tint = _octave_noise(size, 2, rng, size / 2, size / 16)
    image = palette[0] + (palette[1] - palette[0]) * tint[..., :1] + 60.0 * (tint[..., 1:] - 0.5)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(60 * (size / 256) ** 2)):
        _draw_random_shape(image, rng, palette)
    detail = _octave_noise(size, 1, rng, size / 8, 2.0)
    return np.clip(image * (0.6 + 0.55 * detail), 0, 255).astype(np.uint8)


def _octave_noise(
    size: int, channels: int, rng: np.random.Generator, largest: float, smallest: float
) -> np.ndarray:
    """(size, size, channels) float32 value noise in [0, 1], cells from ``largest`` down."""
    out = np.zeros((size, size, channels), np.float32)
    cell = largest
    while cell >= smallest:
        n = int(np.ceil(size / cell)) + 1
        grid = rng.random((n, n, channels), dtype=np.float32)
        layer = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        out += layer.reshape(size, size, channels) * np.float32(cell**0.4)
        cell /= 2
    mean, std = out.mean(axis=(0, 1)), out.std(axis=(0, 1))
    return np.clip(0.5 + (out - mean) / (5.0 * std), 0.0, 1.0)


def _draw_random_shape(image: np.ndarray, rng: np.random.Generator, palette: np.ndarray) -> None:
    """Draw one ellipse, polygon, line or word in place, sizes log-uniform up to size / 10."""
    size = image.shape[0]
    colour = np.clip(palette[rng.integers(0, len(palette))] + rng.normal(0.0, 25.0, 3), 0, 255)
    colour = tuple(float(c) for c in colour)
    radius = float(np.exp(rng.uniform(np.log(2.0), np.log(size / 10))))
    cx, cy = (int(c) for c in rng.uniform(0, size, 2))
    thickness = -1 if rng.random() < 0.6 else int(rng.integers(1, 4))
    kind = rng.integers(0, 4)
    if kind == 0:
        axes = (max(1, int(radius)), max(1, int(radius * rng.uniform(0.3, 1.0))))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(image, (cx, cy), axes, angle, 0, 360, colour, thickness, cv2.LINE_AA)
    elif kind == 1:
        count = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius * rng.uniform(0.4, 1.0, count)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        points = [points.round().astype(np.int32)]
        if thickness < 0:
            cv2.fillPoly(image, points, colour, cv2.LINE_AA)
        else:
            cv2.polylines(image, points, True, colour, thickness, cv2.LINE_AA)
    elif kind == 2:
        angle = rng.uniform(0, np.pi)
        dx, dy = int(2 * radius * np.cos(angle)), int(2 * radius * np.sin(angle))
        width = int(rng.integers(1, 4))
        cv2.line(image, (cx - dx, cy - dy), (cx + dx, cy + dy), colour, width, cv2.LINE_AA)
    else:
        text = "".join(rng.choice(_GLYPHS, int(rng.integers(1, 6))))
        font = _FONTS[int(rng.integers(0, len(_FONTS)))]
        scale = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
        width = int(rng.integers(1, 4))
        cv2.putText(image, text, (cx, cy), font, scale, colour, width, cv2.LINE_AA)


@dataclass(frozen=True)
class SceneView:
    """One rendered view.

    image: (H, W, 3) uint8 RGB.
    depth: (H, W) float32 z-depth in metres (along the optical axis) at each pixel centre.
    K: (3, 3) float64 intrinsics in pixels.
    T_world_to_cam: (4, 4) float64 pose, ``X_cam = T_world_to_cam @ X_world``.
    """

    image: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    T_world_to_cam: np.ndarray


@dataclass(frozen=True)
class _Rect:
    """A textured rectangle: ``origin + a * edge_u + b * edge_v`` for a, b in [0, 1] (metres).

    ``edge_u`` runs along the texture's rows (to the right) and ``edge_v`` down its columns, as
    seen from the front; the front normal is ``edge_v x edge_u``.
    """

    origin: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        normal = np.cross(self.edge_v, self.edge_u)
        return normal / np.linalg.norm(normal)

    @property
    def texture_size(self) -> int:
        extent = max(np.linalg.norm(self.edge_u), np.linalg.norm(self.edge_v))
        return int(np.clip(64 * np.ceil(extent * _TEXELS_PER_METRE / 64), 128, _MAX_TEXTURE))

    @property
    def texel_span(self) -> tuple[float, float]:
        """The texture's extent along edge_u and edge_v in texels (square texels)."""
        lengths = np.linalg.norm(self.edge_u), np.linalg.norm(self.edge_v)
        return tuple(float(self.texture_size * x / max(lengths)) for x in lengths)

    @property
    def shade(self) -> float:
        return _AMBIENT + (1.0 - _AMBIENT) * max(0.0, float(self.normal @ _LIGHT))


def _rotation_y(yaw_deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _room() -> list[_Rect]:
    """The six inner faces of the room, each facing inwards."""
    (x0, y0, z0), (x1, y1, z1) = _ROOM_MIN, _ROOM_MAX
    ex, ey, ez = np.array([x1 - x0, 0, 0]), np.array([0, y1 - y0, 0]), np.array([0, 0, z1 - z0])
    return [
        _Rect(np.array([x0, y1, z1]), ex, -ez),  # floor
        _Rect(np.array([x0, y0, z1]), ex, ey),  # back wall
        _Rect(np.array([x0, y0, z0]), ez, ey),  # left wall
        _Rect(np.array([x1, y0, z1]), -ez, ey),  # right wall
        _Rect(np.array([x0, y0, z0]), ex, ez),  # ceiling
        _Rect(np.array([x1, y0, z0]), -ex, ey),  # wall behind the cameras
    ]


def _box(
    centre_x: float, centre_z: float, base_y: float, whd: tuple[float, float, float], yaw: float
) -> list[_Rect]:
    """The four sides and top of a box standing on the plane ``y = base_y``, rotated by ``yaw``
    degrees about the vertical; ``whd`` is (width, height, depth) in metres."""
    w, h, d = whd
    faces = [  # (origin, edge_u, edge_v) in the box's frame, each seen from outside
        ((-w / 2, -h, -d / 2), (w, 0, 0), (0, h, 0)),
        ((w / 2, -h, d / 2), (-w, 0, 0), (0, h, 0)),
        ((-w / 2, -h, d / 2), (0, 0, -d), (0, h, 0)),
        ((w / 2, -h, -d / 2), (0, 0, d), (0, h, 0)),
        ((-w / 2, -h, d / 2), (w, 0, 0), (0, 0, -d)),
    ]
    rotation = _rotation_y(yaw)
    base = np.array([centre_x, base_y, centre_z])
    return [
        _Rect(base + rotation @ np.array(o), rotation @ np.array(u), rotation @ np.array(v))
        for o, u, v in faces
    ]


@functools.cache
def _scene() -> tuple[_Rect, ...]:
    """All rectangles of the scene; the geometry is fixed, the seed only changes textures."""
    lower_box_height = 0.85
    rects = _room()
    rects += _box(-1.1, 3.4, _FLOOR_Y, (0.9, lower_box_height, 0.8), 25.0)
    rects += _box(-1.05, 3.35, _FLOOR_Y - lower_box_height, (0.45, 0.4, 0.4), -10.0)
    rects += _box(1.3, 4.6, _FLOOR_Y, (1.1, 1.5, 0.7), -20.0)
    rects += _box(0.4, 2.6, _FLOOR_Y, (0.55, 0.5, 0.5), 40.0)
    # A board leaning against the back wall: bottom edge on the floor 0.7 m in front of it.
    rects.append(
        _Rect(
            np.array([2.0, _FLOOR_Y - 2.0, 5.98]), np.array([1.1, 0, 0]), np.array([0, 2.0, -0.68])
        )
    )
    return tuple(rects)


@dataclass(frozen=True)
class _MipChain:
    """A texture and its Gaussian pyramid, flattened: level k is ``sizes[k]`` square, its texels
    start at row ``offsets[k]`` of ``texels`` (M, 3) uint8."""

    texels: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray


@functools.lru_cache(maxsize=64)
def _mip_chain(size: int, seed: int) -> _MipChain:
    level = make_texture(size, seed)
    levels = [level]
    while level.shape[0] >= 16:
        level = cv2.pyrDown(level)
        levels.append(level)
    sizes = np.array([lv.shape[0] for lv in levels])
    offsets = np.concatenate([[0], np.cumsum(sizes**2)[:-1]])
    texels = np.concatenate([lv.reshape(-1, 3) for lv in levels])
    texels.flags.writeable = False
    return _MipChain(texels, offsets, sizes)


def _bilinear(chain: _MipChain, level: np.ndarray, tu: np.ndarray, tv: np.ndarray) -> np.ndarray:
    """(N, 3) float32 colours at texel coordinates (tu, tv) of level 0, read from ``level``."""
    size = chain.sizes[level]
    scale = 0.5**level
    x = (tu + 0.5) * scale - 0.5
    y = (tv + 0.5) * scale - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    xa, xb = np.clip(x0, 0, size - 1), np.clip(x0 + 1, 0, size - 1)
    row_a = chain.offsets[level] + np.clip(y0, 0, size - 1) * size
    row_b = chain.offsets[level] + np.clip(y0 + 1, 0, size - 1) * size
    texels = chain.texels
    top = texels[row_a + xa] * (1 - fx) + texels[row_a + xb] * fx
    bottom = texels[row_b + xa] * (1 - fx) + texels[row_b + xb] * fx
    return top * (1 - fy) + bottom * fy


def _trilinear(chain: _MipChain, tu: np.ndarray, tv: np.ndarray, level: np.ndarray) -> np.ndarray:
    """(N, 3) float32 colours, blending the two pyramid levels around the fractional ``level``."""
    last = len(chain.sizes) - 1
    lower = np.minimum(np.floor(level).astype(np.int64), last)
    upper = np.minimum(lower + 1, last)
    weight = np.clip(level - lower, 0.0, 1.0)[:, None]
    return (1 - weight) * _bilinear(chain, lower, tu, tv) + weight * _bilinear(chain, upper, tu, tv)


def _cast(
    rects: tuple[_Rect, ...], origin: np.ndarray, dirs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hits of the rays ``origin + t * dirs`` ((3,) and (N, 3) float32, world frame).

    Returns t (N,) float32, the index (N,) int64 of the hit rectangle and its surface
    coordinates a, b (N,) float32 in [0, 1]. A ray that hits nothing (impossible from inside the
    closed room) gets t = inf.
    """
    n = len(dirs)
    best_t = np.full(n, np.inf, np.float32)
    best_index = np.zeros(n, np.int64)
    best_a = np.zeros(n, np.float32)
    best_b = np.zeros(n, np.float32)
    for index, rect in enumerate(rects):
        axes = np.stack(
            [
                rect.normal,
                rect.edge_u / (rect.edge_u @ rect.edge_u),
                rect.edge_v / (rect.edge_v @ rect.edge_v),
            ],
            axis=1,
        ).astype(np.float32)
        along = dirs @ axes
        offset = (origin - rect.origin).astype(np.float32) @ axes
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -offset[0] / along[:, 0]
            a = offset[1] + t * along[:, 1]
            b = offset[2] + t * along[:, 2]
            hit = (t > _NEAR) & (t < best_t)
            hit &= (
                (a >= -_EDGE_TOL) & (a <= 1 + _EDGE_TOL) & (b >= -_EDGE_TOL) & (b <= 1 + _EDGE_TOL)
            )
        np.copyto(best_t, t, where=hit)
        np.copyto(best_index, index, where=hit)
        np.copyto(best_a, a, where=hit)
        np.copyto(best_b, b, where=hit)
    return best_t, best_index, best_a, best_b


def _pixel_rays(K: np.ndarray, R: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(len(ys) * len(xs), 3) float32 world-frame rays through pixels (xs x ys), row-major,
    scaled so that their camera-frame z is 1 (a ray parameter is then a z-depth)."""
    to_world = R.T @ np.linalg.inv(K)
    grid_x, grid_y = np.meshgrid(xs, ys)
    pixels = np.stack([grid_x.ravel(), grid_y.ravel(), np.ones(grid_x.size)], axis=1)
    return (pixels @ to_world.T).astype(np.float32)


def _axis_step2(tu: np.ndarray, tv: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """Squared texel distance to the nearer neighbour on the same surface along ``axis``."""
    step2 = np.where(
        np.diff(index, axis=axis) == 0,
        np.diff(tu, axis=axis) ** 2 + np.diff(tv, axis=axis) ** 2,
        np.inf,
    )
    pad = np.full_like(np.take(step2, [0], axis=axis), np.inf)
    nearer = np.minimum(
        np.concatenate([step2, pad], axis=axis), np.concatenate([pad, step2], axis=axis)
    )
    return np.where(np.isfinite(nearer), nearer, 0.0)


def render_scene(
    T_world_to_cam: np.ndarray,
    K: np.ndarray,
    size: tuple[int, int] = (480, 640),
    seed: int = 0,
    antialias: int = 2,
) -> SceneView:
    """Ray-cast the room from a camera.

    T_world_to_cam: (4, 4) pose; the camera centre must lie inside the room (x in [-2.4, 3.6],
    y in [-2.7, 1.3], z in [-1, 6] metres). K: (3, 3) intrinsics for an image of ``size`` =
    (H, W). ``seed`` (>= 0) picks the textures; the geometry is fixed. Each pixel averages
    ``antialias`` x ``antialias`` samples, textures are mip-mapped per sample, and depth is cast
    through the pixel centres.
    """
    height, width = size
    T_world_to_cam = np.asarray(T_world_to_cam, np.float64)
    K = np.asarray(K, np.float64)
    R, t = T_world_to_cam[:3, :3], T_world_to_cam[:3, 3]
    centre = -R.T @ t
    if np.any(centre <= _ROOM_MIN) or np.any(centre >= _ROOM_MAX):
        raise ValueError(f"camera centre {centre} lies outside the room")
    rects = _scene()

    xs = (np.arange(width * antialias) + 0.5) / antialias - 0.5
    ys = (np.arange(height * antialias) + 0.5) / antialias - 0.5
    _, index, a, b = _cast(rects, centre, _pixel_rays(K, R, xs, ys))

    # Texel coordinates (level 0) of every sample, and the mip level from their spacing.
    span = np.array([rect.texel_span for rect in rects], np.float32)
    tu = a * span[index, 0] - 0.5
    tv = b * span[index, 1] - 0.5
    grid = (height * antialias, width * antialias)
    tu2, tv2, index2 = tu.reshape(grid), tv.reshape(grid), index.reshape(grid)
    step2 = np.maximum(_axis_step2(tu2, tv2, index2, 0), _axis_step2(tu2, tv2, index2, 1))
    level = 0.5 * np.log2(np.maximum(step2.ravel(), 1.0))

    colour = np.zeros((len(index), 3), np.float32)
    for i, rect in enumerate(rects):
        sel = np.flatnonzero(index == i)
        if sel.size:
            chain = _mip_chain(rect.texture_size, seed * 100 + i)
            colour[sel] = rect.shade * _trilinear(chain, tu[sel], tv[sel], level[sel])
    colour = colour.reshape(height, antialias, width, antialias, 3).mean(axis=(1, 3))
    image = np.clip(np.rint(colour), 0, 255).astype(np.uint8)

    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    depth = _cast(rects, centre, _pixel_rays(K, R, xs, ys))[0]
    return SceneView(image, depth.reshape(height, width), K.copy(), T_world_to_cam.copy())


def _camera_pose(
    centre: tuple[float, float, float], yaw: float, pitch: float, roll: float
) -> np.ndarray:
    """(4, 4) T_world_to_cam of a camera at ``centre`` (metres) turned by ``yaw`` (degrees, to
    the right), ``pitch`` (down) and ``roll`` (about the optical axis)."""
    yaw_r, pitch_r, roll_r = np.radians([yaw, pitch, roll])
    cp, sp = np.cos(pitch_r), np.sin(pitch_r)
    cr, sr = np.cos(roll_r), np.sin(roll_r)
    pitch_m = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])
    roll_m = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    cam_to_world = _rotation_y(np.degrees(yaw_r)) @ pitch_m @ roll_m
    T = np.eye(4)
    T[:3, :3] = cam_to_world.T
    T[:3, 3] = -cam_to_world.T @ np.asarray(centre, np.float64)
    return T


def default_demo_cameras() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, T_a, T_b) for the 640 x 480 demo pair: (3, 3) intrinsics and two (4, 4)
    T_world_to_cam. B sits 0.4 m right of and 0.3 m ahead of A, turned about 10 degrees."""
    K = np.array([[520.0, 0.0, 319.5], [0.0, 520.0, 239.5], [0.0, 0.0, 1.0]])
    T_a = _camera_pose((0.1, 0.0, -0.3), yaw=-4.0, pitch=9.0, roll=0.0)
    T_b = _camera_pose((0.48, -0.05, 0.0), yaw=-13.0, pitch=12.0, roll=2.0)
    return K, T_a, T_b


def relative_pose(T_a: np.ndarray, T_b: np.ndarray) -> np.ndarray:
    """(4, 4) T_0to1 = T_b @ T_a^-1, mapping camera-A coordinates to camera-B coordinates."""
    return np.asarray(T_b, np.float64) @ np.linalg.inv(np.asarray(T_a, np.float64))


def ground_truth_flow(
    view_a: SceneView, view_b: SceneView, depth_rtol: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Where every pixel of A lands in B.

    Returns (H, W, 2) float32 pixel positions ``[x, y]`` in B of the points seen at A's pixel
    centres (NaN where the point is behind B's camera), and an (H, W) bool validity mask: True
    where the position lies within B's pixel centres ``[0, W_b - 1] x [0, H_b - 1]`` and the
    point is visible there, i.e. its depth in B agrees within ``depth_rtol`` (relative) with B's
    depth map bilinearly interpolated (in inverse depth, which is exact on planes).
    """
    height, width = view_a.depth.shape
    T = relative_pose(view_a.T_world_to_cam, view_b.T_world_to_cam)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.stack([xs, ys, np.ones_like(xs)], axis=-1)
    points_a = view_a.depth[..., None] * (pixels @ np.linalg.inv(view_a.K).T)
    points_b = points_a @ T[:3, :3].T + T[:3, 3]
    z_b = points_b[..., 2]
    in_front = z_b > _NEAR
    projected = points_b @ view_b.K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        warp = np.where(in_front[..., None], projected[..., :2] / projected[..., 2:], np.nan)
    warp = warp.astype(np.float32)

    height_b, width_b = view_b.depth.shape
    x, y = warp[..., 0], warp[..., 1]
    with np.errstate(invalid="ignore"):
        inside = in_front & (x >= 0) & (x <= width_b - 1) & (y >= 0) & (y <= height_b - 1)
    inverse_depth_b = (1.0 / view_b.depth).astype(np.float32)
    sampled = cv2.remap(
        inverse_depth_b,
        np.where(inside, x, 0).astype(np.float32),
        np.where(inside, y, 0).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    with np.errstate(invalid="ignore"):
        visible = np.abs(sampled * z_b - 1.0) <= depth_rtol
    return warp, inside & visible


def homography_pair(
    image: np.ndarray, H: np.ndarray, out_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Warp ``image`` by the (3, 3) homography ``H`` (A pixel -> B pixel, OpenCV convention).

    Returns the B image of ``out_size`` = (H, W) (default: the input's size), bilinear, zero
    outside A. The result satisfies ``B[q] = A[H^-1 q]``, so a point ``p`` of A appears at
    ``cv2.perspectiveTransform(p, H)`` in B.
    """
    height, width = image.shape[:2] if out_size is None else out_size
    return cv2.warpPerspective(
        image,
        np.asarray(H, np.float64),
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def random_homography(
    size_hw: tuple[int, int], rng: np.random.Generator, strength: float
) -> np.ndarray:
    """A (3, 3) float64 homography (A pixel -> B pixel) for an image of ``size_hw`` = (H, W).

    The image is rotated by up to 20 * strength degrees about its centre, scaled by up to
    exp(+-0.2 * strength), shifted by up to 4 * strength % of its size, and each corner is moved
    by up to 10 * strength % of the shorter side (the perspective part). ``strength`` in [0, 1]:
    0 gives the identity; at 1 typically 90 % and at least about 60 % of A's pixels stay inside
    B's frame.
    """
    height, width = size_hw
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    angle = np.radians(20.0 * strength * rng.uniform(-1, 1))
    scale = np.exp(0.2 * strength * rng.uniform(-1, 1))
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = 0.04 * strength * rng.uniform(-1, 1, 2) * [width, height]
    jitter = 0.1 * strength * min(height, width) * rng.uniform(-1, 1, (4, 2))
    moved = centre + (corners - centre) @ rotation.T + shift + jitter
    return cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32))
