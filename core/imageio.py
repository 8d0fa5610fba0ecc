"""Image loading for every input people have: JPEG, PNG, PPM/PGM, TIFF, BMP, WebP.

Every image becomes an 8-bit RGB array at its *displayed* orientation (EXIF orientation
applied), so all pixel coordinates refer to what a viewer shows. 16-bit images are mapped
linearly from the bit depth their data have (:func:`bit_depth`: the PNG ``sBIT`` chunk's when
the data fit it, else the smallest of 10, 12, 14 and 16 bits that holds the maximum), so 12-bit
camera data in a 16-bit file is not nearly black; ``LoadedImage.mapping`` says what was done.
32-bit images are mapped from their type's range; grayscale is replicated to three channels;
an alpha channel is dropped. Images over :data:`MAX_PIXELS` are refused from their header,
before decoding (Pillow's own decompression-bomb limit is set to ours). Nothing is ever unpickled.
"""

from __future__ import annotations

import os
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

MAX_PIXELS = 250_000_000
"""Largest image accepted (pixels); larger ones are refused with a clear error."""

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns above it (silenced here) and refuses 2x it

HIGH_BIT_DEPTHS = (10, 12, 14, 16)
"""Bit depths a 16-bit image's data may have when its file does not say (smallest that fits)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 1, 6: 3}  # colour type -> channels besides alpha
_PNG_SBIT_LENGTH = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> bytes of its sBIT chunk

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
    mapping: how its values became 0..255, e.g. "16-bit file, 12-bit data (maximum 4095):
        0..4095 -> 0..255"; goes into the result's provenance.
    """

    rgb: np.ndarray
    path: str = ""
    source_mode: str = "RGB"
    exif_orientation: int = 1
    mapping: str = "8-bit"

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


def _colour_channels(array: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3): an alpha channel (the last of 2 or 4) dropped, one channel squeezed."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = array[..., : array.shape[2] - 1]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    return array


def to_uint8_rgb(array: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Any (H, W), (H, W, 1|2|3|4) integer or float array -> (H, W, 3) uint8 RGB.

    Integer types are scaled from their full range, or from 0..2**bits - 1 when ``bits`` is
    given (values above it clip); floats are taken as [0, 1] and clipped. A fourth (alpha)
    channel, or the second of a grey+alpha pair, is dropped.
    """
    array = _colour_channels(array)
    if array.dtype == np.uint8 and bits in (None, 8):
        out = array
    elif np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        lo, hi = (0, 2**bits - 1) if bits else (min(info.min, 0), info.max)
        scaled = (array.astype(np.float64) - lo) * (255.0 / (hi - lo)) + 0.5
        out = np.clip(scaled, 0, 255).astype(np.uint8)
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


def png_header(data: bytes) -> tuple[int, int, int | None] | None:
    """(bit depth, colour type, significant bits or None) from a PNG's IHDR and sBIT chunks.

    None when ``data`` is not a PNG. Only the chunks before the first IDAT are read, each
    bounded by the data's length; a chunk with a wrong CRC or an sBIT with values outside
    1..bit depth is ignored. The significant bits are the largest of the colour channels'.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return None
    depth = colour = significant = None
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):  # length, type, body, CRC: every chunk moves pos on by >= 12
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data) or kind in (b"IDAT", b"IEND"):
            break
        body = data[pos + 8 : end - 4]
        if zlib.crc32(kind + body) == int.from_bytes(data[end - 4 : end], "big"):
            if kind == b"IHDR" and length == 13:
                depth, colour = body[8], body[9]
            elif kind == b"sBIT" and length == _PNG_SBIT_LENGTH.get(colour):
                most = 8 if colour == 3 else depth
                if all(1 <= value <= most for value in body):
                    significant = max(body[: _PNG_COLOUR_CHANNELS[colour]])
        pos = end
    return None if depth is None else (depth, colour, significant)


