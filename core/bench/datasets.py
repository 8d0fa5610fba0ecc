"""Benchmark datasets with ground truth: recognise a folder's layout and list its image pairs.

:func:`open_dataset` takes a folder (or a pairs file, or a scene-info ``.npz``) and returns a
:class:`Dataset` whose pairs carry their ground truth in the original images' pixels (OpenCV's
convention: the centre of the top-left pixel is (0, 0)):

==================  ==========  =================================================================
layout              kind        what is recognised
==================  ==========  =================================================================
superglue-pairs     pose        ``pairs_with_gt.txt`` (SuperGlue's format: ``name0 name1 rot0 rot1
                                K0[9] K1[9] T_0to1[16]``, names relative to the file's folder);
                                where a folder has one, it defines the pairs
kitti-odometry      pose        ``image_0/``, ``calib.txt``, ``poses.txt`` and no pairs file:
                                consecutive frames of ``image_0``, K from ``P0``, the relative pose
                                from the two camera-to-world poses
oxford-affine       homography  ``img1..img6`` (any image extension) + ``H1to2p..H1to6p``
hpatches            homography  ``1..6`` + ``H_1_2..H_1_6``
middlebury-flow     flow        ``NAME.flo`` + ``NAME1.*``, ``NAME2.*`` (or ``flowN.flo`` +
                                ``frameN.*``, ``frameN+1.*``)
megadepth-1500      pose        LoFTR/RoMa scene-info ``.npz`` files (``image_paths``,
                                ``intrinsics``, ``poses`` (world -> camera), ``pair_infos``):
                                the five MegaDepth-1500 scenes where one folder holds them all,
                                else every scene-info file in the folder or up to two levels
                                below (see below); images relative to one of several roots
                                (see below)
scannet-1500        pose        LoFTR/RoMa ``test.npz`` (``name`` rows ``[scene, sub, frame0,
                                frame1]``, ``rel_pose`` (N, 12)), images
                                ``[scans_test/]sceneXXXX_YY/color/F.jpg``, K from the scene's
                                ``intrinsic/intrinsic_color.txt`` (as RoMa), else LoFTR's
                                ``intrinsics.npz`` beside ``test.npz`` scaled to each image
==================  ==========  =================================================================

A folder whose subfolders each hold one sequence of the first five layouts is a folder of
sequences (e.g. ``oxford_affine/{bark,...}``, HPatches' ``hpatches-sequences-release``); each
pair keeps its sequence's name for per-sequence metrics. The scenes of the ``.npz`` layouts are
sequences too. Anything else is refused with one line (:class:`InputError`).

SuperGlue's ``rot0``/``rot1`` (quarter turns, as ``np.rot90``) are supported the way SuperGlue
applies them: the image is rotated before matching, and K and ``T_0to1`` are rotated with it
(:func:`rotate_view`), so the ground truth describes the rotated images.

MegaDepth-1500 as LoFTR and RoMa distribute it:

* **Scene files.** Where one folder holds all five of ``0015_0.1_0.3.npz``, ``0015_0.3_0.5.npz``,
  ``0022_0.1_0.3.npz``, ``0022_0.3_0.5.npz`` and ``0022_0.5_0.7.npz`` (the dataset's folder, its
  ``megadepth_test_1500_scene_info/``, or such a folder one level below it, e.g. LoFTR's
  ``assets/``), exactly those five are read, in that order (RoMa's list), whatever else lies
  around (RoMa's ``data/megadepth`` may also hold training scene info). Otherwise every
  scene-info file in the folder (or, if it has none, in its subfolders, or theirs) is read.
* **Images.** ``image_paths`` (``Undistorted_SfM/0015/images/...``) are looked for under the
  dataset's folder, the ``.npz``'s folder and its two parents, each of their subfolders, and
  their ``data/megadepth[/test]`` (and ``data/scannet[/test]`` for ScanNet-1500's images, which
  are also looked for in ``scans_test/``). That covers RoMa's layout (scene files
  and ``Undistorted_SfM/`` side by side in ``data/megadepth/``), LoFTR's (scene files in
  ``assets/megadepth_test_1500_scene_info/``, images in ``data/megadepth/test/``, when the
  dataset is LoFTR's root folder) and the unpacked ``megadepth_test_1500/`` archive.
* **The files themselves.** LoFTR's scene files are not zip archives but one pickled dict
  (``numpy.load(allow_pickle=True)`` falls back to unpickling them): object arrays with one entry
  per image (``None`` for images in no pair), and ``pair_infos`` a list of ``(array([i, j]),
  overlap, central_matches)``. Both that and a real ``.npz`` of object arrays are read by
  :func:`safe_load_npz`, whose unpickler admits only numpy arrays, dtypes and scalars and plain
  containers: a file that pickles anything else is refused before any of it runs.
* **Intrinsics.** MegaDepth's K come from COLMAP, whose pixel coordinates put the image's corner
  at (0, 0) (the top-left pixel's centre at (0.5, 0.5)); RoMa scales them and its corner-origin
  matches together. Our matches use OpenCV's convention, so each K is moved by half a pixel
  (``cx - 0.5``, ``cy - 0.5``) when it is read: the normalised coordinates, and so the poses, are
  then the same as RoMa's.

ScanNet-1500's K is the scene's ``intrinsic/intrinsic_color.txt`` (4x4, for the colour images as
stored, usually 1296x968), used as it is, as RoMa does; without it, LoFTR's ``intrinsics.npz``
(one (3, 3) per scene, for 640x480 images) scaled to each image's own size (row 0 by W / 640,
row 1 by H / 480).

What still differs from RoMa's printed numbers (see also :mod:`core.bench.pairs`): RoMa scores a
run whose estimation fails as 90 degrees, we as ``inf`` (the same AUC up to 20 degrees); RoMa's
ScanNet script appends each pair's last run once more (6 errors per pair), we keep the 5 runs;
RoMa's ScanNet script scales K by the evaluation scale without the half-pixel term that our
rescaling keeps (a shift of the principal point by ``0.5 (1 - s)`` px, about 0.25 px at the
1296x968 -> 480 px scale); RoMa draws its matches and shuffles them unseeded.
"""

