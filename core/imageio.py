"""Image loading for every input people have: JPEG, PNG, PPM/PGM, TIFF, BMP, WebP.

Every image becomes an 8-bit RGB array at its *displayed* orientation (EXIF orientation
applied), so all pixel coordinates refer to what a viewer shows. 16-bit and 32-bit images are
mapped linearly from their type's range to [0, 255]; grayscale is replicated to three channels;
an alpha channel is dropped. Nothing is ever unpickled.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

MAX_PIXELS = 250_000_000
"""Largest image accepted (pixels); larger ones are refused with a clear error."""

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".tif",
    ".tiff",
    ".bmp",
    ".webp",
)


@dataclass(frozen=True)
class LoadedImage:
    """An image as Matchscope uses it.

    rgb: (H, W, 3) uint8, displayed orientation.
    path: the file it came from ("" for arrays made in memory).
    source_mode: how it was stored, e.g. "RGB", "L", "I;16", "RGBA".
    exif_orientation: the EXIF orientation tag that was applied (1 = none).
    """

    rgb: np.ndarray
    path: str = ""
    source_mode: str = "RGB"
    exif_orientation: int = 1

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def size_hw(self) -> tuple[int, int]:
        return self.height, self.width

    def gray(self) -> np.ndarray:
        """(H, W) uint8 luminance."""
        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)


def to_uint8_rgb(array: np.ndarray) -> np.ndarray:
    """Any (H, W), (H, W, 1|2|3|4) integer or float array -> (H, W, 3) uint8 RGB.

    Integer types are scaled from their full range; floats are taken as [0, 1] and clipped.
    A fourth (alpha) channel, or the second of a grey+alpha pair, is dropped.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = array[..., : array.shape[2] - 1]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    if array.dtype == np.uint8:
        out = array
    elif np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        lo = min(info.min, 0)
        out = ((array.astype(np.float64) - lo) * (255.0 / (info.max - lo)) + 0.5).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_:
        finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        out = (np.clip(finite, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise ValueError(f"unsupported pixel type {array.dtype}")
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16)
    if mode == "I":
        values = np.asarray(image)
        # 16-bit PNGs and TIFFs often arrive as 32-bit "I"; keep their real range.
        return values.astype(np.uint16) if values.min() >= 0 and values.max() <= 65535 else values
    if mode == "F":
        return np.asarray(image)
    if mode in ("RGB", "L"):
        return np.asarray(image)
    if mode in ("RGBA", "LA", "PA"):
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def _read_with_opencv(data: bytes) -> np.ndarray | None:
    """Fallback decoder for what Pillow cannot represent (e.g. 16-bit RGB TIFF)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we report errors ourselves
    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if decoded is None:
        return None
    if decoded.ndim == 3 and decoded.shape[2] >= 3:
        code = cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB
        decoded = cv2.cvtColor(decoded, code)
    return decoded


def check_file(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a non-empty readable file."""
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not an image")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Read an image file into a :class:`LoadedImage`; raise :class:`InputError` on bad input."""
    path = Path(path)
    check_file(path)
    data = path.read_bytes()
    orientation = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil = Image.open(path)
            width, height = pil.size
            if width * height > MAX_PIXELS:
                raise InputError(
                    path,
                    f"image is {width}x{height} pixels, over the limit of "
                    f"{MAX_PIXELS / 1e6:.0f} megapixels",
                )
            orientation = int(pil.getexif().get(0x0112, 1) or 1)
            source_mode = pil.mode
            pil = ImageOps.exif_transpose(pil)
            array = _pil_to_array(pil)
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        array = _read_with_opencv(data)
        if array is None:
            raise InputError(
                path, "not a readable image (unknown format or corrupt data)"
            ) from None
        source_mode = f"opencv:{array.dtype}x{1 if array.ndim == 2 else array.shape[2]}"
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"corrupt or truncated image ({exc})") from None
    if array.size == 0 or array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise InputError(path, "image has no pixels or is too large")
    try:
        rgb = to_uint8_rgb(array)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    return LoadedImage(
        rgb=rgb, path=str(path), source_mode=source_mode, exif_orientation=orientation
    )


def from_array(array: np.ndarray, name: str = "") -> LoadedImage:
    """Wrap an in-memory (H, W[, C]) array as a :class:`LoadedImage`."""
    return LoadedImage(rgb=to_uint8_rgb(array), path=name, source_mode=str(np.asarray(array).dtype))


def save_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB array; the file appears only once fully written."""
    path = Path(path)
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(path, "cannot encode an image with this extension")
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(encoded.tobytes())
    os.replace(tmp, path)
