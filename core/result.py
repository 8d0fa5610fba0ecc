"""`MatchResult`: what every matcher returns, and its `result.npz` file format.

Shapes and units (pixel coordinates in OpenCV's convention, see :mod:`core.coords`):

=====================  ================  =====================================================
field                  shape             meaning
=====================  ================  =====================================================
warp_ab                (H_A, W_A, 2)     for each pixel of A, its position in B (B's original
                                         pixels); NaN where there is no match; None for a
                                         sparse result
certainty_ab           (H_A, W_A)        confidence of ``warp_ab`` in [0, 1]; 0 where no match;
                                         None exactly when ``warp_ab`` is
warp_ba, certainty_ba  (H_B, W_B, ...)   the same from B to A (optional, symmetric dense
                                         matchers; None for sparse results)
matches                (N, 4)            matches ``[xA, yA, xB, yB]`` in original pixels
match_certainty        (N,)              certainty of each match in [0, 1]
keypoints_a            (K_A, 2)          a keypoint matcher's keypoints of A (all detected, matched
                                         or not), original pixels; None for dense results
keypoints_b            (K_B, 2)          the same for B
match_indices          (N, 2)            for each match, the index of its keypoint in
                                         ``keypoints_a`` and in ``keypoints_b`` (int); sequences
                                         chain them into tracks
grid_warp_ab           (h, w, 2)         for matchers with an internal grid: A->B warp on that
                                         grid in normalised coordinates of B (RoMa's convention)
grid_certainty_ab      (h, w)            certainty on that grid
covariance_ab          (H_A, W_A, 2, 2)  for matchers with an uncertainty per pixel (RoMa v2):
                                         the covariance of ``warp_ab`` in B's pixels^2
covariance_ba          (H_B, W_B, 2, 2)  the same of ``warp_ba``, in A's pixels^2
match_covariance       (N, 2, 2, 2)      each match's covariance in A's pixels^2 (``[:, 0]``)
                                         and in B's (``[:, 1]``); NaN where not known
timings                {stage: seconds}  wall-clock time of each stage
intermediates          {name: array}     named debug arrays; ``intermediate_docs[name]`` says
                                         their shape and units
provenance             Provenance        matcher, settings, weight hashes, images and their
                                         sizes, version
=====================  ================  =====================================================

A **sparse** result (SIFT and other keypoint matchers) has ``matches`` and ``match_certainty``,
and from the built-in keypoint matchers ``keypoints_a``, ``keypoints_b`` and ``match_indices``
(a match's position in A is its keypoint's, except for ``xfeat-star``, which refines it): no
warp and no certainty map in either direction (``is_sparse``). Its image
sizes come from the provenance, which :func:`core.run.run_match` fills in.

In ``result.npz`` (:func:`save_result`) every array is deflate-compressed; warps
(``warp_ab``, ``warp_ba``, ``grid_warp_ab``) and the model's own grid certainty
(``grid_certainty_ab``, small, and compared with the reference to 1e-4) are stored as float32,
the full-resolution certainty maps (``certainty_ab``, ``certainty_ba``) as float16 (a step of
at most 2^-11 in [0, 1]); :func:`load_result` returns all of them as float32.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
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

    warp_ab: np.ndarray | None = None
    certainty_ab: np.ndarray | None = None
    matches: np.ndarray | None = None  # required: validate() refuses None
    match_certainty: np.ndarray | None = None  # required
    warp_ba: np.ndarray | None = None
    certainty_ba: np.ndarray | None = None
    keypoints_a: np.ndarray | None = None
    keypoints_b: np.ndarray | None = None
    match_indices: np.ndarray | None = None
    grid_warp_ab: np.ndarray | None = None
    grid_certainty_ab: np.ndarray | None = None
    covariance_ab: np.ndarray | None = None
    covariance_ba: np.ndarray | None = None
    match_covariance: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    intermediates: dict[str, np.ndarray] = field(default_factory=dict)
    intermediate_docs: dict[str, str] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def is_sparse(self) -> bool:
        """True when the result has only matches (no dense warp, no certainty map)."""
        return self.warp_ab is None

    @property
    def size_a(self) -> tuple[int, int]:
        """(H, W) of A: the warp's, or the provenance's for a sparse result."""
        if self.warp_ab is not None:
            return int(self.warp_ab.shape[0]), int(self.warp_ab.shape[1])
        return tuple(int(v) for v in self.provenance.size_a)

    @property
    def size_b(self) -> tuple[int, int]:
        """(H, W) of B: ``warp_ba``'s when there is one, else the provenance's."""
        if self.warp_ba is not None:
            return int(self.warp_ba.shape[0]), int(self.warp_ba.shape[1])
        return tuple(int(v) for v in self.provenance.size_b)

    @property
    def num_matches(self) -> int:
        return int(self.matches.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the result's arrays, intermediates included (what a run costs in
        memory; an array shared between fields counts once per field)."""
        arrays = [getattr(self, name) for name in ARRAY_FIELDS]
        arrays += list(self.intermediates.values())
        return sum(int(np.asarray(value).nbytes) for value in arrays if value is not None)

    def validate(self, size_a: tuple[int, int] | None = None) -> None:
        """Raise ValueError naming the first field that breaks the documented contract;
        ``size_a``: (H, W) of image A, which a dense warp must have."""
        if (self.warp_ab is None) != (self.certainty_ab is None):
            raise ValueError("warp_ab and certainty_ab come together (both None: sparse)")
        if self.warp_ab is None and self.warp_ba is not None:
            raise ValueError("warp_ba without warp_ab (a sparse result has neither)")
        if self.warp_ab is not None:
            _expect(self.warp_ab, "warp_ab", (None, None, 2))
            h, w = self.warp_ab.shape[:2]
            if size_a is not None and (h, w) != tuple(size_a):
                raise ValueError(f"warp_ab is {h}x{w} but image A is {size_a[0]}x{size_a[1]}")
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
        self._validate_keypoints()
        self._validate_covariances()
        if (self.grid_warp_ab is None) != (self.grid_certainty_ab is None):
            raise ValueError("grid_warp_ab and grid_certainty_ab come together")
        if self.grid_warp_ab is not None:
            _expect(self.grid_warp_ab, "grid_warp_ab", (None, None, 2))
            _expect(self.grid_certainty_ab, "grid_certainty_ab", self.grid_warp_ab.shape[:2])

    def _validate_covariances(self) -> None:
        for name, warp in (("covariance_ab", self.warp_ab), ("covariance_ba", self.warp_ba)):
            covariance = getattr(self, name)
            if covariance is None:
                continue
            if warp is None:
                raise ValueError(f"{name} without its warp")
            _expect(covariance, name, (*warp.shape[:2], 2, 2))
        if self.match_covariance is not None:
            _expect(self.match_covariance, "match_covariance", (self.matches.shape[0], 2, 2, 2))

    def _validate_keypoints(self) -> None:
        given = [getattr(self, name) is not None for name in KEYPOINT_FIELDS]
        if not any(given):
            return
        if not all(given):
            raise ValueError("keypoints_a, keypoints_b and match_indices come together")
        _expect(self.keypoints_a, "keypoints_a", (None, 2))
        _expect(self.keypoints_b, "keypoints_b", (None, 2))
        _expect(self.match_indices, "match_indices", (self.matches.shape[0], 2))
        indices = self.match_indices
        if not np.issubdtype(indices.dtype, np.integer):
            raise ValueError("match_indices must be integers")
        for column, keypoints, side in ((0, self.keypoints_a, "A"), (1, self.keypoints_b, "B")):
            if indices.size and (
                indices[:, column].min() < 0 or indices[:, column].max() >= len(keypoints)
            ):
                raise ValueError(f"match_indices point outside the keypoints of {side}")

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
    "keypoints_a",
    "keypoints_b",
    "match_indices",
    "covariance_ab",
    "covariance_ba",
    "match_covariance",
)
KEYPOINT_FIELDS = ("keypoints_a", "keypoints_b", "match_indices")
_STORED_DTYPES = {  # how result.npz stores the dense maps (load_result gives float32 back)
    "warp_ab": np.float32,
    "warp_ba": np.float32,
    "grid_warp_ab": np.float32,
    "certainty_ab": np.float16,
    "certainty_ba": np.float16,
    "grid_certainty_ab": np.float32,
    "keypoints_a": np.float32,
    "keypoints_b": np.float32,
    "match_indices": np.int32,
    "covariance_ab": np.float32,
    "covariance_ba": np.float32,
    "match_covariance": np.float32,
}
_INTERMEDIATE_PREFIX = "intermediate/"


