"""Small datasets written in each layout the benchmark reads, for the tests (all made here)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from core.bench.datasets import write_flo
from core.imageio import save_image
from core.synthetic import homography_pair, random_homography


def homography_sequence(
    folder: Path, texture: np.ndarray, count: int = 3, style: str = "oxford", seed: int = 0
) -> list[np.ndarray]:
    """Image 1 = ``texture`` and ``count - 1`` warped views with their homographies, named as
    Oxford (``img1.png``, ``H1to2p``) or HPatches (``1.ppm``, ``H_1_2``); the (3, 3) Hs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image_name, h_name = ("img{}.png", "H1to{}p") if style == "oxford" else ("{}.ppm", "H_1_{}")
    save_image(folder / image_name.format(1), texture)
    homographies = []
    for index in range(2, count + 1):
        H = random_homography(texture.shape[:2], rng, strength=0.15)
        save_image(folder / image_name.format(index), homography_pair(texture, H))
        np.savetxt(folder / h_name.format(index), H)
        homographies.append(H)
    return homographies


def superglue_line(name_a: str, name_b: str, K_a, K_b, T_ab, rot_a: int = 0, rot_b: int = 0):
    """One line of a SuperGlue ``pairs_with_gt.txt``."""
    numbers = [*np.ravel(K_a), *np.ravel(K_b), *np.ravel(T_ab)]
    return " ".join([name_a, name_b, str(rot_a), str(rot_b), *(f"{v:.12g}" for v in numbers)])


