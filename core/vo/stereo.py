"""Stereo initialisation's second camera (no Qt): KITTI's ``image_1`` beside ``image_0`` (and
``image_3`` beside ``image_2``), rectified, a known baseline apart.

The first frame that has its partner's image starts the map from that stereo pair: its points
are triangulated with the metric baseline, so the trajectory and the map are in metres (the
monocular start fixes only the direction of the first step). The partner is found from a
frame's path: ``FOLDER/image_0/NNNNNN.png`` pairs with ``FOLDER/image_1/NNNNNN.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError, MatchscopeError
from core.imageio import load_image
from core.sequence.base import FrameInfo, SequenceReader
from core.sequence.kitti import baseline_transform, camera_matrix, read_calib

PARTNERS = {"image_0": "image_1", "image_2": "image_3"}
"""KITTI's stereo pairs: the left camera's folder -> the right one's."""


@dataclass
class StereoPartner:
    """The right camera of a rectified pair: its folder and ``relative`` (4, 4), its
    camera-to-left-camera transform (``pose_right = pose_left @ relative``; KITTI: a pure
    translation of the baseline along x, metres)."""

    folder: Path
    relative: np.ndarray

    @property
    def baseline_m(self) -> float:
        return float(np.linalg.norm(self.relative[:3, 3]))

    def read(self, frame: FrameInfo) -> np.ndarray | None:
        """The right camera's (H, W, 3) uint8 RGB image of ``frame``; None when it has none
        (or it cannot be read: the start then waits for another frame)."""
        if frame.path is None:
            return None
        path = self.folder / Path(frame.path).name
        if not path.is_file():
            return None
        try:
            return load_image(path).rgb
        except InputError:
            return None


def stereo_partner(reader: SequenceReader) -> StereoPartner:
    """The right camera of ``reader``'s (a KITTI left camera's) frames; a `MatchscopeError`
    saying why when the sequence has none."""
    first = reader.frames[0].path if reader.frames else None
    if first is None:
        raise MatchscopeError(f"{reader.name}: --stereo needs a KITTI folder (image_0, image_1)")
    camera_folder = Path(first).parent
    camera, dataset = camera_folder.name, camera_folder.parent
    calib = dataset / "calib.txt"
    if camera not in PARTNERS or not calib.is_file():
        raise MatchscopeError(
            f"{reader.name}: --stereo needs a KITTI folder's left camera "
            f"({' or '.join(PARTNERS)}) and its calib.txt"
        )
    partner = PARTNERS[camera]
    if not (dataset / partner).is_dir():
        raise MatchscopeError(f"{dataset}: --stereo needs the right camera's folder {partner}/")
    matrices = read_calib(calib)
    left = baseline_transform(camera_matrix(matrices, camera, calib))
    right = baseline_transform(camera_matrix(matrices, partner, calib))
    relative = np.linalg.inv(left) @ right
    if np.linalg.norm(relative[:3, 3]) < 1e-6:
        raise MatchscopeError(f"{calib}: {camera} and {partner} have no baseline")
    return StereoPartner(dataset / partner, relative)