def save_result(result: MatchResult, path: str | os.PathLike) -> None:
    """Write ``result.npz``: plain arrays, deflate-compressed (dtypes: the module docstring),
    and JSON ``meta``. The file appears only when complete, with the mode a new file gets from
    the user's umask (as ``open`` gives)."""
    path = Path(path)
    arrays = {name: getattr(result, name) for name in ARRAY_FIELDS}
    arrays = {name: value for name, value in arrays.items() if value is not None}
    for name, dtype in _STORED_DTYPES.items():
        if name in arrays:
            arrays[name] = np.asarray(arrays[name], dtype)
    for name, value in result.intermediates.items():
        arrays[_INTERMEDIATE_PREFIX + name] = np.asarray(value)
    arrays["meta"] = np.array(result.meta_json())
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.partial"
    # 0o666 here: the kernel applies the umask (mkstemp would give 0o600)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_npz(handle, arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """What ``np.savez_compressed`` writes, at zlib level 1 (float warps compress about as
    well as at its default level 6, in less time)."""
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def load_result(path: str | os.PathLike) -> MatchResult:
    """Read a ``result.npz`` written by :func:`save_result`; never unpickles."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        for name, dtype in _STORED_DTYPES.items():
            if name in arrays:
                arrays[name] = arrays[name].astype(np.int64 if dtype == np.int32 else np.float32)
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
