"""A camera's intrinsics from the user's YAML or JSON file (no Qt).

Accepted keys: ``fx, fy, cx, cy`` or ``K`` (3x3, nested or 9 numbers; also OpenCV's
``camera_matrix``); optional ``width, height`` and ``distortion`` (k1, k2, p1, p2[, k3]; also
``dist_coeffs`` / ``distortion_coefficients``). OpenCV FileStorage files (``%YAML:1.0`` with
``!!opencv-matrix``) are read through ``cv2.FileStorage``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import yaml

from core.errors import InputError
from core.sequence.base import Intrinsics

_K_KEYS = ("K", "camera_matrix", "intrinsic_matrix")
_DISTORTION_KEYS = ("distortion", "dist_coeffs", "distortion_coefficients", "D")


def _opencv_storage(path: Path) -> dict:
    """The top-level nodes of an OpenCV FileStorage file as numbers and arrays."""
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        if not storage.isOpened():
            raise InputError(path, "not a readable OpenCV YAML file")
        root, values = storage.root(), {}
        for key in root.keys():
            node = root.getNode(key)
            if node.isMap():  # an !!opencv-matrix
                values[key] = node.mat()
            elif node.isReal() or node.isInt():
                values[key] = node.real()
        return values
    finally:
        storage.release()


def _load_mapping(path: Path) -> dict:
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("%YAML:1.") or "!!opencv-matrix" in text:
        return _opencv_storage(path)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(
            path, f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {first}"
        ) from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping of keys (fx, fy, cx, cy or K)")
    return data


def _numbers(path: Path, key: str, value, count: int | None = None) -> np.ndarray:
    if isinstance(value, dict) and "data" in value:  # OpenCV-style {rows, cols, data}
        value = value["data"]
    try:
        array = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(path, f"{key} must hold numbers") from None
    if (count is not None and array.size != count) or not np.all(np.isfinite(array)):
        want = f"{count} finite numbers" if count else "finite numbers"
        raise InputError(path, f"{key} must hold {want} (got {array.size})")
    return array


def read_intrinsics(path: str | os.PathLike) -> Intrinsics:
    """:class:`Intrinsics` from ``path``; :class:`InputError` naming what is missing or
    malformed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such intrinsics file")
    data = _load_mapping(path)
    k_key = next((k for k in _K_KEYS if data.get(k) is not None), None)
    if k_key is not None:
        K = _numbers(path, k_key, data[k_key], 9).reshape(3, 3)
    else:
        missing = [k for k in ("fx", "fy", "cx", "cy") if data.get(k) is None]
        if missing:
            raise InputError(path, f"missing {', '.join(missing)} (or a 3x3 K)")
        fx, fy, cx, cy = (float(_numbers(path, k, data[k], 1)[0]) for k in ("fx", "fy", "cx", "cy"))
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1:
        raise InputError(path, "K must have positive focal lengths fx, fy and K[2, 2] = 1")
    d_key = next((k for k in _DISTORTION_KEYS if data.get(k) is not None), None)
    distortion = np.zeros(5)
    if d_key is not None:
        distortion = _numbers(path, d_key, data[d_key])
        if distortion.size not in (4, 5, 8, 12, 14):
            raise InputError(path, f"{d_key} must hold 4, 5, 8, 12 or 14 OpenCV coefficients")
    size = None
    width, height = (
        data.get("width", data.get("image_width")),
        data.get("height", data.get("image_height")),
    )
    if (width is None) != (height is None):
        raise InputError(path, "give both width and height, or neither")
    if width is not None:
        w, h = (int(_numbers(path, k, v, 1)[0]) for k, v in (("width", width), ("height", height)))
        if w <= 0 or h <= 0:
            raise InputError(path, "width and height must be positive")
        size = (h, w)
    return Intrinsics(K=K, size_hw=size, distortion=distortion, source=str(path))