from __future__ import annotations

import builtins
import dataclasses
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.geometry import relative_pose
from core.imageio import IMAGE_EXTENSIONS, LoadedImage, load_image
from core.sequence import kitti

HOMOGRAPHY, POSE, FLOW = "homography", "pose", "flow"
PAIRS_FILE = "pairs_with_gt.txt"
FLO_MAGIC = 202021.25
FLO_UNKNOWN = 1e9
SUPERGLUE_FIELDS = 38
SCENE_INFO_KEYS = frozenset({"image_paths", "intrinsics", "poses", "pair_infos"})
SCANNET_KEYS = frozenset({"name", "rel_pose"})
MEGADEPTH_1500_SCENES = (
    "0015_0.1_0.3.npz",
    "0015_0.3_0.5.npz",
    "0022_0.1_0.3.npz",
    "0022_0.3_0.5.npz",
    "0022_0.5_0.7.npz",
)
"""The scene files of MegaDepth-1500, in the order RoMa reads them."""
MEGADEPTH_1500_FOLDER = "megadepth_test_1500_scene_info"
NESTED_IMAGE_ROOTS = ("data/megadepth", "data/megadepth/test", "data/scannet", "data/scannet/test")
"""Below a base folder, where LoFTR's checkout keeps the images of MegaDepth-1500 and
ScanNet-1500 (one level below is always searched)."""
SCANNET_NPZ_SIZE_HW = (480, 640)
"""The image size LoFTR's ScanNet ``intrinsics.npz`` is for."""
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
LAYOUTS = (
    "superglue-pairs",
    "kitti-odometry",
    "oxford-affine",
    "hpatches",
    "middlebury-flow",
    "megadepth-1500",
    "scannet-1500",
)


@dataclass(frozen=True)
class PoseProtocol:
    """How relative poses are estimated and scored on a dataset.

    threshold_px: RANSAC inlier threshold in pixels at the evaluation scale.
    prob: RANSAC confidence.
    runs: RANSAC runs per pair (seeds 0..runs-1); every run's error enters the AUC.
    eval_side: ``("longer" | "shorter", px)``: before estimation, the matches and K of each
        image are rescaled as if that side of the image were ``px`` long (RoMa's protocol);
        None: the images' own pixels.
    max_matches: a pair's matches are cut to a random subset (seed 0) of at most this many,
        drawn once; every run uses that subset (runs after the first in another order); None:
        all.
    focal: the focal length that turns ``threshold_px`` into normalised coordinates:
        ``"fx"``, the mean of both images' ``fx`` (``../shared/data/README.md``), or
        ``"fxfy"``, the mean of both images' ``fx`` and ``fy`` (RoMa).
    """

    threshold_px: float = 1.0
    prob: float = 0.999
    runs: int = 1
    eval_side: tuple[str, int] | None = None
    max_matches: int | None = None
    focal: str = "fx"


SUPERGLUE_PROTOCOL = PoseProtocol()
"""``../shared/data/README.md``'s protocol: 1 px / mean fx at the stored size, prob 0.999, one
run."""
MEGADEPTH_PROTOCOL = PoseProtocol(0.5, 0.99999, 5, ("longer", 1200), 5000, "fxfy")
"""RoMa's MegaDepth-1500: longer side 1200 px, 0.5 px / mean(fx, fy), prob 0.99999, 5000
matches, 5 runs."""
SCANNET_PROTOCOL = PoseProtocol(0.5, 0.99999, 5, ("shorter", 480), 5000, "fxfy")
"""RoMa's ScanNet-1500: shorter side 480 px, 0.5 px / mean(fx, fy), prob 0.99999, 5000 matches,
5 runs."""