def superglue_folder(folder: Path, views, rotations=((0, 0),)) -> None:
    """``views[0]`` against ``views[1]`` (rendered :class:`SceneView`) once per (rot_a, rot_b)
    in ``rotations``, images in ``images/``."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for index, view in enumerate(views):
        save_image(folder / "images" / f"{index}.png", view.image)
    T_ab = views[1].T_world_to_cam @ np.linalg.inv(views[0].T_world_to_cam)
    lines = [
        superglue_line("images/0.png", "images/1.png", views[0].K, views[1].K, T_ab, *rot)
        for rot in rotations
    ]
    (folder / "pairs_with_gt.txt").write_text("\n".join(lines) + "\n")


def kitti_folder(folder: Path, views) -> None:
    """A KITTI odometry sequence: ``image_0/NNNNNN.png``, ``calib.txt`` (P0 from the first
    view's K), ``poses.txt`` (camera-to-world 3x4 rows)."""
    (folder / "image_0").mkdir(parents=True, exist_ok=True)
    for index, view in enumerate(views):
        save_image(folder / "image_0" / f"{index:06d}.png", view.image)
    P0 = np.hstack([views[0].K, np.zeros((3, 1))])
    (folder / "calib.txt").write_text("P0: " + " ".join(f"{v:.12e}" for v in P0.ravel()) + "\n")
    rows = [np.linalg.inv(view.T_world_to_cam)[:3].ravel() for view in views]
    np.savetxt(folder / "poses.txt", np.array(rows), fmt="%.12e")


def middlebury_folder(folder: Path, image_a, image_b, flow: np.ndarray, name="Scene") -> None:
    """``NAME1.png``, ``NAME2.png`` and ``NAME.flo`` (NaN flow written as unknown)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_image(folder / f"{name}1.png", image_a)
    save_image(folder / f"{name}2.png", image_b)
    write_flo(folder / f"{name}.flo", flow)


def object_array(items) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are (tuples stay tuples)."""
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    return array


def colmap_K(K) -> np.ndarray:
    """A (3, 3) K of OpenCV's pixel convention (the top-left pixel's centre at (0, 0)) as
    COLMAP, and so MegaDepth, writes it (that centre at (0.5, 0.5))."""
    K = np.array(K, np.float64)
    K[:2, 2] += 0.5
    return K


def scene_info_npz(path: Path, image_paths, intrinsics, poses, pairs) -> None:
    """A MegaDepth scene-info ``.npz`` archive: object arrays of paths, (3, 3) K (given in
    OpenCV's convention, written as COLMAP's: :func:`colmap_K`), (4, 4) world-to-camera poses
    and ``((i, j), overlap, central_matches)`` pair entries."""
    np.savez(
        path,
        image_paths=object_array(list(image_paths)),
        depth_paths=object_array([None] * len(image_paths)),
        intrinsics=object_array([colmap_K(K) for K in intrinsics]),
        poses=object_array([np.asarray(T, np.float64) for T in poses]),
        pair_infos=object_array([((i, j), 0.5, np.zeros((2, 2))) for i, j in pairs]),
    )


def scene_info_pickle(path: Path, image_paths, intrinsics, poses, pairs, unused: int = 1):
    """A MegaDepth scene-info file as LoFTR ships ``megadepth_test_1500_scene_info/*.npz``: not
    a zip archive but ``pickle.dump`` of a dict. Its values are object arrays with one entry
    per image (``image_paths``, ``depth_paths``, ``intrinsics`` (3, 3) as COLMAP's,
    ``poses`` (4, 4) world -> camera), and ``unused`` more images at the end, in no pair, whose
    entries are all ``None``; ``pair_infos`` is a list of ``(array([i, j]), overlap,
    central_matches (4,))`` tuples. Returns the dict as written."""
    depth_paths = [name.rsplit(".", 1)[0] + ".h5" for name in image_paths]
    info = {
        "image_paths": object_array([*image_paths, *[None] * unused]),
        "depth_paths": object_array([*depth_paths, *[None] * unused]),
        "intrinsics": object_array([*(colmap_K(K) for K in intrinsics), *[None] * unused]),
        "poses": object_array([*(np.asarray(T, np.float64) for T in poses), *[None] * unused]),
        "pair_infos": [
            (np.array([i, j]), overlap(0.1 + 0.1 * index), np.arange(4, dtype=np.float64))
            for index, (i, j) in enumerate(pairs)
            for overlap in [(float, np.float64)[index % 2]]  # plain and numpy floats
        ],
    }
    with open(path, "wb") as handle:
        pickle.dump(info, handle)
    return info


def megadepth_scene(folder: Path, views, writer=None, scene: str = "0015_0.1_0.3") -> None:
    """``views`` (rendered :class:`SceneView`) as ``0.png``, ``1.png``... and one scene-info
    file ``SCENE.npz`` pairing the first two, written by ``writer`` (default
    :func:`scene_info_npz`; :func:`scene_info_pickle` for LoFTR's form)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, view in enumerate(views):
        save_image(folder / f"{index}.png", view.image)
    (writer or scene_info_npz)(
        folder / f"{scene}.npz",
        [f"{index}.png" for index in range(len(views))],
        [view.K for view in views],
        [view.T_world_to_cam for view in views],
        [(0, 1)],
    )


def scannet_folder(
    root: Path, views, frames, scene: str = "scene0707_00", sizes=None, intrinsics="txt", K=None
) -> None:
    """A ScanNet-1500 folder as RoMa reads it: ``test.npz`` (``name``, ``rel_pose`` of
    ``views[0]`` -> ``views[1]``), ``scans_test/SCENE/color/FRAME.jpg`` (each view's image,
    resized to ``sizes[k]`` = (H, W) where given), and the scene's K (default ``views[0].K``,
    written as given): ``intrinsics`` ``"txt"`` writes the scene's
    ``intrinsic/intrinsic_color.txt`` (4x4, RoMa), ``"npz"`` LoFTR's ``intrinsics.npz`` beside
    ``test.npz``, ``"txt+npz"`` both."""
    import cv2

    from core.imageio import save_image

    color = root / "scans_test" / scene / "color"
    color.mkdir(parents=True, exist_ok=True)
    for index, (frame, view) in enumerate(zip(frames, views, strict=True)):
        image = view.image
        if sizes is not None and sizes[index] is not None:
            height, width = sizes[index]
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        save_image(color / f"{frame}.jpg", image)
    T_ab = views[1].T_world_to_cam @ np.linalg.inv(views[0].T_world_to_cam)
    number, sub = (int(part) for part in scene.removeprefix("scene").split("_"))
    np.savez(
        root / "test.npz",
        name=np.array([[number, sub, *frames]]),
        rel_pose=T_ab[:3].reshape(1, 12),
    )
    K = np.asarray(views[0].K if K is None else K, np.float64)
    if "txt" in intrinsics:
        (root / "scans_test" / scene / "intrinsic").mkdir(exist_ok=True)
        K4 = np.eye(4)
        K4[:3, :3] = K
        np.savetxt(root / "scans_test" / scene / "intrinsic" / "intrinsic_color.txt", K4, "%.6f")
    if "npz" in intrinsics:
        np.savez(root / "intrinsics.npz", **{scene: K})


class _Touch:
    """Pickles as a call of ``function(*arguments)``: what a malicious file would run."""

    def __init__(self, function, arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


def malicious_pickle(path: Path, function, arguments) -> None:
    """A scene-info file in LoFTR's plain-pickle form whose ``pair_infos``, once unpickled,
    calls ``function(*arguments)``."""
    info = {
        "image_paths": object_array(["a.png", "b.png"]),
        "intrinsics": object_array([np.eye(3), np.eye(3)]),
        "poses": object_array([np.eye(4), np.eye(4)]),
        "pair_infos": [(np.array([0, 1]), 0.5, _Touch(function, arguments))],
    }
    with open(path, "wb") as handle:
        pickle.dump(info, handle)


def malicious_npz(path: Path, function, arguments) -> None:
    """A scene-info ``.npz`` whose ``pair_infos``, once unpickled, calls
    ``function(*arguments)``."""
    np.savez(
        path,
        image_paths=object_array(["a.png", "b.png"]),
        intrinsics=object_array([np.eye(3), np.eye(3)]),
        poses=object_array([np.eye(4), np.eye(4)]),
        pair_infos=object_array([_Touch(function, arguments)]),
    )
