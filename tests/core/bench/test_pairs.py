"""`matchscope bench pairs` on small datasets written here: JSON shape, accuracy, repeatability,
reports, skipped matchers and the exit status of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from core.bench.datasets import open_dataset
from core.bench.pairs import matcher_settings, run_order, score_flow
from core.coords import pixel_grid
from core.errors import MatchscopeError
from core.result import MatchResult, Provenance
from core.weights import WeightFile, WeightsNotFound
from tests.core.bench import layouts

POSE_KEYS = ["pairs", "kind", "auc", "seconds_per_pair", "peak_mb", "per_pair"]
HOMOGRAPHY_KEYS = [
    "pairs",
    "kind",
    "auc_px",
    "mean_corner_error_px",
    "pck",
    "seconds_per_pair",
    "peak_mb",
    "per_pair",
]
FLOW_KEYS = ["pairs", "kind", "epe", "pck", "coverage", "seconds_per_pair", "peak_mb", "per_pair"]
EXPLODING = "tests.core.plugin_matchers:exploding"


class _NeedsWeights:
    def match(self, rgb_a, rgb_b):
        demo = WeightFile("demo", "demo.pth", "https://example.org/demo.pth", "MIT", "", "demo")
        raise WeightsNotFound(demo, [("test", Path("/nowhere"))])


def needs_weights(**settings):
    """A user's matcher whose weights are missing (it fails on its first pair)."""
    return _NeedsWeights()