@dataclass(frozen=True, eq=False)
class Pair:
    """Two images and the ground truth relating them.

    name_a, name_b: the images' names as the dataset lists them (for reports).
    homography: (3, 3) A pixel -> B pixel (kind homography).
    K_a, K_b: (3, 3) intrinsics of the images as matched; T_ab: (4, 4) camera-A coordinates ->
        camera-B coordinates, translation in the dataset's units (kind pose).
    flow_path: a Middlebury ``.flo`` file with the A -> B flow (kind flow).
    rot_a, rot_b: quarter turns (``np.rot90``) applied to the images before matching.
    """

    path_a: Path
    path_b: Path
    name_a: str
    name_b: str
    sequence: str = ""
    homography: np.ndarray | None = None
    K_a: np.ndarray | None = None
    K_b: np.ndarray | None = None
    T_ab: np.ndarray | None = None
    flow_path: Path | None = None
    rot_a: int = 0
    rot_b: int = 0


@dataclass
class Dataset:
    """The pairs of one benchmark dataset; ``sequences`` when it is a folder of sequences."""

    name: str
    root: Path
    layout: str
    kind: str
    pairs: list[Pair]
    sequences: bool = False
    protocol: PoseProtocol | None = None


# ---------------------------------------------------------------------------------------------
# Reading files


def read_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A whitespace-separated matrix of ``shape`` from a text file, float64."""
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a matrix of numbers ({exc.__class__.__name__})") from None
    if values.size != shape[0] * shape[1]:
        raise InputError(path, f"expected {shape[0]}x{shape[1]} numbers, found {values.size}")
    return values.reshape(shape)


def read_flo(path: str | Path) -> np.ndarray:
    """A Middlebury ``.flo`` file as (H, W, 2) float32 ``(u, v)`` with NaN where unknown.

    Format: float32 magic 202021.25, int32 width, int32 height, then H*W*2 float32 (u, v
    interleaved, row-major, little-endian); values above 1e9 mark unknown flow.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None
    if len(data) < 12 or np.frombuffer(data, "<f4", 1)[0] != np.float32(FLO_MAGIC):
        raise InputError(path, f"not a Middlebury .flo file (no magic {FLO_MAGIC})")
    width, height = (int(v) for v in np.frombuffer(data, "<i4", 2, offset=4))
    if width <= 0 or height <= 0 or len(data) != 12 + 8 * width * height:
        raise InputError(path, f"a {width}x{height} .flo needs {12 + 8 * width * height} bytes")
    flow = np.frombuffer(data, "<f4", offset=12).reshape(height, width, 2).astype(np.float32)
    unknown = ~np.isfinite(flow).all(axis=-1) | (np.abs(flow) > FLO_UNKNOWN).any(axis=-1)
    flow[unknown] = np.nan
    return flow


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write (H, W, 2) flow as a ``.flo`` file; NaN becomes the unknown value 1e10."""
    flow = np.nan_to_num(np.asarray(flow, np.float32), nan=1e10)
    height, width = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    Path(path).write_bytes(header + flow.astype("<f4").tobytes())


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays, dtypes and scalars and plain containers; refuses all else."""

    def find_class(self, module: str, name: str):
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


class _Refused(pickle.UnpicklingError):
    """A global the unpickler does not admit; its message is ``module.name``."""


class _RefusedFile(InputError):
    """A file that pickles something :class:`_NumpyOnlyUnpickler` does not admit."""


def _numpy_globals() -> dict[tuple[str, str], object]:
    """``(module, name) -> object`` of every global a numpy pickle may name, both spellings."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        # pickle protocol 5 writes arrays as a buffer and this (frombuffer + reshape)
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    for container in ("list", "tuple", "dict", "set", "frozenset", "bytearray"):
        allowed[("builtins", container)] = getattr(builtins, container)
    return allowed


_ALLOWED_GLOBALS = _numpy_globals()


def _file_format(path: Path) -> str | None:
    """``"zip"`` (an ``.npz``), ``"npy"`` (one array) or ``"pickle"`` (anything else, as
    ``numpy.load`` decides); None when the file cannot be read."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(NPY_MAGIC))
    except OSError:
        return None
    if head.startswith(ZIP_MAGICS):
        return "zip"
    return "npy" if head == NPY_MAGIC else "pickle"


def npz_keys(path: Path) -> set[str]:
    """The array names in an ``.npz`` file, read from its zip directory (nothing is loaded).

    A pickled dict (LoFTR's MegaDepth scene info) has no directory: it is loaded with
    :func:`safe_load_npz` and its keys returned. A file that pickles something not admitted
    raises :class:`InputError` ("refused: ..."); any other file that is not named arrays has no
    names (an empty set).
    """
    form = _file_format(path)
    if form == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile):
            return set()
        return {name[: -len(".npy")] for name in names if name.endswith(".npy")}
    if form is None:
        return set()
    try:
        return set(safe_load_npz(path))
    except _RefusedFile:
        raise
    except InputError:
        return set()


