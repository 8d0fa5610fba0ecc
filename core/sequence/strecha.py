"""Strecha's multi-view stereo scenes (fountain-P11, Herz-Jesu-P8, castle-P19 ...):
``images/NNNN.jpg`` and ``gt_dense_cameras/NNNN.jpg.camera``, one camera file per image, read
as a sequence in file-name order (the scenes' images were taken walking around the object).

A camera file holds, as whitespace-separated numbers: K (3 x 3, row-major), the radial
distortion (k1, k2, k3; zeros in the published scenes), R (3 x 3, camera-to-world rotation),
C (3, the camera's centre in the world, metres) and the image's width and height; the
projection is ``K [R^T | -R^T C]``, so the camera-to-world pose is ``[R | C]``. Every image of
a scene has the same camera: a file whose K or distortion differs from the first's is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError
from core.sequence.base import FrameInfo, Intrinsics, SequenceReader
from core.sequence.folder import frame_id_of, image_files
from core.sequence.layouts import ImageFilesReader

IMAGES, CAMERAS = "images", "gt_dense_cameras"
CAMERA_NUMBERS = 9 + 3 + 9 + 3 + 2


def is_strecha(folder: str | Path) -> bool:
    """Whether ``folder`` has Strecha's ``images/`` and ``gt_dense_cameras/``."""
    folder = Path(folder)
    return (folder / IMAGES).is_dir() and (folder / CAMERAS).is_dir()


def read_camera(path: Path) -> tuple[Intrinsics, np.ndarray]:
    """One ``.camera`` file: its (intrinsics, (4, 4) camera-to-world pose)."""
    try:
        values = np.array(path.read_text(errors="replace").split(), np.float64)
    except ValueError:
        raise InputError(path, "not a camera file: a value is not a number") from None
    if len(values) != CAMERA_NUMBERS:
        raise InputError(
            path, f"not a camera file: {len(values)} numbers, expected {CAMERA_NUMBERS}"
        )
    K, radial = values[:9].reshape(3, 3), values[9:12]
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = values[12:21].reshape(3, 3), values[21:24]
    width, height = int(values[24]), int(values[25])
    distortion = np.array([radial[0], radial[1], 0.0, 0.0, radial[2]])
    return Intrinsics(K, (height, width), distortion, source=str(path)), pose


class StrechaReader(ImageFilesReader):
    """A Strecha scene (see the module's docstring); ``frame_id`` is the file name's number."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        files = image_files(folder / IMAGES)
        if not files:
            raise InputError(folder / IMAGES, "no image files")
        intrinsics, poses = None, []
        for path in files:
            camera = folder / CAMERAS / f"{path.name}.camera"
            if not camera.is_file():
                raise InputError(camera, f"no camera file for {path.name}")
            own, pose = read_camera(camera)
            if intrinsics is None:
                intrinsics = own
            elif not (
                np.allclose(own.K, intrinsics.K)
                and np.allclose(own.distortion, intrinsics.distortion)
            ):
                raise InputError(
                    camera,
                    f"a camera unlike {Path(intrinsics.source).name}'s: one camera per scene",
                )
            poses.append(pose)
        intrinsics = Intrinsics(
            intrinsics.K, intrinsics.size_hw, intrinsics.distortion, source=str(folder / CAMERAS)
        )
        frames = [FrameInfo(i, frame_id_of(p), None, str(p)) for i, p in enumerate(files)]
        super().__init__(folder.name, frames, intrinsics, np.array(poses))


def detect(folder: str | Path) -> bool:
    return is_strecha(folder)


def open(folder: str | Path, camera: str | None = None) -> SequenceReader:
    """``camera`` is unused: a Strecha scene has one camera."""
    return StrechaReader(folder)
