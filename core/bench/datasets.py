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
                                ``intrinsics``, ``poses`` (world -> camera), ``pair_infos``) found
                                in the folder or up to two levels below, images relative to the
                                folder, the ``.npz``'s folder or its parent, or a subfolder
scannet-1500        pose        LoFTR/RoMa ``test.npz`` (``name`` rows ``[scene, sub, frame0,
                                frame1]``, ``rel_pose`` (N, 12)), images
                                ``[scans_test/]sceneXXXX_YY/color/F.jpg``, K from
                                ``intrinsics.npz`` (one (3, 3) per scene) or the scene's
                                ``intrinsic/intrinsic_color.txt``
==================  ==========  =================================================================

A folder whose subfolders each hold one sequence of the first five layouts is a folder of
sequences (e.g. ``oxford_affine/{bark,...}``, HPatches' ``hpatches-sequences-release``); each
pair keeps its sequence's name for per-sequence metrics. The scenes of the ``.npz`` layouts are
sequences too. Anything else is refused with one line (:class:`InputError`).

SuperGlue's ``rot0``/``rot1`` (quarter turns, as ``np.rot90``) are supported the way SuperGlue
applies them: the image is rotated before matching, and K and ``T_0to1`` are rotated with it
(:func:`rotate_view`), so the ground truth describes the rotated images.

The ``.npz`` files of MegaDepth-1500 hold pickled object arrays. They are read by
:func:`safe_load_npz`, whose unpickler admits only numpy arrays, dtypes and scalars and plain
containers: a file that pickles anything else is refused before any of it runs.
"""

from __future__ import annotations

import builtins
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.imageio import IMAGE_EXTENSIONS, LoadedImage, load_image

HOMOGRAPHY, POSE, FLOW = "homography", "pose", "flow"
PAIRS_FILE = "pairs_with_gt.txt"
FLO_MAGIC = 202021.25
FLO_UNKNOWN = 1e9
SUPERGLUE_FIELDS = 38
SCENE_INFO_KEYS = frozenset({"image_paths", "intrinsics", "poses", "pair_infos"})
SCANNET_KEYS = frozenset({"name", "rel_pose"})
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
    max_matches: each run uses a random (seeded) subset of at most this many matches; None: all.
    """

    threshold_px: float = 1.0
    prob: float = 0.999
    runs: int = 1
    eval_side: tuple[str, int] | None = None
    max_matches: int | None = None


SUPERGLUE_PROTOCOL = PoseProtocol()
"""``../shared/data/README.md``'s protocol: 1 px at the stored size, prob 0.999, one run."""
MEGADEPTH_PROTOCOL = PoseProtocol(0.5, 0.99999, 5, ("longer", 1200), 5000)
"""RoMa's MegaDepth-1500: longer side 1200 px, 0.5 px, prob 0.99999, 5000 matches, 5 runs."""
SCANNET_PROTOCOL = PoseProtocol(0.5, 0.99999, 5, ("shorter", 480), 5000)
"""RoMa's ScanNet-1500: shorter side 480 px, 0.5 px, prob 0.99999, 5000 matches, 5 runs."""


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


def _numpy_globals() -> dict[tuple[str, str], object]:
    """``(module, name) -> object`` of every global a numpy pickle may name, both spellings."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
    for container in ("list", "tuple", "dict", "set", "frozenset", "bytearray"):
        allowed[("builtins", container)] = getattr(builtins, container)
    return allowed


_ALLOWED_GLOBALS = _numpy_globals()


def npz_keys(path: Path) -> set[str]:
    """The array names in an ``.npz`` file, read from its zip directory (nothing is loaded)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return set()
    return {name[: -len(".npy")] for name in names if name.endswith(".npy")}


def _npy_dtype(handle, member: str, path: Path) -> np.dtype:
    """The dtype in a ``.npy`` header; ``handle`` is left at the start of the data."""
    fmt = np.lib.format
    version = fmt.read_magic(handle)
    if version == (1, 0):
        return fmt.read_array_header_1_0(handle)[2]
    if version == (2, 0):
        return fmt.read_array_header_2_0(handle)[2]
    raise InputError(path, f"{member}: unsupported .npy version {version}")


def _read_npy(archive: zipfile.ZipFile, member: str, path: Path) -> np.ndarray:
    with archive.open(member) as handle:
        dtype = _npy_dtype(handle, member, path)
        if dtype.hasobject:
            try:
                array = _NumpyOnlyUnpickler(handle).load()
            except _Refused as refused:
                raise InputError(
                    path, f"refused: {member} pickles {refused}; nothing in it was run"
                ) from None
    if not dtype.hasobject:
        with archive.open(member) as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise InputError(path, f"{member} holds a {type(array).__name__}, not an array")
    return array


def safe_load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, object arrays included, without running its code.

    Object arrays are unpickled by an unpickler that admits only ``numpy.ndarray``,
    ``numpy.dtype``, ``numpy[._]core.multiarray._reconstruct`` and ``.scalar`` and the
    ``builtins`` containers (list, tuple, dict, set, frozenset, bytearray); any other global
    raises :class:`InputError` ("refused: ...") before anything in the file is called.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.endswith(".npy")]
            return {name[: -len(".npy")]: _read_npy(archive, name, path) for name in members}
    except InputError:
        raise
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise InputError(path, f"not a readable .npz file ({exc})") from None


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
    return LoadedImage(rgb, image.path, image.source_mode, image.exif_orientation)


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
    ``poses.txt`` (camera-to-world 3x4 per frame): ``T_ab = T_wb^-1 T_wa``."""
    calib = {}
    for line in (folder / "calib.txt").read_text().splitlines():
        key, _, values = line.partition(":")
        calib[key.strip()] = values
    if "P0" not in calib:
        raise InputError(folder / "calib.txt", "no P0 line")
    try:
        P0 = np.array(calib["P0"].split(), np.float64).reshape(3, 4)
        poses = np.loadtxt(folder / "poses.txt", ndmin=2).reshape(-1, 3, 4)
    except ValueError as exc:
        raise InputError(folder, f"calib.txt or poses.txt is malformed ({exc})") from None
    K = np.ascontiguousarray(P0[:, :3])
    frames = {}
    for path in sorted((folder / "image_0").iterdir()):
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.stem.isdigit():
            frames[int(path.stem)] = path
    pairs = []
    for index in sorted(frames):
        if index + 1 not in frames or index + 1 >= len(poses):
            continue
        T_wa, T_wb = np.eye(4), np.eye(4)
        T_wa[:3], T_wb[:3] = poses[index], poses[index + 1]
        pairs.append(
            Pair(
                frames[index],
                frames[index + 1],
                _relative_name(frames[index], root),
                _relative_name(frames[index + 1], root),
                sequence,
                K_a=K,
                K_b=K,
                T_ab=np.linalg.inv(T_wb) @ T_wa,
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


def _is_kitti(folder: Path) -> bool:
    return all((folder / name).exists() for name in ("image_0", "calib.txt", "poses.txt"))


def _is_oxford(folder: Path) -> bool:
    return _find_image(folder, "img1") is not None and (folder / "H1to2p").is_file()


def _is_hpatches(folder: Path) -> bool:
    return _find_image(folder, "1") is not None and (folder / "H_1_2").is_file()


def _is_middlebury(folder: Path) -> bool:
    return any(folder.glob("*.flo"))


# the single-sequence layouts, in the order they are tried: (layout, kind, test, reader)
_SEQUENCE_LAYOUTS = (
    ("superglue-pairs", POSE, _is_superglue, lambda f, r, s: superglue_pairs(f / PAIRS_FILE, r, s)),
    ("kitti-odometry", POSE, _is_kitti, kitti_pairs),
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
    and its two parents, and the subfolders of each (LoFTR keeps the images in ``test/`` beside
    ``index/``)."""
    bases = [root, *list(npz.parents)[:3]]
    found = []
    for base in bases:
        if base.is_dir():
            found += [base, *sorted(path for path in base.iterdir() if path.is_dir())]
    return list(dict.fromkeys(found))


