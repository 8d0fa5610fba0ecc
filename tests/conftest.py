"""Shared fixtures: the research data in ../shared/data (skipped when absent) and small images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


class WritesAMarker:
    """Unpickling this object touches a file: a stand-in for arbitrary code in a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def shared_data_dir() -> Path:
    """``$MATCHSCOPE_DATA`` or ../shared/data next to the repository."""
    return Path(os.environ.get("MATCHSCOPE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"research data not found at {root} (set MATCHSCOPE_DATA)")
    return root


@pytest.fixture
def texture() -> np.ndarray:
    """(240, 320, 3) uint8 matchable texture made by the project's renderer."""
    from core.synthetic import make_texture

    return make_texture(320, seed=3)[:240]
