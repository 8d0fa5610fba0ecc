import numpy as np
import pytest

from core import coords


def test_pixel_centres_map_to_romas_grid():
    width, height = 4, 2
    uv = coords.pixel_to_normalized(np.array([[0, 0], [3, 1]]), width, height)
    np.testing.assert_allclose(uv, [[-1 + 1 / 4, -1 + 1 / 2], [1 - 1 / 4, 1 - 1 / 2]])
    # the image's outer edges (half a pixel beyond the centres) are exactly -1 and 1
    edges = coords.pixel_to_normalized(np.array([[-0.5, -0.5], [3.5, 1.5]]), width, height)
    np.testing.assert_allclose(edges, [[-1, -1], [1, 1]])


def test_round_trip_and_grid():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.5, 99.5, size=(50, 2))
    back = coords.normalized_to_pixel(coords.pixel_to_normalized(xy, 100, 60), 100, 60)
    np.testing.assert_allclose(back, xy, atol=1e-12)
    grid = coords.normalized_grid(3, 5)
    assert grid.shape == (3, 5, 2)
    np.testing.assert_allclose(grid[0, 0], [-1 + 1 / 5, -1 + 1 / 3], atol=1e-7)
    np.testing.assert_allclose(grid[-1, -1], [1 - 1 / 5, 1 - 1 / 3], atol=1e-7)
    assert tuple(coords.pixel_grid(3, 5)[2, 4]) == (4.0, 2.0)


def test_rescale_matches_opencv_resize():
    """The centroid of a blob at (x, y) lands where rescale_pixels says after cv2.resize."""
    cv2 = pytest.importorskip("cv2")
    ys, xs = np.mgrid[0:40, 0:60]
    centre = np.array([30.3, 10.7])
    blob = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / 8.0).astype(np.float32)
    for interpolation in (cv2.INTER_AREA, cv2.INTER_LINEAR):
        small = cv2.resize(blob, (30, 20), interpolation=interpolation)
        sy, sx = np.mgrid[0:20, 0:30]
        centroid = np.array([np.average(sx, weights=small), np.average(sy, weights=small)])
        expected = coords.rescale_pixels(centre, (40, 60), (20, 30))
        np.testing.assert_allclose(expected, centroid, atol=0.02)


def test_fit_longer_side_never_upscales():
    assert coords.fit_longer_side(480, 640, 320) == (240, 320)
    assert coords.fit_longer_side(480, 640, 1000) == (480, 640)
    assert coords.fit_longer_side(480, 640, 0) == (480, 640)