def _pair_indices(info) -> tuple[int, int]:
    """``(i, j)`` of a ``pair_infos`` entry: ``((i, j), overlap, ...)`` or ``(i, j)``."""
    entry = info[0] if np.ndim(info[0]) == 1 else info
    first, second = np.asarray(entry).ravel()[:2]
    return int(first), int(second)


def scene_info_pairs(npz: Path, root: Path) -> list[Pair]:
    """MegaDepth-1500 scene-info pairs: ``T_ab = T_b T_a^-1`` of world-to-camera poses."""
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
            K_a, K_b = (np.asarray(info["intrinsics"][k], np.float64).reshape(3, 3) for k in (i, j))
            T_a, T_b = (np.asarray(info["poses"][k], np.float64).reshape(4, 4) for k in (i, j))
        except (IndexError, TypeError, ValueError) as exc:
            raise InputError(npz, f"malformed scene info ({exc})") from None
        path_a, path_b = (_resolve(name, roots, npz) for name in names)
        T_ab = T_b @ np.linalg.inv(T_a)
        pairs.append(Pair(path_a, path_b, *names, sequence, K_a=K_a, K_b=K_b, T_ab=T_ab))
    return pairs


def _scannet_intrinsics(npz: Path, scene_dir: Path, scene: str) -> np.ndarray:
    table = npz.parent / "intrinsics.npz"
    if table.is_file():
        intrinsics = safe_load_npz(table)
        if scene in intrinsics:
            return np.asarray(intrinsics[scene], np.float64).reshape(3, 3)
    text = scene_dir / "intrinsic" / "intrinsic_color.txt"
    if text.is_file():
        return np.ascontiguousarray(read_matrix(text, (4, 4))[:3, :3])
    raise InputError(npz, f"no intrinsics for {scene} (intrinsics.npz or {text})")


