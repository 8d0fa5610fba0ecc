"""core.synthetic: deterministic renders and exact ground truth, at 160 x 120."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from core.coords import rescale_pixels
from core.synthetic import (
    SceneView,
    default_demo_cameras,
    ground_truth_flow,
    homography_pair,
    make_texture,
    random_homography,
    relative_pose,
    render_scene,
)

SIZE = (120, 160)
# Mean absolute error (grey levels, 0-255) of B warped back onto A over valid pixels. The true
# flow gives about 1.5; a flow off by 1 px gives about 6, and off by 2 px about 10.
PHOTOMETRIC_BOUND = 3.0


def _small_K() -> np.ndarray:
    K, _, _ = default_demo_cameras()
    K = K.copy()
    K[:2, :2] *= SIZE[1] / 640
    K[:2, 2] = rescale_pixels(K[:2, 2], (480, 640), SIZE)
    return K


@pytest.fixture(scope="module")
def views() -> tuple[SceneView, SceneView]:
    _, T_a, T_b = default_demo_cameras()
    K = _small_K()
    return render_scene(T_a, K, size=SIZE), render_scene(T_b, K, size=SIZE)


def _photometric_error(view_a: SceneView, view_b: SceneView, warp, valid) -> float:
    """Mean |A - B(warp)| over ``valid``; positions outside B read as black."""
    warp = np.nan_to_num(warp, nan=-1e4)
    back = cv2.remap(view_b.image, warp[..., 0], warp[..., 1], cv2.INTER_LINEAR)
    return float(np.abs(back.astype(np.float64) - view_a.image)[valid].mean())


def test_make_texture_is_deterministic_and_matchable():
    texture = make_texture(256, seed=3)
    assert texture.shape == (256, 256, 3)
    assert texture.dtype == np.uint8
    np.testing.assert_array_equal(texture, make_texture(256, seed=3))
    assert np.abs(texture.astype(int) - make_texture(256, seed=4)).mean() > 20
    keypoints = cv2.SIFT_create().detect(cv2.cvtColor(texture, cv2.COLOR_RGB2GRAY))
    assert len(keypoints) > 100


def test_render_is_deterministic(views):
    view_a, _ = views
    assert view_a.image.shape == (*SIZE, 3)
    assert view_a.image.dtype == np.uint8
    assert view_a.depth.shape == SIZE
    assert view_a.depth.dtype == np.float32
    again = render_scene(view_a.T_world_to_cam, view_a.K, size=SIZE)
    np.testing.assert_array_equal(again.image, view_a.image)
    np.testing.assert_array_equal(again.depth, view_a.depth)
    other_seed = render_scene(view_a.T_world_to_cam, view_a.K, size=SIZE, seed=1)
    np.testing.assert_array_equal(other_seed.depth, view_a.depth)
    assert np.abs(other_seed.image.astype(int) - view_a.image).mean() > 10


def test_depth_is_z_depth_on_the_floor(views):
    view_a, _ = views
    # The bottom image row sees only the floor, the plane y = 1.3 in the world.
    xs = np.arange(SIZE[1], dtype=np.float64)
    pixels = np.stack([xs, np.full_like(xs, SIZE[0] - 1), np.ones_like(xs)], axis=1)
    points_cam = view_a.depth[-1][:, None] * (pixels @ np.linalg.inv(view_a.K).T)
    cam_to_world = np.linalg.inv(view_a.T_world_to_cam)
    points_world = points_cam @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
    np.testing.assert_allclose(points_world[:, 1], 1.3, atol=1e-4)


def test_ground_truth_flow_explains_the_images(views):
    view_a, view_b = views
    warp, valid = ground_truth_flow(view_a, view_b)
    assert warp.shape == (*SIZE, 2)
    assert warp.dtype == np.float32
    assert valid.shape == SIZE
    assert 0.65 < valid.mean() < 0.95

    assert _photometric_error(view_a, view_b, warp, valid) < PHOTOMETRIC_BOUND
    for shift in ([2.0, 0.0], [0.0, 2.0], [-1.5, 1.5]):
        shifted = warp + np.float32(shift)
        assert _photometric_error(view_a, view_b, shifted, valid) > 2 * PHOTOMETRIC_BOUND
    # The same relative motion applied in the wrong direction.
    T_a, T_b = view_a.T_world_to_cam, view_b.T_world_to_cam
    inverted = dataclasses.replace(view_b, T_world_to_cam=T_a @ np.linalg.inv(T_b) @ T_a)
    wrong, _ = ground_truth_flow(view_a, inverted)
    assert _photometric_error(view_a, view_b, wrong, valid) > 2 * PHOTOMETRIC_BOUND


def test_valid_mask_drops_occluded_points(views):
    view_a, view_b = views
    warp, valid = ground_truth_flow(view_a, view_b)
    x, y = warp[..., 0], warp[..., 1]
    inside = (x >= 0) & (x <= SIZE[1] - 1) & (y >= 0) & (y <= SIZE[0] - 1)
    assert not np.any(valid & ~inside)
    occluded = inside & ~valid
    # Boxes hide some of the floor and walls seen by A: a few percent of the image.
    assert 0.01 < occluded.mean() < 0.1
    # Where the mask is True, going A -> B -> A returns to the start.
    warp_back, _ = ground_truth_flow(view_b, view_a)
    round_trip = cv2.remap(warp_back, x, y, cv2.INTER_LINEAR)
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    error = np.hypot(round_trip[..., 0] - xs, round_trip[..., 1] - ys)[valid]
    assert np.median(error) < 0.05
    assert np.percentile(error, 95) < 0.1


def test_relative_pose_composes():
    rng = np.random.default_rng(0)

    def random_pose() -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = cv2.Rodrigues(rng.normal(size=3))[0]
        T[:3, 3] = rng.normal(size=3)
        return T

    T_a, T_b, T_c = random_pose(), random_pose(), random_pose()
    points_world = np.vstack([rng.normal(size=(3, 10)), np.ones((1, 10))])
    T_ab = relative_pose(T_a, T_b)
    np.testing.assert_allclose(T_ab @ (T_a @ points_world), T_b @ points_world, atol=1e-12)
    np.testing.assert_allclose(relative_pose(T_b, T_c) @ T_ab, relative_pose(T_a, T_c), atol=1e-12)
    np.testing.assert_allclose(relative_pose(T_a, T_a), np.eye(4), atol=1e-12)


def test_demo_cameras_move_in_3d():
    K, T_a, T_b = default_demo_cameras()
    assert K.shape == (3, 3)
    T_ab = relative_pose(T_a, T_b)
    angle = np.degrees(np.arccos((np.trace(T_ab[:3, :3]) - 1) / 2))
    assert 8 <= angle <= 12
    centre_a = -T_a[:3, :3].T @ T_a[:3, 3]
    centre_b = -T_b[:3, :3].T @ T_b[:3, 3]
    assert 0.3 <= np.linalg.norm(centre_b - centre_a) <= 0.6


def test_render_rejects_a_camera_outside_the_room():
    K, T_a, _ = default_demo_cameras()
    T = T_a.copy()
    T[:3, 3] = T_a[:3, :3] @ np.array([0.0, 0.0, 20.0])  # camera centre at z = -20 m
    with pytest.raises(ValueError, match="outside the room"):
        render_scene(T, K, size=SIZE)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_homography_pair_moves_points_where_h_says(seed):
    rng = np.random.default_rng(seed)
    H = random_homography(SIZE, rng, strength=0.6)
    points = np.array([[40.0, 30.0], [120.5, 35.0], [80.0, 60.0], [45.0, 90.25], [115.0, 85.0]])
    expected = cv2.perspectiveTransform(points[None], H)[0]
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    for point, target in zip(points, expected, strict=True):
        blob = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * 1.5**2))
        warped = homography_pair(blob.astype(np.float32), H)
        centroid = np.array([(warped * xs).sum(), (warped * ys).sum()]) / warped.sum()
        np.testing.assert_allclose(centroid, target, atol=0.15)


def test_homography_pair_on_a_texture():
    image = make_texture(128, seed=5)[:96]
    H = random_homography(image.shape[:2], np.random.default_rng(7), strength=0.5)
    warped = homography_pair(image, H, out_size=(100, 140))
    assert warped.shape == (100, 140, 3)
    # Read A at H^-1 q for every pixel q of B and compare where that lies well inside A.
    ys, xs = np.mgrid[0:100, 0:140].astype(np.float32)
    source = cv2.perspectiveTransform(np.stack([xs, ys], -1).reshape(1, -1, 2), np.linalg.inv(H))
    source = source.reshape(100, 140, 2).astype(np.float32)
    expected = cv2.remap(image, source[..., 0], source[..., 1], cv2.INTER_LINEAR)
    inside = (source[..., 0] >= 1) & (source[..., 0] <= 126) & (source[..., 1] >= 1)
    inside &= source[..., 1] <= 94
    assert inside.mean() > 0.5
    difference = np.abs(warped.astype(int) - expected)[inside]
    assert difference.mean() < 0.5
    assert difference.max() <= 2


def test_random_homography_keeps_the_image_in_view():
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(random_homography(SIZE, rng, strength=0.0), np.eye(3), atol=1e-9)
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float32)
    pixels = np.stack([xs, ys], axis=-1).reshape(1, -1, 2)
    kept = []
    for _ in range(50):
        H = random_homography(SIZE, rng, strength=1.0)
        assert not np.allclose(H, np.eye(3), atol=1e-2)
        x, y = cv2.perspectiveTransform(pixels, H)[0].T
        kept.append(np.mean((x >= 0) & (x <= SIZE[1] - 1) & (y >= 0) & (y <= SIZE[0] - 1)))
    assert min(kept) > 0.55
    assert np.median(kept) > 0.8