def _npy_dtype(handle, member: str, path: Path) -> np.dtype:
    """The dtype in a ``.npy`` header; ``handle`` is left at the start of the data."""
    fmt = np.lib.format
    version = fmt.read_magic(handle)
    if version == (1, 0):
        return fmt.read_array_header_1_0(handle)[2]
    if version == (2, 0):
        return fmt.read_array_header_2_0(handle)[2]
    raise InputError(path, f"{member}: unsupported .npy version {version}")


def _restricted_load(handle, what: str, path: Path):
    """The object pickled in ``handle``, by :class:`_NumpyOnlyUnpickler`; ``what`` names it
    in the refusal."""
    try:
        return _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    except _Refused as refused:
        reason = f"refused: {what} pickles {refused}; nothing in it was run"
        raise _RefusedFile(path, reason) from None


def _read_npy(opener, member: str, path: Path) -> np.ndarray:
    """The array of one ``.npy`` (``opener()`` gives a fresh binary handle on it)."""
    with opener() as handle:
        dtype = _npy_dtype(handle, member, path)
        if dtype.hasobject:
            array = _restricted_load(handle, member, path)
    if not dtype.hasobject:
        with opener() as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise InputError(path, f"{member} holds a {type(array).__name__}, not an array")
    return array


def _named_arrays(loaded, path: Path) -> dict:
    """``loaded`` (what a pickle or a ``.npy`` held) when it is a dict with string keys (a 0-d
    object array holding one, as ``np.save`` writes a dict, is unwrapped)."""
    if isinstance(loaded, np.ndarray) and loaded.dtype.hasobject and loaded.shape == ():
        loaded = loaded.item()
    if not isinstance(loaded, dict) or not all(isinstance(key, str) for key in loaded):
        if isinstance(loaded, np.ndarray):
            what = f"one {loaded.dtype} array of shape {loaded.shape}"
        else:
            what = f"a {type(loaded).__name__}"
        raise InputError(
            path, f"holds {what}, not named arrays (an .npz archive or a pickled dict of arrays)"
        )
    return loaded


def _load_single(path: Path, form: str) -> dict:
    """A ``.npy`` or pickle file that holds a dict of arrays (LoFTR's MegaDepth scene info)."""
    if form == "npy":
        loaded = _read_npy(lambda: path.open("rb"), path.name, path)
    else:
        with path.open("rb") as handle:
            loaded = _restricted_load(handle, "it", path)
    return _named_arrays(loaded, path)


def safe_load_npz(path: str | Path) -> dict:
    """Every array of an ``.npz`` file, object arrays included, without running its code.

    Also reads a file that ``numpy.load(allow_pickle=True)`` would unpickle as a whole, when it
    holds a dict with string keys (LoFTR's MegaDepth scene info: a pickled dict of object arrays
    and a list): its values are returned as they are (arrays, lists). A ``.npy`` of one array is
    refused (unless the array holds such a dict, as ``np.save`` writes one).

    Pickled objects are read by an unpickler that admits only ``numpy.ndarray``,
    ``numpy.dtype``, ``numpy[._]core.multiarray._reconstruct`` and ``.scalar``,
    ``numpy[._]core.numeric._frombuffer`` and the ``builtins`` containers (list, tuple, dict,
    set, frozenset, bytearray); any other global raises :class:`InputError` ("refused: ...")
    before anything in the file is called.
    """
    path = Path(path)
    form = _file_format(path)
    if form is None:
        raise InputError(path, "cannot read the file")
    try:
        if form != "zip":
            return _load_single(path, form)
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.endswith(".npy")]
            return {
                name[: -len(".npy")]: _read_npy(lambda n=name: archive.open(n), name, path)
                for name in members
            }
    except InputError:
        raise
    except Exception as exc:  # whatever a broken archive or pickle raises, the admitted calls too
        reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        raise InputError(path, f"not a readable .npz file ({' '.join(reason.split())})") from None


# ---------------------------------------------------------------------------------------------
# Rotated views (SuperGlue's rot0 / rot1)


