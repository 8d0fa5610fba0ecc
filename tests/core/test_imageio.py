"""Image loading: every common format and bit depth, EXIF rotation, and clear errors."""

import cv2
import numpy as np
import pytest
from PIL import Image

from core import imageio
from core.errors import InputError


@pytest.fixture
def rgb():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", ["png", "ppm", "tif", "bmp", "webp"])
def test_lossless_formats_round_trip(tmp_path, rgb, ext):
    path = tmp_path / f"im.{ext}"
    options = {"lossless": True} if ext == "webp" else {}
    Image.fromarray(rgb).save(path, **options)
    image = imageio.load_image(path)
    assert image.size_hw == (30, 40)
    np.testing.assert_array_equal(image.rgb, rgb)
    assert image.path == str(path)


def test_jpeg_is_close(tmp_path, rgb):
    smooth = cv2.GaussianBlur(rgb, (7, 7), 2)
    Image.fromarray(smooth).save(tmp_path / "im.jpg", quality=95)
    image = imageio.load_image(tmp_path / "im.jpg")
    assert np.abs(image.rgb.astype(int) - smooth).mean() < 3


@pytest.mark.parametrize("ext", ["png", "pgm", "tif"])
def test_grayscale_8_and_16_bit(tmp_path, ext):
    gray16 = np.linspace(0, 65535, 30 * 40).reshape(30, 40).astype(np.uint16)
    cv2.imwrite(str(tmp_path / f"g16.{ext}"), gray16)
    image = imageio.load_image(tmp_path / f"g16.{ext}")
    assert image.rgb.shape == (30, 40, 3) and image.rgb.dtype == np.uint8
    expected = np.round(gray16 / 257.0)
    assert np.abs(image.rgb[..., 0] - expected).max() <= 1
    assert (image.rgb[..., 0] == image.rgb[..., 2]).all()
    Image.fromarray((gray16 >> 8).astype(np.uint8)).save(tmp_path / f"g8.{ext}")
    assert imageio.load_image(tmp_path / f"g8.{ext}").rgb.shape == (30, 40, 3)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16_bit_colour_keeps_channel_order(tmp_path, ext):
    bgr16 = np.zeros((10, 12, 3), np.uint16)
    bgr16[..., 2] = 65535  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / f"c16.{ext}"), bgr16)
    image = imageio.load_image(tmp_path / f"c16.{ext}")
    assert tuple(image.rgb[0, 0]) == (255, 0, 0)


def test_rgba_drops_alpha(tmp_path, rgb):
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(imageio.load_image(tmp_path / "a.png").rgb, rgb)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.full((30, 40, 3), 200, np.uint8)
    stored[:10, :10] = (255, 0, 0)  # a red block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "rot.jpg", exif=exif, quality=100)
    image = imageio.load_image(tmp_path / "rot.jpg")
    assert image.exif_orientation == 6
    assert image.size_hw == (40, 30)
    assert image.rgb[4, 25, 0] > 240 and image.rgb[4, 25, 1] < 30  # now top-right
    assert image.rgb[4, 4, 1] > 150  # the top-left is background


def test_to_uint8_rgb_types():
    assert imageio.to_uint8_rgb(np.ones((2, 2), np.float32))[0, 0, 0] == 255
    assert imageio.to_uint8_rgb(np.full((2, 2, 1), 65535, np.uint16))[0, 0, 1] == 255
    assert imageio.to_uint8_rgb(np.zeros((2, 2, 2), np.uint8)).shape == (2, 2, 3)
    with pytest.raises(ValueError):
        imageio.to_uint8_rgb(np.zeros((2, 2, 5), np.uint8))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, I am text"), "not a readable image"),
    ],
)
def test_bad_files_name_the_file_and_reason(tmp_path, make, reason):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(InputError) as info:
        imageio.load_image(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_truncated_file_is_refused(tmp_path, rgb):
    Image.fromarray(np.tile(rgb, (8, 8, 1))).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        imageio.load_image(tmp_path / "cut.png")


def test_huge_image_is_refused(tmp_path, rgb, monkeypatch):
    Image.fromarray(rgb).save(tmp_path / "big.png")
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1000)
    with pytest.raises(InputError, match="over the limit"):
        imageio.load_image(tmp_path / "big.png")


def test_save_image_is_atomic_and_checks_extension(tmp_path, rgb):
    imageio.save_image(tmp_path / "out.png", rgb)
    np.testing.assert_array_equal(imageio.load_image(tmp_path / "out.png").rgb, rgb)
    assert not list(tmp_path.glob(".*partial"))
    with pytest.raises(InputError):
        imageio.save_image(tmp_path / "out.notanimage", rgb)
