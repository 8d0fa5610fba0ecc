"""The SIFT sanity protocol of ../shared/data/README.md, through `bench pairs` and by hand.

The README's protocol is plain OpenCV: grey images resized with INTER_AREA to a longer side of
at most 1536 px, ``SIFT_create(4000)``, brute-force 2-NN with the ratio test at 0.8 (no mutual
check, no geometric verification), keypoints scaled back to full resolution, points normalised
with ``undistortPoints``, ``findEssentialMat(RANSAC, prob 0.999, 1 px / mean fx)``,
``recoverPose``. Our ``sift`` matcher follows it with :data:`PROTOCOL`. Two details of ours
differ from a literal reading, and the by-hand computation here uses ours so that the numbers
can be compared exactly: the grey image is converted from the decoded RGB (``cv2.imread(path,
IMREAD_GRAYSCALE)`` lets libpng/libjpeg convert colour files, which differs by one grey level
here and there), and keypoints map back with pixel centres (``(x + 0.5) s - 0.5`` rather than
``x s``). Over the full datasets that moves AUC by at most 0.003 (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import math

import cv2
import numpy as np
import pytest

from core.bench import pairs
from core.bench.metrics import pose_auc
from tests.conftest import shared_data_dir

PROTOCOL = (
    "--set", "max_keypoints=4000", "--set", "max_size=1536", "--set", "mutual=false",
    "--set", "geometry=none",
)  # fmt: skip
README_FIGURES = {"fountain-P11": (0.951, 0.975, 0.988), "kitti_odometry_06": (0.878, 0.939, 0.969)}
KITTI_LINES = (0, 60, 100, 137, 138, 139)  # gaps 1, 5, 10; 435->436; stereo; colour


def run_bench(*args: str) -> dict:
    parser = argparse.ArgumentParser()
    pairs.add_arguments(parser)
    return pairs.run(parser.parse_args([*map(str, args), *PROTOCOL]))


def data_dir(*parts: str):
    folder = shared_data_dir().joinpath(*parts)
    if not folder.is_dir():
        pytest.skip(f"research data not found at {folder} (set MATCHSCOPE_DATA)")
    return folder


def detect(path, max_side: int = 1536) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) SIFT keypoints in full-resolution pixels and (K, 128) descriptors, by hand."""
    gray = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    scale = max_side / max(height, width)
    if scale < 1:
        size = (round(width * scale), round(height * scale))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    keypoints, descriptors = cv2.SIFT_create(4000).detectAndCompute(gray, None)
    xy = np.array([keypoint.pt for keypoint in keypoints])
    factor = np.array([width / gray.shape[1], height / gray.shape[0]])
    return (xy + 0.5) * factor - 0.5, descriptors


def opencv_by_hand(folder, line: str) -> float:
    """The pose error (degrees) of one ``pairs_with_gt.txt`` line, OpenCV calls only."""
    fields = line.split()
    K_a, K_b = (np.array(fields[i : i + 9], float).reshape(3, 3) for i in (4, 13))
    T = np.array(fields[22:38], float).reshape(4, 4)
    (xy_a, desc_a), (xy_b, desc_b) = detect(folder / fields[0]), detect(folder / fields[1])
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc_a, desc_b, k=2)
    good = np.array([(m.queryIdx, m.trainIdx) for m, n in knn if m.distance < 0.8 * n.distance])
    # a MatchResult stores matches as float32
    pts_a = xy_a[good[:, 0]].astype(np.float32).astype(np.float64).reshape(-1, 1, 2)
    pts_b = xy_b[good[:, 1]].astype(np.float32).astype(np.float64).reshape(-1, 1, 2)
    n_a = cv2.undistortPoints(pts_a, K_a, None).reshape(-1, 2)
    n_b = cv2.undistortPoints(pts_b, K_b, None).reshape(-1, 2)
    cv2.setRNGSeed(0)
    E, mask = cv2.findEssentialMat(
        n_a, n_b, np.eye(3), method=cv2.RANSAC, prob=0.999,
        threshold=1.0 / np.mean([K_a[0, 0], K_b[0, 0]]),
    )  # fmt: skip
    if E is None:
        return math.inf
    candidates = np.split(E, len(E) // 3)  # up to 3 solutions, stacked
    poses = [cv2.recoverPose(e, n_a, n_b, np.eye(3), mask=mask.copy()) for e in candidates]
    _, R, t, _ = max(poses, key=lambda pose: pose[0])  # the most inliers in front of both
    rotation = np.degrees(np.arccos(np.clip((np.trace(R.T @ T[:3, :3]) - 1) / 2, -1, 1)))
    cosine = t.ravel() @ T[:3, 3] / np.linalg.norm(t) / np.linalg.norm(T[:3, 3])
    translation = np.degrees(np.arccos(np.clip(abs(cosine), 0, 1)))
    return max(rotation, translation)


@pytest.fixture(scope="module")
def fountain():
    folder = data_dir("strecha_mvs", "fountain-P11")
    return folder, run_bench("--dataset", folder)


def test_fountain_reproduces_the_readme_figures(fountain):
    _, results = fountain
    auc = results["matchers"]["sift"]["auc"]
    measured = (auc["5"], auc["10"], auc["20"])
    assert measured == pytest.approx(README_FIGURES["fountain-P11"], abs=0.02)


def test_fountain_pairs_equal_opencv_by_hand(fountain):
    folder, results = fountain
    lines = (folder / "pairs_with_gt.txt").read_text().splitlines()
    per_pair = results["matchers"]["sift"]["per_pair"]
    for index in (0, 1):
        assert per_pair[index]["a"] == lines[index].split()[0]
        assert per_pair[index]["error"] == pytest.approx(opencv_by_hand(folder, lines[index]))


def test_kitti_subset_equals_opencv_by_hand(tmp_path):
    folder = data_dir("kitti_odometry_06")
    lines = (folder / "pairs_with_gt.txt").read_text().splitlines()
    chosen = [lines[index] for index in KITTI_LINES]
    # the same lines with absolute image paths, in a pairs file of our own
    absolute = []
    for line in chosen:
        fields = line.split()
        absolute.append(" ".join([str(folder / fields[0]), str(folder / fields[1]), *fields[2:]]))
    (tmp_path / "pairs_with_gt.txt").write_text("\n".join(absolute) + "\n")
    results = run_bench("--dataset", tmp_path)
    by_hand = [opencv_by_hand(folder, line) for line in chosen]
    measured = [pair["error"] for pair in results["matchers"]["sift"]["per_pair"]]
    assert measured == pytest.approx(by_hand, abs=1e-6)
    auc = results["matchers"]["sift"]["auc"]
    assert [auc["5"], auc["10"], auc["20"]] == pytest.approx(
        pose_auc(by_hand, (5, 10, 20)), abs=1e-9
    )