def scannet_pairs(npz: Path, root: Path) -> list[Pair]:
    """ScanNet-1500 ``test.npz`` pairs with their ``rel_pose`` (camera 0 -> camera 1)."""
    data = safe_load_npz(npz)
    names, poses = np.asarray(data["name"]), np.asarray(data["rel_pose"], np.float64)
    if names.ndim != 2 or names.shape[1] < 4 or poses.reshape(len(poses), -1).shape[1] != 12:
        raise InputError(npz, "expected name (N, 4) and rel_pose (N, 12)")
    bases = _image_roots(root, npz)
    pairs = []
    for row, pose in zip(names, poses.reshape(-1, 3, 4), strict=True):
        scene = f"scene{int(row[0]):04d}_{int(row[1]):02d}"
        name_a, name_b = (f"{scene}/color/{int(frame)}.jpg" for frame in row[2:4])
        path_a, path_b = _resolve(name_a, bases, npz), _resolve(name_b, bases, npz)
        K = _scannet_intrinsics(npz, path_a.parent.parent, scene)
        T_ab = np.eye(4)
        T_ab[:3] = pose
        pairs.append(Pair(path_a, path_b, name_a, name_b, scene, K_a=K, K_b=K, T_ab=T_ab))
    return pairs


def _npz_files(folder: Path) -> list[Path]:
    """``.npz`` files in ``folder`` or up to two levels below it."""
    for pattern in ("*.npz", "*/*.npz", "*/*/*.npz"):
        found = sorted(folder.glob(pattern))
        if found:
            return found
    return []


def _npz_dataset(path: Path, root: Path) -> Dataset | None:
    files = [path] if path.is_file() else _npz_files(path)
    scenes = [npz for npz in files if SCENE_INFO_KEYS <= npz_keys(npz)]
    if scenes:
        pairs = [pair for npz in scenes for pair in scene_info_pairs(npz, root)]
        return Dataset(
            _dataset_name(path), root, "megadepth-1500", POSE, pairs, True, MEGADEPTH_PROTOCOL
        )
    tests = [npz for npz in files if SCANNET_KEYS <= npz_keys(npz)]
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
