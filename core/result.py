"""`MatchResult`: what every matcher returns, and its `result.npz` file format.

Shapes and units (pixel coordinates in OpenCV's convention, see :mod:`core.coords`):

=====================  ================  =====================================================
field                  shape             meaning
=====================  ================  =====================================================
warp_ab                (H_A, W_A, 2)     for each pixel of A, its position in B (B's original
                                         pixels); NaN where there is no match
certainty_ab           (H_A, W_A)        confidence of ``warp_ab`` in [0, 1]; 0 where no match
warp_ba, certainty_ba  (H_B, W_B, ...)   the same from B to A (optional, symmetric matchers)
matches                (N, 4)            sampled matches ``[xA, yA, xB, yB]`` in original pixels
match_certainty        (N,)              certainty of each match in [0, 1]
grid_warp_ab           (h, w, 2)         for matchers with an internal grid: A->B warp on that
                                         grid in normalised coordinates of B (RoMa's convention)
grid_certainty_ab      (h, w)            certainty on that grid
timings                {stage: seconds}  wall-clock time of each stage
intermediates          {name: array}     named debug arrays; ``intermediate_docs[name]`` says
                                         their shape and units
provenance             Provenance        matcher, settings, weight hashes, images, version
=====================  ================  =====================================================
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core import __version__
from core.errors import InputError


@dataclass
class Provenance:
    """Where a result came from; stored as JSON in ``meta``."""

    matcher: str = ""
    settings: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)  # {name: sha256 of the file}
    image_a: str = ""
    image_b: str = ""
    size_a: tuple[int, int] = (0, 0)  # (H, W) of A as loaded (EXIF orientation applied)
    size_b: tuple[int, int] = (0, 0)
    pixel_mapping: dict = field(default_factory=dict)  # {"a", "b": LoadedImage.mapping}
    version: str = __version__


@dataclass
class MatchResult:
    """Dense and sparse correspondences from A to B; see the module docstring for shapes."""

    warp_ab: np.ndarray
    certainty_ab: np.ndarray
    matches: np.ndarray
    match_certainty: np.ndarray
    warp_ba: np.ndarray | None = None
    certainty_ba: np.ndarray | None = None
    grid_warp_ab: np.ndarray | None = None
    grid_certainty_ab: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    intermediates: dict[str, np.ndarray] = field(default_factory=dict)
    intermediate_docs: dict[str, str] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def size_a(self) -> tuple[int, int]:
        return int(self.warp_ab.shape[0]), int(self.warp_ab.shape[1])

    @property
    def num_matches(self) -> int:
        return int(self.matches.shape[0])

    def validate(self, size_a: tuple[int, int] | None = None) -> None:
        """Raise ValueError naming the first field that breaks the documented contract."""
        h, w = self.size_a
        if size_a is not None and (h, w) != tuple(size_a):
            raise ValueError(f"warp_ab is {h}x{w} but image A is {size_a[0]}x{size_a[1]}")
        _expect(self.warp_ab, "warp_ab", (h, w, 2))
        _expect(self.certainty_ab, "certainty_ab", (h, w))
        _expect(self.matches, "matches", (None, 4))
        _expect(self.match_certainty, "match_certainty", (self.matches.shape[0],))
        for name in ("certainty_ab", "match_certainty", "certainty_ba", "grid_certainty_ab"):
            values = getattr(self, name)
            if (
                values is not None
                and values.size
                and not (
                    np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0
                )
            ):
                raise ValueError(f"{name} must lie in [0, 1]")
        if (self.warp_ba is None) != (self.certainty_ba is None):
            raise ValueError("warp_ba and certainty_ba come together")
        if self.warp_ba is not None:
            _expect(self.certainty_ba, "certainty_ba", self.warp_ba.shape[:2])
            _expect(self.warp_ba, "warp_ba", (*self.warp_ba.shape[:2], 2))
        if (self.grid_warp_ab is None) != (self.grid_certainty_ab is None):
            raise ValueError("grid_warp_ab and grid_certainty_ab come together")
        if self.grid_warp_ab is not None:
            _expect(self.grid_warp_ab, "grid_warp_ab", (None, None, 2))
            _expect(self.grid_certainty_ab, "grid_certainty_ab", self.grid_warp_ab.shape[:2])

    def meta_json(self) -> str:
        meta = asdict(self.provenance)
        meta["timings"] = self.timings
        meta["intermediates"] = self.intermediate_docs
        return json.dumps(meta, indent=1, sort_keys=True)


def _expect(array, name: str, shape: tuple) -> None:
    if (
        array is None
        or array.ndim != len(shape)
        or any(
            want is not None and got != want for got, want in zip(array.shape, shape, strict=True)
        )
    ):
        got = None if array is None else tuple(array.shape)
        raise ValueError(f"{name} has shape {got}, expected {shape}")


ARRAY_FIELDS = (  # every optional or required array of a MatchResult
    "warp_ab",
    "certainty_ab",
    "matches",
    "match_certainty",
    "warp_ba",
    "certainty_ba",
    "grid_warp_ab",
    "grid_certainty_ab",
)
_INTERMEDIATE_PREFIX = "intermediate/"


def save_result(result: MatchResult, path: str | os.PathLike) -> None:
    """Write ``result.npz`` (plain arrays + JSON ``meta``); the file appears only when complete."""
    path = Path(path)
    arrays = {name: getattr(result, name) for name in ARRAY_FIELDS}
    arrays = {name: value for name, value in arrays.items() if value is not None}
    for name, value in result.intermediates.items():
        arrays[_INTERMEDIATE_PREFIX + name] = np.asarray(value)
    arrays["meta"] = np.array(result.meta_json())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_result(path: str | os.PathLike) -> MatchResult:
    """Read a ``result.npz`` written by :func:`save_result`; never unpickles."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, f"not a Matchscope result file ({exc})") from None
    intermediates = {
        key[len(_INTERMEDIATE_PREFIX) :]: arrays.pop(key)
        for key in list(arrays)
        if key.startswith(_INTERMEDIATE_PREFIX)
    }
    timings = meta.pop("timings", {})
    docs = meta.pop("intermediates", {})
    known = Provenance.__dataclass_fields__
    provenance = Provenance(**{k: v for k, v in meta.items() if k in known})
    provenance.size_a = tuple(provenance.size_a)
    provenance.size_b = tuple(provenance.size_b)
    try:
        result = MatchResult(
            **{name: arrays.get(name) for name in ARRAY_FIELDS},
            timings=timings,
            intermediates=intermediates,
            intermediate_docs=docs,
            provenance=provenance,
        )
        result.validate()
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"malformed result file ({exc})") from None
    return result