def bit_depth(array: np.ndarray, declared: int | None = None) -> tuple[int, str]:
    """The bit depth a 16-bit image's values use, and why: (bits, reason).

    ``declared`` (the PNG sBIT's significant bits) wins when every value fits in it; values
    above it mean the file was scaled to 16 bits as the PNG standard says, so 16. Otherwise
    the smallest of :data:`HIGH_BIT_DEPTHS` that holds the maximum (alpha is not counted).
    """
    colour = _colour_channels(array)
    peak = int(colour.max()) if colour.size else 0
    if declared is not None and declared < 16:
        if peak < 2**declared:
            return declared, f"sBIT {declared} bits, maximum {peak}"
        return 16, f"sBIT {declared} bits but maximum {peak}: scaled to 16 bits"
    bits = next((b for b in HIGH_BIT_DEPTHS if peak < 2**b), 16)
    return bits, f"maximum {peak}"


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` (H, W[, C]) at the displayed orientation of EXIF tag ``orientation``, as
    :func:`PIL.ImageOps.exif_transpose` does for the images Pillow decodes."""
    turns = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    turn = turns.get(orientation)
    return array if turn is None else np.ascontiguousarray(turn(array))


def _stored_bits(pil: Image.Image, png: tuple | None) -> int:
    """Bits per sample the file stores (8 when it does not say)."""
    if png is not None:
        return png[0]
    bits = pil.tag_v2.get(258, 8) if hasattr(pil, "tag_v2") else 8  # TIFF BitsPerSample
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _over_limit(path: Path, size: str) -> InputError:
    """The error for an image of ``size`` (e.g. "20000x15000 pixels"; "" when unknown)."""
    size = f"{size}, " if size else ""
    return InputError(path, f"image is {size}over the limit of {MAX_PIXELS / 1e6:.0f} megapixels")


def _open_pil(path: Path) -> Image.Image:
    """Pillow's lazy image (header read, nothing decoded); InputError over :data:`MAX_PIXELS`.

    UnidentifiedImageError and OSError pass through (the caller may try OpenCV).
    """
    try:
        with warnings.catch_warnings():  # the limit is ours: Pillow's warning says nothing more
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            pil = Image.open(path)
    except Image.DecompressionBombError as exc:  # over twice the limit; its size is in the text
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _over_limit(path, f"{int(found[1]) / 1e6:.0f} MP" if found else "") from None
    width, height = pil.size
    if width * height > MAX_PIXELS:
        pil.close()
        raise _over_limit(path, f"{width}x{height} pixels")
    return pil


def check_image(path: str | os.PathLike) -> None:
    """Raise :class:`InputError` unless ``path`` is a readable image of at most
    :data:`MAX_PIXELS`, from its header alone (no pixels are decoded)."""
    path = Path(path)
    check_file(path)
    try:
        _open_pil(path).close()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        if not cv2.haveImageReader(str(path)):  # OpenCV decodes a few formats Pillow does not
            raise InputError(path, "not a readable image (unknown format)") from None


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Read an image file into a :class:`LoadedImage`; raise :class:`InputError` on bad input."""
    path = Path(path)
    check_file(path)
    data = path.read_bytes()
    png = png_header(data)
    orientation = 1
    try:
        with _open_pil(path) as pil:
            orientation = int(pil.getexif().get(0x0112, 1) or 1)
            source_mode = pil.mode
            if _stored_bits(pil, png) > 8 and pil.mode in ("RGB", "RGBA", "LA"):
                array = None  # Pillow would keep only the high byte of 16-bit colour
            else:
                array = _pil_to_array(ImageOps.exif_transpose(pil))
        if array is None:
            array = _read_with_opencv(data)
            if array is None:
                raise InputError(path, "corrupt or truncated image (OpenCV cannot decode it)")
            source_mode = f"{source_mode};16"
            array = _orient(array, orientation)
    except InputError:
        raise
    except UnidentifiedImageError:
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
        bits, mapping = _mapping(array, png[2] if png else None)
        rgb = to_uint8_rgb(array, bits)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    return LoadedImage(
        rgb=rgb,
        path=str(path),
        source_mode=source_mode,
        exif_orientation=orientation,
        mapping=mapping,
    )


def _mapping(array: np.ndarray, declared: int | None) -> tuple[int | None, str]:
    """(bits to scale from, or None for the type's range; how the values were mapped)."""
    if array.dtype == np.uint8:
        return None, "8-bit"
    if array.dtype == np.uint16:
        bits, reason = bit_depth(array, declared)
        return bits, f"16-bit file, {bits}-bit data ({reason}): 0..{2**bits - 1} -> 0..255"
    if np.issubdtype(array.dtype, np.floating):
        return None, f"{array.dtype} values: 0..1 -> 0..255 (clipped)"
    info = np.iinfo(array.dtype) if np.issubdtype(array.dtype, np.integer) else None
    if info is None:
        return None, str(array.dtype)
    return None, f"{array.dtype} range {min(info.min, 0)}..{info.max} -> 0..255"


def from_array(array: np.ndarray, name: str = "") -> LoadedImage:
    """Wrap an in-memory (H, W[, C]) array as a :class:`LoadedImage` (integer types are scaled
    from their type's full range)."""
    array = np.asarray(array)
    return LoadedImage(
        rgb=to_uint8_rgb(array),
        path=name,
        source_mode=str(array.dtype),
        mapping="8-bit" if array.dtype == np.uint8 else f"{array.dtype}: type's range -> 0..255",
    )


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