def bench(capsys, *args) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``main.py bench pairs ARGS``."""
    try:
        code = main(["bench", "pairs", *map(str, args)])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, tmp_path, *args) -> dict:
    code, _, err = bench(capsys, *args, "--json", tmp_path / "out.json")
    assert code == 0, err
    return json.loads((tmp_path / "out.json").read_text())


def test_homography_json_shape_and_accuracy(capsys, tmp_path, homography_folder):
    results = run_json(
        capsys, tmp_path, "--dataset", homography_folder, "--matcher", "sift",
        "--matcher", "dense-flow",
    )  # fmt: skip
    assert list(results) == ["dataset", "matchers"]
    assert results["dataset"] == homography_folder.name
    assert list(results["matchers"]) == ["sift", "dense-flow"]
    sift = results["matchers"]["sift"]
    assert list(sift) == [*HOMOGRAPHY_KEYS, "sequences"]
    assert sift["pairs"] == 3 and sift["kind"] == "homography"
    assert list(sift["auc_px"]) == ["3", "5", "10"] and list(sift["pck"]) == ["1", "3", "5"]
    assert sift["per_pair"][0] == {
        "a": "one/img1.png",
        "b": "one/img2.png",
        "error": pytest.approx(sift["per_pair"][0]["error"]),
    }
    assert list(sift["sequences"]) == ["one", "two"]
    assert sift["sequences"]["one"]["pairs"] == 2
    assert list(sift["sequences"]["two"]) == [
        "pairs", "kind", "auc_px", "mean_corner_error_px", "pck", "seconds_per_pair",
    ]  # fmt: skip
    for entry in results["matchers"].values():
        assert 0.0 <= min(entry["auc_px"].values()) <= max(entry["auc_px"].values()) <= 1.0
        assert entry["seconds_per_pair"] > 0 and entry["peak_mb"] > 0
    assert sift["mean_corner_error_px"] < 2.0 and sift["auc_px"]["10"] > 0.8
    assert sift["pck"]["3"] > 0.8


def test_pose_with_a_rotated_image_and_flow(capsys, tmp_path, pose_folder, flow_folder):
    code, out, _ = bench(
        capsys, "--dataset", pose_folder, "--set", "mutual=false", "--set", "geometry=none",
        "--json", tmp_path / "pose.json",
    )  # fmt: skip
    assert code == 0 and "AUC@5°" in out
    assert "protocol: essential matrix by RANSAC at 1 px / mean fx (stored size)" in out
    assert "sift: max_keypoints=8000 max_size=1600 ratio=0.8 mutual=False geometry=none" in out
    pose = json.loads((tmp_path / "pose.json").read_text())["matchers"]["sift"]
    assert list(pose) == POSE_KEYS and pose["kind"] == "pose"
    assert list(pose["auc"]) == ["5", "10", "20"]
    straight, turned = (pair["error"] for pair in pose["per_pair"])
    # B turned a quarter: SIFT finds other keypoints, so the error differs a little; had K and
    # T not turned with the image, it would be tens of degrees
    assert straight < 1.0 and turned < 3.0, (straight, turned)
    flow = run_json(
        capsys, tmp_path, "--dataset", flow_folder, "--matcher", "sift", "--matcher", "dense-flow"
    )["matchers"]
    for name in ("sift", "dense-flow"):
        assert list(flow[name]) == FLOW_KEYS and flow[name]["kind"] == "flow"
        assert flow[name]["epe"] < 3.0 and flow[name]["pck"]["3"] > 0.9, (name, flow[name])


def test_megadepth_layout_with_romas_protocol(capsys, tmp_path, scene_views):
    """Scene info with pickled object arrays; 1200 px longer side, 5 runs, sequences."""
    layouts.megadepth_scene(tmp_path, scene_views)
    code, out, _ = bench(
        capsys, "--dataset", tmp_path, "--set", "mutual=false", "--set", "geometry=none",
        "--json", tmp_path / "out.json",
    )  # fmt: skip
    assert code == 0 and "5 run(s) per pair, at most 5000 matches" in out
    assert "at 0.5 px / mean fx, fy (longer side scaled to 1200 px)" in out
    sift = json.loads((tmp_path / "out.json").read_text())["matchers"]["sift"]
    assert list(sift) == [*POSE_KEYS, "sequences"] and list(sift["sequences"]) == ["0015_0.1_0.3"]
    assert sift["per_pair"][0]["error"] < 3.0


def test_two_runs_give_identical_numbers(capsys, tmp_path, homography_folder, pose_folder):
    def numbers(*args):
        results = run_json(capsys, tmp_path, *args)
        for entry in results["matchers"].values():
            del entry["seconds_per_pair"], entry["peak_mb"]
            for part in entry.get("sequences", {}).values():
                del part["seconds_per_pair"]
        return results

    pose = ("--dataset", pose_folder, "--ransac-runs", "3", "--max-pairs", "1")
    assert numbers(*pose) == numbers(*pose)
    dense = ("--dataset", homography_folder, "--matcher", "dense-flow", "--max-pairs", "2")
    assert numbers(*dense) == numbers(*dense)


def test_a_benchmark_never_reads_or_fills_the_feature_caches(capsys, tmp_path, homography_folder):
    """Its timings are of the whole match: a second benchmark of the same pairs extracts again."""
    from core.matchers.keypoints import EXTRACT_CACHE

    EXTRACT_CACHE.clear()
    before = (EXTRACT_CACHE.hits, EXTRACT_CACHE.misses)
    for _ in range(2):
        run_json(capsys, tmp_path, "--dataset", homography_folder, "--max-pairs", "1")
    assert (EXTRACT_CACHE.hits, EXTRACT_CACHE.misses) == before and len(EXTRACT_CACHE) == 0


def test_report_and_markdown_page(capsys, tmp_path, homography_folder, flow_folder):
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    report = tmp_path / "docs" / "bench" / "oxford"
    code, _, _ = bench(
        capsys, "--dataset", homography_folder, "--max-pairs", "2", "--report", report,
        "--markdown", page,
    )  # fmt: skip
    assert code == 0
    text = (report / "report.md").read_text()
    assert "| matcher | pairs | AUC@3px |" in text and "\nCommand: `python main.py bench" in text
    for name in ("cumulative_errors.png", "per_pair_errors.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report / name).with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
        assert (report / name).with_suffix(".svg").is_file()
    assert "](bench/oxford/cumulative_errors.png)" in page.read_text()
    page.write_text(page.read_text().replace("# Benchmarks", "# Benchmarks\n\nA note by hand."))
    assert bench(capsys, "--dataset", flow_folder, "--markdown", page)[0] == 0
    again = ("--dataset", homography_folder, "--max-pairs", "1", "--markdown", page)
    assert bench(capsys, *again)[0] == 0
    text = page.read_text()
    assert "A note by hand." in text
    assert text.count("<!-- bench pairs: ") == 2
    assert text.index(f"## {homography_folder.name}") < text.index(f"## {flow_folder.name}")
    commands = text.split("<!-- commands -->")[1].split("<!-- end commands -->")[0]
    assert "--max-pairs 1" in commands and "--max-pairs 2" not in commands
    assert str(flow_folder) in commands


def test_a_matcher_without_weights_is_skipped(capsys, tmp_path, homography_folder):
    results = run_json(
        capsys, tmp_path, "--dataset", homography_folder, "--max-pairs", "1", "--matcher",
        "tests.core.bench.test_pairs:needs_weights", "--matcher", "sift",
    )  # fmt: skip
    skipped = results["matchers"]["tests.core.bench.test_pairs:needs_weights"]
    assert skipped == {"skipped": "demo weights not found: no demo.pth in /nowhere (test)"}
    assert results["matchers"]["sift"]["pairs"] == 1


def test_a_raising_matcher_fails_its_pairs_and_the_run_goes_on(capsys, tmp_path, pose_folder):
    report = tmp_path / "report"
    code, out, err = bench(
        capsys, "--dataset", pose_folder, "--matcher", EXPLODING, "--matcher", "sift",
        "--json", tmp_path / "out.json", "--report", report,
    )  # fmt: skip
    assert code == 0, err
    results = json.loads((tmp_path / "out.json").read_text())["matchers"]
    exploded = results[EXPLODING]
    assert exploded["pairs"] == 2 and exploded["auc"] == {"5": 0.0, "10": 0.0, "20": 0.0}
    assert exploded["seconds_per_pair"] is None
    assert [pair["error"] for pair in exploded["per_pair"]] == [None, None]  # inf: null
    messages = [pair["error_message"] for pair in exploded["per_pair"]]
    assert messages == [f"RuntimeError: plugin exploded on call {n}" for n in (1, 2)]
    assert results["sift"]["per_pair"][0]["error"] is not None  # the next matcher still ran
    assert "error_message" not in results["sift"]["per_pair"][0]
    line = f"{EXPLODING}: 1 of 2 pairs failed (first: "
    assert line in out and "RuntimeError: plugin exploded on call 1" in out
    assert "failed: RuntimeError: plugin exploded on call 2" in err  # above the progress bars
    assert "Traceback" not in err
    assert "plugin exploded on call 1" in (report / "report.md").read_text()


def test_a_matcher_failing_on_one_pair_keeps_its_other_scores(capsys, tmp_path, pose_folder):
    results = run_json(
        capsys, tmp_path, "--dataset", pose_folder, "--matcher", EXPLODING,
        "--set", "fail_every=2",
    )  # fmt: skip
    first, second = results["matchers"][EXPLODING]["per_pair"]
    assert "error_message" not in first  # matched (2 matches: too few for a pose, no message)
    assert second["error"] is None and second["error_message"].startswith("RuntimeError")


def test_flow_scores_a_dense_result_over_every_pixel_with_truth(flow_folder, scene_flow):
    """A warp predicting the top tenth of A exactly: its EPE is over those pixels, its PCK over
    all the pixels with a known flow (the others are not correct), and its coverage says so."""
    pair = open_dataset(flow_folder).pairs[0]
    height, width = scene_flow.shape[:2]
    warp = pixel_grid(height, width) + scene_flow
    warp[height // 10 :] = np.nan
    known = np.isfinite(scene_flow).all(axis=-1)
    predicted = np.isfinite(warp).all(axis=-1) & known
    matches = np.array([[5.0, 5.0, 0.0, 0.0]], np.float32)  # far off
    dense = MatchResult(warp, np.ones((height, width), np.float32), matches, np.ones(1))
    score = score_flow(pair, dense)
    assert score.error < 0.01
    assert score.coverage == pytest.approx(predicted.sum() / known.sum())
    assert score.pck == pytest.approx((score.coverage,) * 3, abs=1e-6)
    assert 0.0 < score.coverage < 0.5  # once scored as sparse (by its one bad match) here
    sparse = MatchResult(
        matches=matches,
        match_certainty=np.ones(1, np.float32),
        provenance=Provenance(size_a=(height, width)),
    )
    score = score_flow(pair, sparse)  # its matches, however few
    assert score.error > 5.0 and score.pck == (0.0, 0.0, 0.0) and math.isnan(score.coverage)


def test_settings_go_to_the_matchers_that_have_them():
    settings = matcher_settings(
        ["sift", "dense-flow"], ["max_size=640", "sift.mutual=false", "dense-flow.preset=fast"]
    )
    assert settings == {
        "sift": {"max_size": 640, "mutual": False},
        "dense-flow": {"max_size": 640, "preset": "fast"},
    }
    assert matcher_settings(["sift"], ["geometry=none"]) == {"sift": {"geometry": None}}
    with pytest.raises(MatchscopeError, match="no matcher here has the option 'preset'"):
        matcher_settings(["sift"], ["preset=fast"])


def test_ransac_runs_reorder_or_subsample_the_matches():
    assert run_order(10, None, 0) == slice(None)  # the first run: all, in order
    again = run_order(10, None, 1)
    assert sorted(again) == list(range(10)) and list(again) != list(range(10))
    assert list(again) == list(run_order(10, None, 1))
    assert run_order(10, 10, 0) == slice(None)  # no more than the limit: all of them
    # with a limit, one subset (seed 0) for every run, in order in the first, shuffled after
    subset = run_order(100, 40, 0)
    assert len(set(subset)) == 40 and list(subset) == sorted(subset)
    assert list(subset) == list(run_order(100, 40, 0))
    later = [run_order(100, 40, run) for run in (1, 2, 3, 4)]
    for order in later:
        assert sorted(order) == list(subset) and list(order) != list(subset)
    assert list(later[0]) != list(later[1])
    assert list(later[0]) == list(run_order(100, 40, 1))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dataset", "{empty}"], "unknown dataset layout"),
        (["--dataset", "{empty}/nothing"], "no such file or folder"),
        (["--dataset", "{flow}", "--max-pairs", "0"], "--max-pairs must be >= 1"),
        (["--dataset", "{flow}", "--ransac-runs", "0"], "--ransac-runs must be >= 1"),
        (["--dataset", "{flow}", "--set", "sift.colour=1"], "unknown option(s) colour"),
        (["--dataset", "{flow}", "--set", "orb.ratio=1"], "'orb' is not one of the --matcher"),
        (["--dataset", "{flow}", "--matcher", "orb"], "unknown matcher 'orb'"),
        (["--dataset", "{flow}", "--json", "{empty}/no/out.json"], "--json"),
        (["--dataset", "{flow}", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, flow_folder, args, needle):
    args = [arg.format(empty=tmp_path, flow=flow_folder) for arg in args]
    code, out, err = bench(capsys, *args)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert out == ""
