"""Image loading: every common format and bit depth, EXIF rotation, and clear errors."""

import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

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


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _with_sbit(png: bytes, *bits: int, crc_ok: bool = True) -> bytes:
    """``png`` with an sBIT chunk of ``bits`` right after IHDR (8 + 25 bytes)."""
    chunk = _chunk(b"sBIT", bytes(bits))
    if not crc_ok:
        chunk = chunk[:-1] + bytes([chunk[-1] ^ 1])
    return png[:33] + chunk + png[33:]


def _header_only_png(width: int, height: int) -> bytes:
    """A grey PNG whose header claims width x height, with almost no pixel data."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@pytest.fixture
def ramp12():
    """(30, 40) uint16 ramp of 12-bit data, 0..4095, as a camera writes it into a 16-bit file."""
    return np.linspace(0, 4095, 30 * 40).reshape(30, 40).astype(np.uint16)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_12_bit_data_in_16_bit_files_uses_its_range(tmp_path, ramp12, ext):
    cv2.imwrite(str(tmp_path / f"g.{ext}"), ramp12)
    image = imageio.load_image(tmp_path / f"g.{ext}")
    np.testing.assert_allclose(image.rgb[..., 0], np.round(ramp12 / 4095 * 255), atol=1)
    assert "12-bit data" in image.mapping and "0..4095 -> 0..255" in image.mapping
    colour = np.dstack([ramp12 // 2, ramp12, ramp12 // 4])  # OpenCV's BGR order
    cv2.imwrite(str(tmp_path / f"c.{ext}"), colour)
    image = imageio.load_image(tmp_path / f"c.{ext}")  # Pillow would keep the high bytes only
    assert tuple(image.rgb[-1, -1]) == (64, 255, 127)
    assert "12-bit data" in image.mapping


@pytest.mark.parametrize(("peak", "bits"), [(700, 10), (3000, 12), (9000, 14), (40000, 16)])
def test_without_a_declared_depth_the_smallest_that_holds_the_maximum(tmp_path, peak, bits):
    values = np.array([[0, peak]], np.uint16).repeat(4, 0)
    cv2.imwrite(str(tmp_path / "g.png"), values)
    image = imageio.load_image(tmp_path / "g.png")
    assert image.rgb[0, 1, 0] == round(peak * 255 / (2**bits - 1))
    assert f"{bits}-bit data (maximum {peak})" in image.mapping


def test_png_sbit_declares_the_depth(tmp_path, ramp12):
    cv2.imwrite(str(tmp_path / "g.png"), ramp12)
    plain = (tmp_path / "g.png").read_bytes()
    assert imageio.png_header(plain) == (16, 0, None)
    (tmp_path / "s14.png").write_bytes(_with_sbit(plain, 14))
    assert imageio.png_header((tmp_path / "s14.png").read_bytes()) == (16, 0, 14)
    image = imageio.load_image(tmp_path / "s14.png")  # 14 declared: 4095 is a quarter of it
    assert image.rgb[-1, -1, 0] == round(4095 * 255 / 16383)
    assert "sBIT 14 bits" in image.mapping
    # a standard file: 12 significant bits scaled up to 16, as the PNG standard asks
    cv2.imwrite(str(tmp_path / "scaled.png"), ramp12 * 16)
    scaled = _with_sbit((tmp_path / "scaled.png").read_bytes(), 12)
    (tmp_path / "scaled.png").write_bytes(scaled)
    image = imageio.load_image(tmp_path / "scaled.png")
    assert image.rgb[-1, -1, 0] == 255 and "scaled to 16 bits" in image.mapping
    # a damaged sBIT (wrong CRC, or more bits than the file has) is ignored: the maximum rule
    for broken in (_with_sbit(plain, 14, crc_ok=False), _with_sbit(plain, 17)):
        (tmp_path / "broken.png").write_bytes(broken)
        assert "12-bit data (maximum 4095)" in imageio.load_image(tmp_path / "broken.png").mapping


def test_png_header_is_safe_on_garbage():
    assert imageio.png_header(b"not a png") is None
    assert imageio.png_header(b"\x89PNG\r\n\x1a\n") is None
    huge_length = b"\x89PNG\r\n\x1a\n" + b"\xff\xff\xff\xffIHDR" + b"\0" * 30
    assert imageio.png_header(huge_length) is None


def test_8_bit_and_16_bit_colour_mappings_are_recorded(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "c8.png")
    assert imageio.load_image(tmp_path / "c8.png").mapping == "8-bit"
    assert "uint16" in imageio.from_array(np.zeros((2, 2), np.uint16)).mapping


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_colour_gets_the_exif_orientation_pillow_gives_8_bit(orientation, rgb):
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = Image.fromarray(rgb)
    stored.info["exif"] = exif.tobytes()
    stored.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(stored))
    np.testing.assert_array_equal(imageio._orient(rgb, orientation), expected)


def test_pillow_limit_is_ours_and_silent(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(_header_only_png(12000, 10000))  # 120 MP: over Pillow's default warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imageio.check_image(path)  # header only: no pixels decoded
    for width, needle in ((20000, "20000x13000 pixels"), (40000, "520 MP")):
        path.write_bytes(_header_only_png(width, 13000))  # 260 MP, and over Pillow's 2x limit
        for read in (imageio.check_image, imageio.load_image):
            with pytest.raises(InputError, match=f"{needle}, over the limit of 250 megapixels"):
                read(path)


def test_16_bit_colour_png_is_shown_at_its_exif_orientation(tmp_path, ramp12):
    stored = np.zeros((30, 40, 3), np.uint16)
    stored[:10, :10, 2] = 4095  # a red block (BGR) in the stored top-left corner
    stored[..., 1] = ramp12 // 2
    cv2.imwrite(str(tmp_path / "rot.png"), stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    data = (tmp_path / "rot.png").read_bytes()
    (tmp_path / "rot.png").write_bytes(data[:33] + _chunk(b"eXIf", exif.tobytes()) + data[33:])
    image = imageio.load_image(tmp_path / "rot.png")
    assert image.exif_orientation == 6 and image.size_hw == (40, 30)
    assert image.rgb[4, 25, 0] == 255 and image.rgb[4, 4, 0] == 0  # the block is top-right now
