"""Recognising each dataset layout, reading its ground truth, and refusing what does not fit."""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np
import pytest

from core.bench import datasets
from core.bench.datasets import (
    MEGADEPTH_1500_SCENES,
    MEGADEPTH_PROTOCOL,
    SCANNET_PROTOCOL,
    SUPERGLUE_PROTOCOL,
    open_dataset,
    read_flo,
    rotate_view,
    safe_load_npz,
    write_flo,
)
from core.bench.pairs import score_pose
from core.errors import InputError
from core.imageio import LoadedImage, save_image
from tests.core.bench import layouts


def relative_pose(view_a, view_b) -> np.ndarray:
    return view_b.T_world_to_cam @ np.linalg.inv(view_a.T_world_to_cam)


def exact_matches(view_a, view_b, step: int = 6) -> np.ndarray:
    """(N, 4) true correspondences: a grid of A's pixels lifted with A's depth and projected
    into B (those that land inside B)."""
    height, width = view_a.depth.shape
    ys, xs = np.mgrid[step // 2 : height : step, step // 2 : width : step]
    depth = view_a.depth[ys, xs].astype(np.float64)
    seen = np.isfinite(depth) & (depth > 0)
    pixels = np.stack([xs[seen], ys[seen], np.ones(seen.sum())], axis=-1).astype(np.float64)
    X_a = pixels @ np.linalg.inv(view_a.K).T * depth[seen][:, None]
    T_ab = relative_pose(view_a, view_b)
    X_b = X_a @ T_ab[:3, :3].T + T_ab[:3, 3]
    projected = X_b @ view_b.K.T
    in_b = projected[:, :2] / projected[:, 2:]
    inside = (X_b[:, 2] > 0) & (in_b >= 0).all(axis=1)
    inside &= (in_b[:, 0] <= width - 1) & (in_b[:, 1] <= height - 1)
    return np.hstack([pixels[inside, :2], in_b[inside]])


def megadepth_images(folder, scene_views, scene: str = "0015") -> list[str]:
    """The views' images under ``folder/Undistorted_SfM/SCENE/images``; their ``image_paths``."""
    images = folder / "Undistorted_SfM" / scene / "images"
    images.mkdir(parents=True, exist_ok=True)
    names = []
    for index, view in enumerate(scene_views):
        save_image(images / f"{index}.jpg", view.image)
        names.append(f"Undistorted_SfM/{scene}/images/{index}.jpg")
    return names


def five_scene_files(folder, names, scene_views, writer=layouts.scene_info_pickle) -> None:
    """MegaDepth-1500's five scene files in ``folder``, the n-th with n + 1 pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, scene in enumerate(MEGADEPTH_1500_SCENES):
        writer(
            folder / scene,
            names,
            [view.K for view in scene_views],
            [view.T_world_to_cam for view in scene_views],
            [(0, 1)] * (index + 1),
        )


def test_oxford_sequence_and_folder_of_sequences(tmp_path, texture):
    first = layouts.homography_sequence(tmp_path / "wall", texture, 3, seed=0)
    layouts.homography_sequence(tmp_path / "bark", texture, 2, seed=1)
    single = open_dataset(tmp_path / "wall")
    assert (single.layout, single.kind, single.sequences) == ("oxford-affine", "homography", False)
    assert [(p.name_a, p.name_b) for p in single.pairs] == [
        ("img1.png", "img2.png"),
        ("img1.png", "img3.png"),
    ]
    assert np.allclose(single.pairs[1].homography, first[1])
    folder = open_dataset(tmp_path)
    assert folder.sequences and folder.name == tmp_path.name
    assert [p.sequence for p in folder.pairs] == ["bark", "wall", "wall"]
    assert folder.pairs[0].name_a == "bark/img1.png"


def test_hpatches_sequence(tmp_path, texture):
    truth = layouts.homography_sequence(tmp_path / "v_test", texture, 3, style="hpatches")
    dataset = open_dataset(tmp_path)
    assert dataset.layout == "hpatches" and dataset.sequences
    assert dataset.pairs[0].path_a.name == "1.ppm" and dataset.pairs[1].path_b.name == "3.ppm"
    assert np.allclose(dataset.pairs[1].homography, truth[1])
    assert datasets.load_pair_images(dataset.pairs[0])[1].size_hw == (240, 320)


def test_superglue_pairs_file(tmp_path, scene_views):
    layouts.superglue_folder(tmp_path, scene_views)
    dataset = open_dataset(tmp_path)
    assert (dataset.layout, dataset.kind) == ("superglue-pairs", "pose")
    assert dataset.protocol == SUPERGLUE_PROTOCOL
    (pair,) = dataset.pairs
    assert np.allclose(pair.T_ab, relative_pose(*scene_views))
    assert np.allclose(pair.K_a, scene_views[0].K)
    by_file = open_dataset(tmp_path / "pairs_with_gt.txt")
    assert by_file.name == tmp_path.name and np.allclose(by_file.pairs[0].T_ab, pair.T_ab)


def test_superglue_pairs_file_errors_name_the_line(tmp_path, scene_views):
    layouts.superglue_folder(tmp_path, scene_views)
    pairs_file = tmp_path / "pairs_with_gt.txt"
    good = pairs_file.read_text()
    pairs_file.write_text(good + "images/0.png images/1.png 0 0\n")
    with pytest.raises(InputError, match="line 2 has 4 fields, expected 38"):
        open_dataset(tmp_path)
    pairs_file.write_text(good.replace("images/1.png", "images/missing.png"))
    with pytest.raises(InputError, match=r"missing\.png: listed in the pairs file but not found"):
        open_dataset(tmp_path)


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_rotated_views_keep_the_projection(turns):
    """A point's pixel in the turned image (found with np.rot90 itself) is K' R X."""
    height, width = 6, 9
    K = np.array([[4.0, 0.0, 3.5], [0.0, 5.0, 2.0], [0.0, 0.0, 1.0]])
    X = np.linalg.inv(K) @ np.array([5.0, 3.0, 1.0]) * 2.0  # seen at pixel (x, y) = (5, 3)
    marked = np.zeros((height, width))
    marked[3, 5] = 1.0
    row, col = np.argwhere(np.rot90(marked, turns))[0]
    K_turned, R = rotate_view(K, (height, width), turns)
    projected = K_turned @ R @ X
    assert projected[:2] / projected[2] == pytest.approx([col, row])
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    assert K_turned[0, 1] == 0 and K_turned[1, 0] == 0


def test_a_turned_image_keeps_its_provenance():
    image = LoadedImage(np.zeros((2, 3, 3), np.uint8), "a.png", "I;16", 1, "12-bit data")
    turned = datasets._turned(image, 1)
    assert turned.size_hw == (3, 2)
    assert (turned.path, turned.source_mode, turned.mapping) == ("a.png", "I;16", "12-bit data")


def test_superglue_rotation_turns_the_image_and_its_ground_truth(tmp_path, scene_views):
    layouts.superglue_folder(tmp_path, scene_views, rotations=[(0, 1)])
    (pair,) = open_dataset(tmp_path).pairs
    image_a, image_b = datasets.load_pair_images(pair)
    assert image_a.size_hw == (240, 320) and image_b.size_hw == (320, 240)
    assert pair.rot_b == 1
    # a point of the scene seen by B projects into the turned image where it really is
    view_b = scene_views[1]
    pixel = np.array([200.0, 100.0])
    X_b = np.linalg.inv(view_b.K) @ np.r_[pixel, 1.0] * view_b.depth[100, 200]
    X_a = np.linalg.inv(relative_pose(*scene_views)) @ np.r_[X_b, 1.0]
    turned = pair.K_b @ (pair.T_ab @ X_a)[:3]
    row, col = np.round(turned[1::-1] / turned[2]).astype(int)
    assert np.array_equal(image_b.rgb[row, col], view_b.image[100, 200])


def test_kitti_sequence_gives_consecutive_pairs(tmp_path, scene_views):
    view_a, view_b = scene_views
    layouts.kitti_folder(tmp_path / "06", [view_a, view_b, view_a])
    dataset = open_dataset(tmp_path / "06")
    assert (dataset.layout, dataset.kind, len(dataset.pairs)) == ("kitti-odometry", "pose", 2)
    first, second = dataset.pairs
    assert (first.name_a, first.name_b) == ("image_0/000000.png", "image_0/000001.png")
    assert np.allclose(first.T_ab, relative_pose(view_a, view_b), atol=1e-9)
    assert np.allclose(second.T_ab, np.linalg.inv(first.T_ab), atol=1e-9)
    assert np.allclose(first.K_a, view_a.K) and first.K_a.flags.c_contiguous
    # with a pairs file, the file defines the pairs
    layouts.superglue_folder(tmp_path / "06", scene_views)
    assert open_dataset(tmp_path / "06").layout == "superglue-pairs"


def test_middlebury_flow(tmp_path, scene_views, scene_flow):
    layouts.middlebury_folder(tmp_path, scene_views[0].image, scene_views[1].image, scene_flow)
    dataset = open_dataset(tmp_path)
    assert (dataset.layout, dataset.kind) == ("middlebury-flow", "flow")
    (pair,) = dataset.pairs
    assert (pair.name_a, pair.name_b) == ("Scene1.png", "Scene2.png")
    flow = read_flo(pair.flow_path)
    assert flow.shape == (240, 320, 2) and flow.dtype == np.float32
    assert np.array_equal(np.isnan(flow), np.isnan(scene_flow))
    assert np.allclose(flow[~np.isnan(flow)], scene_flow[~np.isnan(scene_flow)])


def test_middlebury_frame_numbers_and_broken_flo_files(tmp_path, texture):
    save_image(tmp_path / "frame10.png", texture)
    save_image(tmp_path / "frame11.png", texture)
    flow = np.zeros((240, 320, 2), np.float32)
    flow[0, 0] = [2e9, 0.0]  # Middlebury's unknown flow
    write_flo(tmp_path / "flow10.flo", flow)
    (pair,) = open_dataset(tmp_path).pairs
    assert (pair.name_a, pair.name_b) == ("frame10.png", "frame11.png")
    assert np.isnan(read_flo(pair.flow_path)[0, 0]).all()
    assert np.isnan(read_flo(pair.flow_path)).sum() == 2
    (tmp_path / "flow10.flo").write_bytes(b"HEIP" + bytes(20))  # the magic is b"PIEH"
    with pytest.raises(InputError, match=r"not a Middlebury \.flo file"):
        read_flo(tmp_path / "flow10.flo")
    truncated = np.array([202021.25], "<f4").tobytes() + np.array([320, 240], "<i4").tobytes()
    (tmp_path / "flow10.flo").write_bytes(truncated + bytes(100))
    with pytest.raises(InputError, match="needs 614412 bytes"):
        read_flo(tmp_path / "flow10.flo")


def test_megadepth_scene_info_npz(tmp_path, scene_views):
    """LoFTR's layout: images under test/Undistorted_SfM, scene info in index/scene_info."""
    images = tmp_path / "test" / "Undistorted_SfM" / "0015" / "images"
    images.mkdir(parents=True)
    names = []
    for index, view in enumerate(scene_views):
        save_image(images / f"{index}.jpg", view.image)
        names.append(f"Undistorted_SfM/0015/images/{index}.jpg")
    info = tmp_path / "index" / "scene_info"
    info.mkdir(parents=True)
    layouts.scene_info_npz(
        info / "0015_0.1_0.3.npz",
        names,
        [view.K for view in scene_views],
        [view.T_world_to_cam for view in scene_views],
        [(0, 1), (1, 0)],
    )
    dataset = open_dataset(tmp_path)
    assert (dataset.layout, dataset.kind, dataset.sequences) == ("megadepth-1500", "pose", True)
    assert dataset.protocol == MEGADEPTH_PROTOCOL
    first, second = dataset.pairs
    assert first.sequence == "0015_0.1_0.3" and first.name_a == names[0]
    assert first.path_a == images / "0.jpg"
    assert np.allclose(first.T_ab, relative_pose(*scene_views))
    assert np.allclose(second.T_ab, np.linalg.inv(first.T_ab))
    assert np.allclose(first.K_a, scene_views[0].K)  # written as COLMAP's, read as OpenCV's
    assert len(open_dataset(info / "0015_0.1_0.3.npz").pairs) == 2
    arrays = safe_load_npz(info / "0015_0.1_0.3.npz")
    assert arrays["pair_infos"].dtype == object and arrays["pair_infos"][0][0] == (0, 1)


def test_megadepth_loftr_pickled_scene_info(tmp_path, scene_views):
    """LoFTR's checkout: the five scene files (plain pickles of a dict, not zip archives) in
    assets/megadepth_test_1500_scene_info, the images in data/megadepth/test."""
    names = megadepth_images(tmp_path / "data" / "megadepth" / "test", scene_views)
    scene_info = tmp_path / "assets" / "megadepth_test_1500_scene_info"
    five_scene_files(scene_info, names, scene_views)
    other = tmp_path / "assets" / "training"  # scene info that is not MegaDepth-1500
    other.mkdir()
    layouts.scene_info_pickle(other / "0000.npz", names, [np.eye(3)] * 2, [np.eye(4)] * 2, [(0, 1)])
    path = scene_info / MEGADEPTH_1500_SCENES[0]
    assert path.read_bytes()[:1] == b"\x80"  # a pickle: numpy.load falls back to unpickling
    written = pickle.loads(path.read_bytes())
    loaded = safe_load_npz(path)
    assert set(loaded) == set(written) == {*datasets.SCENE_INFO_KEYS, "depth_paths"}
    assert loaded["image_paths"][-1] is None and loaded["intrinsics"][-1] is None
    (pair_info,) = loaded["pair_infos"]
    assert isinstance(loaded["pair_infos"], list) and isinstance(pair_info, tuple)
    assert list(pair_info[0]) == [0, 1] and pair_info[1] == pytest.approx(0.1)
    assert datasets.npz_keys(path) == set(written)

    dataset = open_dataset(tmp_path)
    assert (dataset.layout, dataset.protocol) == ("megadepth-1500", MEGADEPTH_PROTOCOL)
    sequences = [pair.sequence for pair in dataset.pairs]
    assert list(dict.fromkeys(sequences)) == [
        name[: -len(".npz")] for name in MEGADEPTH_1500_SCENES
    ]
    assert len(dataset.pairs) == 1 + 2 + 3 + 4 + 5  # nothing from assets/training
    pair = dataset.pairs[0]
    assert pair.path_a == tmp_path / "data/megadepth/test" / names[0]
    assert np.allclose(pair.T_ab, relative_pose(*scene_views))
    assert np.allclose(pair.K_a, scene_views[0].K) and np.allclose(pair.K_b, scene_views[1].K)
    assert len(open_dataset(path).pairs) == 1


def test_megadepth_romas_folder_uses_the_five_scenes(tmp_path, scene_views):
    """RoMa's data/megadepth: the five .npz (zip archives here) beside Undistorted_SfM, and
    other scene info around that is not read."""
    names = megadepth_images(tmp_path, scene_views)
    five_scene_files(tmp_path, names, scene_views, layouts.scene_info_npz)
    layouts.scene_info_npz(
        tmp_path / "0000_0.1_0.3.npz", names, [np.eye(3)] * 2, [np.eye(4)] * 2, [(0, 1)]
    )
    dataset = open_dataset(tmp_path)
    assert len(dataset.pairs) == 15 and dataset.pairs[0].path_a == tmp_path / names[0]
    assert dataset.pairs[-1].sequence == "0022_0.5_0.7"
    # one missing: every scene-info file is read, in name order
    (tmp_path / MEGADEPTH_1500_SCENES[2]).unlink()
    sequences = [pair.sequence for pair in open_dataset(tmp_path).pairs]
    assert list(dict.fromkeys(sequences))[:2] == ["0000_0.1_0.3", "0015_0.1_0.3"]


def test_megadepth_images_in_a_test_subfolder(tmp_path, scene_views):
    """Scene files in megadepth_test_1500_scene_info/, images in a test/ beside it."""
    names = megadepth_images(tmp_path / "test", scene_views)
    five_scene_files(tmp_path / "megadepth_test_1500_scene_info", names, scene_views)
    dataset = open_dataset(tmp_path)
    assert len(dataset.pairs) == 15
    assert dataset.pairs[0].path_b == tmp_path / "test" / names[1]


def test_megadepth_colmap_intrinsics_give_exact_poses(tmp_path, scene_views):
    """Scene info holds COLMAP's K (pixel centres at +0.5): read into OpenCV's convention, exact
    correspondences give no pose error under RoMa's protocol; taken as they are, they would."""
    names = megadepth_images(tmp_path, scene_views)
    path = tmp_path / "0015_0.1_0.3.npz"
    layouts.scene_info_pickle(
        path, names, [v.K for v in scene_views], [v.T_world_to_cam for v in scene_views], [(0, 1)]
    )
    stored = safe_load_npz(path)["intrinsics"][0]
    assert stored[:2, 2] == pytest.approx(scene_views[0].K[:2, 2] + 0.5)
    (pair,) = open_dataset(tmp_path).pairs
    assert pair.K_a[:2, 2] == pytest.approx(stored[:2, 2] - 0.5)
    assert np.allclose(pair.K_a, scene_views[0].K)
    matches = exact_matches(*scene_views)
    sizes = (scene_views[0].depth.shape, scene_views[1].depth.shape)
    assert len(matches) > 500
    score = score_pose(pair, matches, sizes, MEGADEPTH_PROTOCOL)
    assert len(score.run_errors) == 5 and max(score.run_errors) < 0.01, score
    as_stored = dataclasses.replace(pair, K_a=stored, K_b=stored)
    assert min(score_pose(as_stored, matches, sizes, MEGADEPTH_PROTOCOL).run_errors) > 0.03


def test_scannet_1500_romas_intrinsic_color(tmp_path, scene_views):
    """RoMa's data/scannet: the scene's intrinsic_color.txt is used as it is, for the images as
    stored, even beside LoFTR's intrinsics.npz."""
    K = scene_views[0].K
    layouts.scannet_folder(tmp_path, scene_views, (15, 30), intrinsics="txt+npz", K=K)
    np.savez(tmp_path / "intrinsics.npz", scene0707_00=K * 9)  # would be wrong if read
    dataset = open_dataset(tmp_path)
    assert (dataset.layout, dataset.protocol) == ("scannet-1500", SCANNET_PROTOCOL)
    (pair,) = dataset.pairs
    assert pair.name_b == "scene0707_00/color/30.jpg" and pair.sequence == "scene0707_00"
    assert np.allclose(pair.K_a, K) and np.allclose(pair.K_b, K)
    assert np.allclose(pair.T_ab, relative_pose(*scene_views))


def test_scannet_1500_loftr_intrinsics_scaled_to_each_image(tmp_path, scene_views):
    """LoFTR's intrinsics.npz is for 640x480 images: scaled to each image's own size."""
    K_640 = np.array([[580.0, 0.0, 319.5], [0.0, 578.0, 239.5], [0.0, 0.0, 1.0]])
    sizes = [(240, 320), (968, 1296)]
    layouts.scannet_folder(tmp_path, scene_views, (15, 30), sizes=sizes, intrinsics="npz", K=K_640)
    (pair,) = open_dataset(tmp_path).pairs
    assert datasets.load_pair_images(pair)[1].size_hw == (968, 1296)
    assert pair.K_a == pytest.approx(np.diag([0.5, 0.5, 1.0]) @ K_640)
    assert pair.K_b == pytest.approx(np.diag([1296 / 640, 968 / 480, 1.0]) @ K_640)
    (tmp_path / "intrinsics.npz").unlink()
    with pytest.raises(InputError, match="no intrinsics for scene0707_00"):
        open_dataset(tmp_path)


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        (exec, ("open({marker!r}, 'w').close()",)),
        (open, ("{marker}", "w")),
        (os.system, ("touch {marker}",)),
    ],
    ids=["exec", "open", "os.system"],
)
def test_a_pickle_that_would_run_code_is_refused(tmp_path, function, arguments):
    marker = tmp_path / "marker"
    arguments = tuple(text.format(marker=str(marker)) for text in arguments)
    layouts.malicious_npz(tmp_path / "scene.npz", function, arguments)
    refused = r"refused: pair_infos\.npy pickles .*; nothing in it was run"
    with pytest.raises(InputError, match=refused):
        safe_load_npz(tmp_path / "scene.npz")
    with pytest.raises(InputError, match="refused"):
        open_dataset(tmp_path)
    assert not marker.exists()
    with np.load(tmp_path / "scene.npz", allow_pickle=True) as unsafe:
        unsafe["pair_infos"]  # what the reader avoids: plain unpickling runs the payload
    assert marker.exists()


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        (exec, ("open({marker!r}, 'w').close()",)),
        (os.system, ("touch {marker}",)),
    ],
    ids=["exec", "os.system"],
)
def test_a_plain_pickle_that_would_run_code_is_refused(tmp_path, function, arguments):
    """LoFTR's form (a pickled dict, no zip) goes through the same restricted unpickler."""
    marker = tmp_path / "marker"
    arguments = tuple(text.format(marker=str(marker)) for text in arguments)
    path = tmp_path / "0015_0.1_0.3.npz"
    layouts.malicious_pickle(path, function, arguments)
    refused = r"refused: it pickles (builtins|posix|os|nt)\.\w+; nothing in it was run"
    with pytest.raises(InputError, match=refused):
        safe_load_npz(path)
    with pytest.raises(InputError, match=refused):
        datasets.npz_keys(path)
    with pytest.raises(InputError, match="refused"):
        open_dataset(tmp_path)
    with pytest.raises(InputError, match="refused"):
        open_dataset(path)
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # what the reader avoids: plain unpickling runs it
    assert marker.exists()