def rotate_view(
    K: np.ndarray, size_hw: tuple[int, int], quarter_turns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics of an image turned by ``np.rot90(image, quarter_turns)`` (counter-clockwise).

    ``K``: (3, 3) of the unturned image of ``size_hw`` = (H, W). Returns ``(K', R)`` with the
    turned image's (3, 3) intrinsics and the (3, 3) rotation taking camera coordinates to the
    turned camera's: pixels map by ``M`` (turned = M @ original) and ``M K = K' R``.
    """
    height, width = size_hw
    M = np.eye(3)
    for _ in range(quarter_turns % 4):  # one turn: (x, y) -> (y, W - 1 - x)
        M = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width - 1.0], [0.0, 0.0, 1.0]]) @ M
        height, width = width, height
    R = np.eye(3)
    R[:2, :2] = M[:2, :2]
    return M @ np.asarray(K, np.float64) @ R.T, R


def load_pair_images(pair: Pair) -> tuple[LoadedImage, LoadedImage]:
    """The pair's two images as matched (turned by ``rot_a`` / ``rot_b``)."""
    image_a, image_b = load_image(pair.path_a), load_image(pair.path_b)
    return _turned(image_a, pair.rot_a), _turned(image_b, pair.rot_b)


def _turned(image: LoadedImage, quarter_turns: int) -> LoadedImage:
    if quarter_turns % 4 == 0:
        return image
    rgb = np.ascontiguousarray(np.rot90(image.rgb, quarter_turns))
    return dataclasses.replace(image, rgb=rgb)


# ---------------------------------------------------------------------------------------------
# Layouts


def _find_image(folder: Path, stem: str) -> Path | None:
    """The image ``stem.<image extension>`` in ``folder`` (extension case-insensitive)."""
    for path in sorted(folder.glob(f"{stem}.*")):
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            return path
    return None


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _homography_pairs(
    folder: Path, root: Path, sequence: str, image_stem: str, h_name: str
) -> list[Pair]:
    """Image 1 against images 2..6 with ``h_name.format(n)`` homographies."""
    first = _find_image(folder, image_stem.format(1))
    pairs = []
    for index in range(2, 7):
        other, h_path = _find_image(folder, image_stem.format(index)), folder / h_name.format(index)
        if first is None or other is None or not h_path.is_file():
            continue
        pairs.append(
            Pair(
                first,
                other,
                _relative_name(first, root),
                _relative_name(other, root),
                sequence,
                homography=read_matrix(h_path, (3, 3)),
            )
        )
    return pairs


def oxford_pairs(folder: Path, root: Path, sequence: str = "") -> list[Pair]:
    """Oxford affine: ``img1`` against ``img2..img6`` with ``H1to{n}p``."""
    return _homography_pairs(folder, root, sequence, "img{}", "H1to{}p")


def hpatches_pairs(folder: Path, root: Path, sequence: str = "") -> list[Pair]:
    """HPatches: ``1`` against ``2..6`` with ``H_1_{n}``."""
    return _homography_pairs(folder, root, sequence, "{}", "H_1_{}")


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, UnidentifiedImageError):
        raise InputError(path, "not a readable image") from None


def _superglue_pair(fields: list[str], folder: Path, root: Path, sequence: str) -> Pair:
    numbers = np.array(fields[2:SUPERGLUE_FIELDS], dtype=np.float64)
    rot_a, rot_b = int(numbers[0]), int(numbers[1])
    K_a, K_b = numbers[2:11].reshape(3, 3), numbers[11:20].reshape(3, 3)
    T_ab = numbers[20:36].reshape(4, 4)
    path_a, path_b = folder / fields[0], folder / fields[1]
    for path in (path_a, path_b):
        if not path.is_file():
            raise InputError(path, "listed in the pairs file but not found")
    if rot_a % 4 or rot_b % 4:
        K_a, R_a = rotate_view(K_a, _image_size(path_a), rot_a)
        K_b, R_b = rotate_view(K_b, _image_size(path_b), rot_b)
        turn_a, turn_b = np.eye(4), np.eye(4)
        turn_a[:3, :3], turn_b[:3, :3] = R_a, R_b
        T_ab = turn_b @ T_ab @ turn_a.T
    return Pair(
        path_a,
        path_b,
        _relative_name(path_a, root),
        _relative_name(path_b, root),
        sequence,
        K_a=K_a,
        K_b=K_b,
        T_ab=T_ab,
        rot_a=rot_a % 4,
        rot_b=rot_b % 4,
    )


def superglue_pairs(path: Path, root: Path, sequence: str = "") -> list[Pair]:
    """The pairs of a SuperGlue ``pairs_with_gt.txt`` (names relative to its folder)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the pairs file ({exc.__class__.__name__})") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < SUPERGLUE_FIELDS:
            raise InputError(
                path,
                f"line {number} has {len(fields)} fields, expected {SUPERGLUE_FIELDS}: name0 "
                "name1 rot0 rot1 K0[9] K1[9] T_0to1[16]",
            )
        try:
            pairs.append(_superglue_pair(fields, path.parent, root, sequence))
        except ValueError:
            raise InputError(path, f"line {number}: not a number where one is expected") from None
    return pairs


def kitti_pairs(folder: Path, root: Path, sequence: str = "") -> list[Pair]:
    """Consecutive frames of ``image_0``: K from ``calib.txt``'s ``P0``, the relative pose from
    ``poses.txt`` (camera-to-world 3x4 per frame): ``T_ab = T_wb^-1 T_wa`` (parsing:
    :mod:`core.sequence.kitti`)."""
    P0 = kitti.camera_matrix(
        kitti.read_calib(folder / "calib.txt"), "image_0", folder / "calib.txt"
    )
    poses = kitti.read_poses(folder / "poses.txt")
    K = np.ascontiguousarray(P0[:, :3])
    frames = kitti.camera_frames(folder / "image_0")
    pairs = []
    for index in frames:
        if index + 1 not in frames or index + 1 >= len(poses):
            continue
        pairs.append(
            Pair(
                frames[index],
                frames[index + 1],
                _relative_name(frames[index], root),
                _relative_name(frames[index + 1], root),
                sequence,
                K_a=K,
                K_b=K,
                T_ab=relative_pose(poses[index], poses[index + 1]),
            )
        )
    return pairs


def _flow_frames(flo: Path) -> tuple[Path | None, Path | None]:
    """The two frames of ``NAME.flo``: ``NAME1``/``NAME2``, or ``frameN``/``frameN+1`` for
    ``flowN.flo``."""
    first, second = _find_image(flo.parent, f"{flo.stem}1"), _find_image(flo.parent, f"{flo.stem}2")
    numbered = re.fullmatch(r"flow(\d+)", flo.stem)
    if (first is None or second is None) and numbered:
        index = int(numbered.group(1))
        first = _find_image(flo.parent, f"frame{numbered.group(1)}")
        second = _find_image(flo.parent, f"frame{index + 1:0{len(numbered.group(1))}d}")
    return first, second


def middlebury_pairs(folder: Path, root: Path, sequence: str = "") -> list[Pair]:
    """Every ``.flo`` in ``folder`` with its two frames."""
    pairs = []
    for flo in sorted(folder.glob("*.flo")):
        first, second = _flow_frames(flo)
        if first is None or second is None:
            raise InputError(flo, f"found no frames {flo.stem}1.*, {flo.stem}2.* beside it")
        pairs.append(
            Pair(
                first,
                second,
                _relative_name(first, root),
                _relative_name(second, root),
                sequence,
                flow_path=flo,
            )
        )
    return pairs


def _is_superglue(folder: Path) -> bool:
    return (folder / PAIRS_FILE).is_file()


def _is_oxford(folder: Path) -> bool:
    return _find_image(folder, "img1") is not None and (folder / "H1to2p").is_file()


def _is_hpatches(folder: Path) -> bool:
    return _find_image(folder, "1") is not None and (folder / "H_1_2").is_file()


def _is_middlebury(folder: Path) -> bool:
    return any(folder.glob("*.flo"))


# the single-sequence layouts, in the order they are tried: (layout, kind, test, reader)
_SEQUENCE_LAYOUTS = (
    ("superglue-pairs", POSE, _is_superglue, lambda f, r, s: superglue_pairs(f / PAIRS_FILE, r, s)),
    ("kitti-odometry", POSE, kitti.is_kitti, kitti_pairs),
    ("oxford-affine", HOMOGRAPHY, _is_oxford, oxford_pairs),
    ("hpatches", HOMOGRAPHY, _is_hpatches, hpatches_pairs),
    ("middlebury-flow", FLOW, _is_middlebury, middlebury_pairs),
)


def _sequence_layout(folder: Path):
    for layout in _SEQUENCE_LAYOUTS:
        if layout[2](folder):
            return layout
    return None


# ---------------------------------------------------------------------------------------------
# MegaDepth-1500 and ScanNet-1500 (.npz)


def _resolve(relative: str, roots: list[Path], npz: Path) -> Path:
    """``relative`` under the first of ``roots`` that has it; that root moves to the front,
    so the next image is looked for there first."""
    for index, base in enumerate(roots):
        candidate = base / relative
        if candidate.is_file():
            roots.insert(0, roots.pop(index))
            return candidate
    raise InputError(npz, f"image {relative} not found under {roots[0]} or beside it")


def _image_roots(root: Path, npz: Path) -> list[Path]:
    """Where the images named in ``npz`` may lie: the dataset's folder, the ``.npz``'s folder
    and its two parents, the subfolders of each (``test/``, ``megadepth_test_1500/``), and
    their :data:`NESTED_IMAGE_ROOTS` (LoFTR's ``data/megadepth/test``). RoMa keeps the
    images beside the scene files (``data/megadepth/Undistorted_SfM``), so the ``.npz``'s
    folder covers it."""
    bases = [root, *list(npz.parents)[:3]]
    found = []
    for base in bases:
        if base.is_dir():
            found += [base, *sorted(path for path in base.iterdir() if path.is_dir())]
            found += [base / sub for sub in NESTED_IMAGE_ROOTS if (base / sub).is_dir()]
    return list(dict.fromkeys(found))


def _pair_indices(info) -> tuple[int, int]:
    """``(i, j)`` of a ``pair_infos`` entry: ``((i, j), overlap, ...)`` or ``(i, j)``."""
    entry = info[0] if np.ndim(info[0]) == 1 else info
    first, second = np.asarray(entry).ravel()[:2]
    return int(first), int(second)


def colmap_to_opencv_K(K) -> np.ndarray:
    """A (3, 3) K of COLMAP's pixel convention (MegaDepth's: the image's corner at (0, 0), so
    the top-left pixel's centre at (0.5, 0.5)) in OpenCV's (that centre at (0, 0)), the one our
    matches use: the principal point moves half a pixel up and left."""
    K = np.array(K, np.float64).reshape(3, 3)
    K[:2, 2] -= 0.5 * K[2, 2]
    return K


def scene_info_pairs(npz: Path, root: Path) -> list[Pair]:
    """MegaDepth-1500 scene-info pairs: ``T_ab = T_b T_a^-1`` of world-to-camera poses; K in
    OpenCV's pixel convention (:func:`colmap_to_opencv_K`)."""
    info = safe_load_npz(npz)
    missing = SCENE_INFO_KEYS - set(info)
    if missing:
        raise InputError(npz, f"scene info without {', '.join(sorted(missing))}")
    roots, sequence = _image_roots(root, npz), npz.stem
    pairs = []
    for entry in info["pair_infos"]:
        try:
            i, j = _pair_indices(entry)
            names = str(info["image_paths"][i]), str(info["image_paths"][j])
            # COLMAP's K (RoMa scales it with corner-origin matches); ours are pixel-centred
            K_a, K_b = (colmap_to_opencv_K(info["intrinsics"][k]) for k in (i, j))
            T_a, T_b = (np.asarray(info["poses"][k], np.float64).reshape(4, 4) for k in (i, j))
        except (IndexError, TypeError, ValueError) as exc:
            raise InputError(npz, f"malformed scene info ({exc})") from None
        path_a, path_b = (_resolve(name, roots, npz) for name in names)
        T_ab = T_b @ np.linalg.inv(T_a)
        pairs.append(Pair(path_a, path_b, *names, sequence, K_a=K_a, K_b=K_b, T_ab=T_ab))
    return pairs


class _ScanNetIntrinsics:
    """K of ScanNet colour images as stored: the scene's ``intrinsic/intrinsic_color.txt``
    (RoMa's, for the stored images), else LoFTR's ``intrinsics.npz`` beside ``test.npz`` (for
    640x480 images) scaled to each image's own size."""

    def __init__(self, npz: Path):
        self.npz = npz
        self.table_path = npz.parent / "intrinsics.npz"
        self.table: dict | None = None
        self.texts: dict[Path, np.ndarray] = {}

    def __call__(self, image: Path, scene: str) -> np.ndarray:
        text = image.parent.parent / "intrinsic" / "intrinsic_color.txt"
        if text not in self.texts and text.is_file():
            self.texts[text] = np.ascontiguousarray(read_matrix(text, (4, 4))[:3, :3])
        if text in self.texts:
            return self.texts[text].copy()
        if self.table is None:
            self.table = safe_load_npz(self.table_path) if self.table_path.is_file() else {}
        if scene not in self.table:
            raise InputError(
                self.npz, f"no intrinsics for {scene} (neither {text} nor {self.table_path})"
            )
        K = np.array(self.table[scene], np.float64).reshape(3, 3)
        height, width = _image_size(image)
        K[0] *= width / SCANNET_NPZ_SIZE_HW[1]
        K[1] *= height / SCANNET_NPZ_SIZE_HW[0]
        return K


def scannet_pairs(npz: Path, root: Path) -> list[Pair]:
    """ScanNet-1500 ``test.npz`` pairs with their ``rel_pose`` (camera 0 -> camera 1); each
    image's K from :class:`_ScanNetIntrinsics`."""
    data = safe_load_npz(npz)
    names, poses = np.asarray(data["name"]), np.asarray(data["rel_pose"], np.float64)
    if names.ndim != 2 or names.shape[1] < 4 or poses.reshape(len(poses), -1).shape[1] != 12:
        raise InputError(npz, "expected name (N, 4) and rel_pose (N, 12)")
    bases, intrinsics = _image_roots(root, npz), _ScanNetIntrinsics(npz)
    pairs = []
    for row, pose in zip(names, poses.reshape(-1, 3, 4), strict=True):
        scene = f"scene{int(row[0]):04d}_{int(row[1]):02d}"
        name_a, name_b = (f"{scene}/color/{int(frame)}.jpg" for frame in row[2:4])
        path_a, path_b = _resolve(name_a, bases, npz), _resolve(name_b, bases, npz)
        K_a, K_b = intrinsics(path_a, scene), intrinsics(path_b, scene)
        T_ab = np.eye(4)
        T_ab[:3] = pose
        pairs.append(Pair(path_a, path_b, name_a, name_b, scene, K_a=K_a, K_b=K_b, T_ab=T_ab))
    return pairs


def _megadepth_1500_files(folder: Path) -> list[Path] | None:
    """The five :data:`MEGADEPTH_1500_SCENES` in RoMa's order, where one folder holds them all:
    ``folder``, its ``megadepth_test_1500_scene_info/`` or such a folder one level below (LoFTR's
    ``assets/``); None when there is no such folder."""
    candidates = [folder, folder / MEGADEPTH_1500_FOLDER]
    candidates += sorted(folder.glob(f"*/{MEGADEPTH_1500_FOLDER}"))
    for base in candidates:
        files = [base / name for name in MEGADEPTH_1500_SCENES]
        if all(path.is_file() for path in files):
            return files
    return None


def _npz_files(folder: Path) -> list[Path]:
    """MegaDepth-1500's five scene files where a folder holds them all
    (:func:`_megadepth_1500_files`); else the ``.npz`` files in ``folder``, or if none, one level
    below it, or if none, two levels below."""
    five = _megadepth_1500_files(folder)
    if five is not None:
        return five
    for pattern in ("*.npz", "*/*.npz", "*/*/*.npz"):
        found = sorted(folder.glob(pattern))
        if found:
            return found
    return []


def _npz_dataset(path: Path, root: Path) -> Dataset | None:
    files = [path] if path.is_file() else _npz_files(path)
    keys = {npz: npz_keys(npz) for npz in files}  # a pickled dict is loaded to know its keys
    scenes = [npz for npz in files if SCENE_INFO_KEYS <= keys[npz]]
    if scenes:
        pairs = [pair for npz in scenes for pair in scene_info_pairs(npz, root)]
        return Dataset(
            _dataset_name(path), root, "megadepth-1500", POSE, pairs, True, MEGADEPTH_PROTOCOL
        )
    tests = [npz for npz in files if SCANNET_KEYS <= keys[npz]]
    if tests:
        pairs = [pair for npz in tests for pair in scannet_pairs(npz, root)]
        return Dataset(
            _dataset_name(path), root, "scannet-1500", POSE, pairs, True, SCANNET_PROTOCOL
        )
    return None


# ---------------------------------------------------------------------------------------------
# Detection


def _dataset_name(path: Path) -> str:
    return path.stem if path.is_file() else path.resolve().name


def _from_file(path: Path) -> Dataset:
    if path.suffix == ".npz":
        dataset = _npz_dataset(path, path.parent)
        if dataset is not None:
            return dataset
        safe_load_npz(path)  # says why, when the file is no named arrays at all
        raise InputError(path, "an .npz without scene info (image_paths, ...) or name/rel_pose")
    folder = path.parent
    pairs = superglue_pairs(path, folder)
    return Dataset(
        _dataset_name(folder), folder, "superglue-pairs", POSE, pairs, protocol=SUPERGLUE_PROTOCOL
    )


def _protocol(kind: str) -> PoseProtocol | None:
    return SUPERGLUE_PROTOCOL if kind == POSE else None


def _from_folder(folder: Path) -> Dataset | None:
    layout = _sequence_layout(folder)
    if layout is not None:
        name, kind, _, reader = layout
        pairs = reader(folder, folder, "")
        return Dataset(_dataset_name(folder), folder, name, kind, pairs, False, _protocol(kind))
    subfolders = sorted(path for path in folder.iterdir() if path.is_dir())
    found = [(sub, _sequence_layout(sub)) for sub in subfolders]
    found = [(sub, layout) for sub, layout in found if layout is not None]
    if found:
        names = {layout[0] for _, layout in found}
        if len(names) > 1:
            raise InputError(folder, f"mixes dataset layouts: {', '.join(sorted(names))}")
        name, kind, _, reader = found[0][1]
        pairs = [pair for sub, _ in found for pair in reader(sub, folder, sub.name)]
        return Dataset(_dataset_name(folder), folder, name, kind, pairs, True, _protocol(kind))
    return _npz_dataset(folder, folder)


def open_dataset(path: str | Path) -> Dataset:
    """The dataset at ``path`` (a folder, a SuperGlue pairs file or a scene-info ``.npz``).

    Raises :class:`InputError` in one line when the layout is unknown or a file is missing or
    malformed.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    dataset = _from_file(path) if path.is_file() else _from_folder(path)
    if dataset is None:
        raise InputError(
            path,
            "unknown dataset layout: expected pairs_with_gt.txt, a KITTI odometry sequence, "
            "Oxford affine (img1.., H1to2p..) or HPatches (1.., H_1_2..) folders, Middlebury "
            ".flo files, or MegaDepth/ScanNet-1500 .npz files",
        )
    if not dataset.pairs:
        raise InputError(path, f"{dataset.layout} layout but no complete pair in it")
    return dataset
