"""A folder of image files read as a sequence, in natural file-name order (no Qt)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.imageio import IMAGE_EXTENSIONS, load_image
from core.sequence.base import FrameInfo, SequenceReader

_NUMBER = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key putting ``2.png`` before ``10.png``: digit runs compare as numbers."""
    return [
        (0, int(part), part) if part.isdigit() else (1, 0, part.lower())
        for part in _NUMBER.split(name)
        if part
    ]


def frame_id_of(path: Path) -> int | str:
    """The file name's number (the last digit run of its stem: ``frame_000123.png`` -> 123),
    else the stem."""
    numbers = _NUMBER.findall(path.stem)
    return int(numbers[-1]) if numbers else path.stem


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (extensions :mod:`core.imageio` reads), in
    natural order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: natural_key(p.name))


class ImageFolderReader(SequenceReader):
    """Every image file of ``folder``, in natural file-name order; ``frame_id`` is the file
    name's number (or its stem); no timestamps. An empty folder raises :class:`InputError`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.name = self.folder.name
        if not self.folder.is_dir():
            raise InputError(self.folder, "not a folder")
        files = image_files(self.folder)
        if not files:
            raise InputError(
                self.folder, f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the folder"
            )
        self.frames = [FrameInfo(i, frame_id_of(p), None, str(p)) for i, p in enumerate(files)]

    def read(self, position: int) -> np.ndarray:
        return load_image(self.frames[position].path).rgb