def test_files_that_are_not_named_arrays_are_refused_clearly(tmp_path):
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, np.zeros(3))
    needle = r"holds one float64 array of shape \(3,\), not named arrays"
    with pytest.raises(InputError, match=needle):
        safe_load_npz(single)
    with pytest.raises(InputError, match=needle):
        open_dataset(single)
    assert datasets.npz_keys(single) == set()
    listed = tmp_path / "list.npz"
    listed.write_bytes(pickle.dumps([np.zeros(3)]))
    with pytest.raises(InputError, match="holds a list, not named arrays"):
        safe_load_npz(listed)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(pickle.dumps({"a": np.zeros(3)})[:-5])
    with pytest.raises(InputError, match=r"not a readable \.npz file"):
        safe_load_npz(broken)
    # a dict saved with np.save (a 0-d object array holding it) is named arrays
    saved = tmp_path / "saved.npz"
    with open(saved, "wb") as handle:
        np.save(handle, {"name": np.array([[707, 0, 1, 2]])}, allow_pickle=True)
    assert list(safe_load_npz(saved)["name"][0]) == [707, 0, 1, 2]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda path: None, "unknown dataset layout"),
        (lambda path: (path / "notes.txt").write_text("hello"), "unknown dataset layout"),
        (lambda path: (path / "x.npz").write_bytes(b"not a zip"), "unknown dataset layout"),
    ],
    ids=["empty", "text", "broken-npz"],
)
def test_unknown_layouts_are_refused_in_one_line(tmp_path, make, needle):
    make(tmp_path)
    with pytest.raises(InputError, match=needle) as caught:
        open_dataset(tmp_path)
    assert "\n" not in str(caught.value)


def test_missing_paths_and_mixed_layouts_are_refused(tmp_path, texture, scene_views):
    with pytest.raises(InputError, match="no such file or folder"):
        open_dataset(tmp_path / "nothing")
    layouts.homography_sequence(tmp_path / "a", texture, 2)
    layouts.superglue_folder(tmp_path / "b", scene_views)
    with pytest.raises(InputError, match="mixes dataset layouts: oxford-affine, superglue-pairs"):
        open_dataset(tmp_path)
