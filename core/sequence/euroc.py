"""EuRoC MAV sequences (the ASL layout): ``mav0/cam0/data.csv`` (``timestamp [ns],filename``;
images in ``mav0/cam0/data/``), ``mav0/cam0/sensor.yaml`` (``T_BS``: camera-to-body (4, 4),
``intrinsics: [fu, fv, cu, cv]``, ``resolution: [w, h]``, radial-tangential
``distortion_coefficients: [k1, k2, p1, p2]``) and ``mav0/state_groundtruth_estimate0/data.csv``
(``timestamp [ns], p xyz [m], q wxyz, ...``: the *body*'s body-to-world pose), optional.

A frame's camera-to-world pose is ``T_W_B(t) @ T_BS``, with the body pose interpolated to the
frame's timestamp (positions linearly, rotations by slerp) and never extrapolated: a frame
before the first or after the last ground-truth sample has a NaN pose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from core.errors import InputError
from core.sequence.base import FrameInfo, Intrinsics, SequenceReader
from core.sequence.layouts import ImageFilesReader, nan_poses

DEFAULT_CAMERA = "cam0"
GROUND_TRUTH = Path("mav0/state_groundtruth_estimate0/data.csv")


def is_euroc(folder: str | Path) -> bool:
    """Whether ``folder`` has EuRoC's ``mav0/cam0/data.csv``."""
    return (Path(folder) / "mav0" / DEFAULT_CAMERA / "data.csv").is_file()


def _csv_rows(path: Path, columns: int) -> list[list[str]]:
    """The comma-separated rows of ``path`` (``#`` lines skipped), ``columns`` fields or more."""
    if not path.is_file():
        raise InputError(path, "no such file")
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < columns:
            raise InputError(path, f"line {number}: {len(fields)} values, expected {columns}")
        if not fields[0].isdigit():
            raise InputError(path, f"line {number}: {fields[0]!r} is not a timestamp in ns")
        rows.append(fields)
    return rows


def read_ground_truth(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body's trajectory: timestamps (N,) int64 ns, positions (N, 3) and quaternions (N, 4)
    x, y, z, w (the file's w, x, y, z reordered), sorted by time."""
    rows = _csv_rows(path, 8)
    try:
        values = np.array([[float(v) for v in row[1:8]] for row in rows]).reshape(-1, 7)
    except ValueError:
        raise InputError(path, "not a number where one is expected") from None
    times = np.array([int(row[0]) for row in rows], np.int64)
    if len(np.unique(times)) < 2:
        raise InputError(path, "fewer than two poses")
    times, unique = np.unique(times, return_index=True)
    return times, values[unique, :3], values[unique][:, [4, 5, 6, 3]]


def read_sensor(path: Path) -> tuple[np.ndarray, Intrinsics]:
    """``sensor.yaml``'s ``T_BS`` (4, 4) and the camera's :class:`Intrinsics`."""
    if not path.is_file():
        raise InputError(path, "no such file")
    text = path.read_text(errors="replace")
    if text.startswith("%YAML"):  # OpenCV's YAML 1.0 directive, which PyYAML refuses
        text = text.split("\n", 1)[-1]
    try:
        sensor = yaml.safe_load(text)
        T_BS = np.array(sensor["T_BS"]["data"], np.float64).reshape(4, 4)
        fu, fv, cu, cv = (float(v) for v in sensor["intrinsics"])
        distortion = np.array(sensor.get("distortion_coefficients", [0.0] * 4), np.float64)
        width, height = (int(v) for v in sensor["resolution"])
    except yaml.YAMLError as exc:
        raise InputError(path, f"not YAML ({str(exc).splitlines()[0]})") from None
    except (KeyError, TypeError) as exc:
        raise InputError(path, f"no {exc} entry (T_BS, intrinsics, resolution expected)") from None
    except ValueError:
        raise InputError(
            path, "T_BS.data needs 16 numbers, intrinsics 4 (fu, fv, cu, cv)"
        ) from None
    model = sensor.get("distortion_model", "radial-tangential")
    if model != "radial-tangential":
        raise InputError(path, f"distortion model {model!r}: only radial-tangential is read")
    K = np.array([[fu, 0.0, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]])
    return T_BS, Intrinsics(K, (height, width), distortion, str(path))


def body_poses(times_ns: np.ndarray, truth) -> np.ndarray:
    """(len(times_ns), 4, 4) body-to-world poses at ``times_ns`` interpolated in ``truth``
    (:func:`read_ground_truth`); NaN outside its time range."""
    from scipy.spatial.transform import Rotation, Slerp  # slow to import: when needed

    truth_ns, positions, quaternions = truth
    poses = nan_poses(len(times_ns))
    inside = (times_ns >= truth_ns[0]) & (times_ns <= truth_ns[-1])
    if inside.any():
        # seconds from the first sample: float64 keeps ns exact over days
        t = (times_ns[inside] - truth_ns[0]) * 1e-9
        samples = (truth_ns - truth_ns[0]) * 1e-9
        poses[inside] = np.eye(4)
        poses[inside, :3, :3] = Slerp(samples, Rotation.from_quat(quaternions))(t).as_matrix()
        poses[inside, :3, 3] = np.stack(
            [np.interp(t, samples, positions[:, k]) for k in range(3)], 1
        )
    return poses


class EurocReader(ImageFilesReader):
    """One camera of a EuRoC MAV sequence (see the module's docstring)."""

    def __init__(self, folder: str | Path, camera: str = DEFAULT_CAMERA):
        folder = Path(folder)
        camera_folder = folder / "mav0" / camera
        rows = _csv_rows(camera_folder / "data.csv", 2)
        if not rows:
            raise InputError(camera_folder / "data.csv", "lists no frames")
        times_ns = np.array([int(row[0]) for row in rows], np.int64)
        frames = [
            FrameInfo(
                position, int(row[0]), int(row[0]) * 1e-9, str(camera_folder / "data" / row[1])
            )
            for position, row in enumerate(rows)
        ]
        T_BS, intrinsics = read_sensor(camera_folder / "sensor.yaml")
        poses = None
        if (folder / GROUND_TRUTH).is_file():
            poses = body_poses(times_ns, read_ground_truth(folder / GROUND_TRUTH)) @ T_BS
        super().__init__(folder.name, frames, intrinsics, poses)
        self.camera = camera


def detect(folder: str | Path) -> bool:
    return is_euroc(folder)


def open(folder: str | Path, camera: str | None = None) -> SequenceReader:
    return EurocReader(folder, camera or DEFAULT_CAMERA)
