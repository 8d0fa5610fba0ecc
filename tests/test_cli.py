"""The command line end to end, in subprocesses, as a user runs it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.result import load_result
from tests.conftest import REPO


def run_cli(*args, cwd=REPO, env=None):
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def pair(tmp_path, texture):
    """A textured image and a copy shifted by (+6, +4) pixels, as PNG files."""
    shifted = np.roll(texture, (4, 6), axis=(0, 1))
    Image.fromarray(texture).save(tmp_path / "a.png")
    Image.fromarray(shifted).save(tmp_path / "b.png")
    return tmp_path / "a.png", tmp_path / "b.png"


@pytest.mark.parametrize(
    ("args", "threshold"),
    [
        (["--matcher", "dense-flow"], 0.6),
        (["--matcher", "tests.core.plugin_matchers:SureMatcher"], 0.9),
        (["--matcher", "dense-flow", "--threshold", "0.2"], 0.2),
    ],
)
def test_matches_png_draws_from_the_matchers_display_threshold(
    tmp_path, pair, monkeypatch, capsys, args, threshold
):
    """In process, to see the threshold handed to the figure (the window's slider default)."""
    import core.figures
    from app.cli import main

    drawn = []

    def draw_matches(*figure_args, threshold, **kwargs):
        drawn.append(threshold)
        return np.zeros((8, 8, 3), np.uint8)

    monkeypatch.setattr(core.figures, "draw_matches", draw_matches)
    assert main(["match", *map(str, pair), "--out", str(tmp_path / "out"), *args]) == 0
    assert drawn == [threshold]
    assert f"with certainty >= {threshold:g})" in capsys.readouterr().out


@pytest.mark.parametrize("matcher", ["sift", "dense-flow"])
def test_match_writes_documented_result(tmp_path, pair, matcher):
    out = tmp_path / "out"
    done = run_cli("match", *pair, "--matcher", matcher, "--out", out)
    assert done.returncode == 0, done.stderr
    assert matcher in done.stdout
    with np.load(out / "result.npz", allow_pickle=False) as data:
        keys = set(data.files)
        meta = json.loads(str(data["meta"]))
        warp, certainty = data["warp_ab"], data["certainty_ab"]
        matches, match_certainty = data["matches"], data["match_certainty"]
    assert {"warp_ab", "certainty_ab", "matches", "match_certainty", "meta"} <= keys
    assert warp.shape == (240, 320, 2) and certainty.shape == (240, 320)
    assert matches.shape[1] == 4 and match_certainty.shape == (len(matches),)
    assert meta["matcher"] == matcher and meta["size_a"] == [240, 320]
    assert meta["image_a"].endswith("a.png") and "version" in meta
    confident = matches[match_certainty >= 0.5]
    shift = confident[:, 2:] - confident[:, :2]
    assert len(confident) > 50
    # away from the wrapped borders every confident match moves by the known shift
    interior = (confident[:, 0] > 12) & (confident[:, 1] > 12)
    assert np.median(np.abs(shift[interior] - [6, 4]), axis=0).max() < 0.5
    assert ("grid_warp_ab" in keys) == (matcher == "dense-flow")
    figure = Image.open(out / "matches.png")
    assert figure.width == 650 and figure.height > 240
    assert load_result(out / "result.npz").num_matches == len(matches)


def test_pairs_list_with_progress(tmp_path, pair):
    (tmp_path / "pairs.txt").write_text("# a comment\na.png b.png\n\nb.png a.png extra columns\n")
    done = run_cli("match", "--pairs", tmp_path / "pairs.txt", "--out", tmp_path / "many")
    assert done.returncode == 0, done.stderr
    outputs = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert outputs == ["0000_a_b", "0001_b_a"]
    assert (tmp_path / "many" / "0001_b_a" / "result.npz").is_file()
    assert "2 of 2 pairs" in done.stdout and "pair/s" in done.stderr  # tqdm's progress bar


def test_own_matcher_plugs_in(tmp_path, pair):
    done = run_cli(
        "match", *pair, "--matcher", "tests.core.plugin_matchers:identity",
        "--set", "level=0.5", "--out", tmp_path / "own",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = load_result(tmp_path / "own" / "result.npz")
    assert result.certainty_ab.max() == 0.5
    assert result.provenance.matcher == "tests.core.plugin_matchers:identity"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["match", "missing.png", "b.png", "--out", "o"], "missing.png: no such file"),
        (["match", "bad.png", "b.png", "--out", "o"], "bad.png: not a readable image"),
        (["match", "a.png", "b.png", "--out", "o", "--matcher", "nope"], "unknown matcher"),
        (["match", "a.png", "b.png", "--out", "o", "--set", "ratio=x"], "not a valid float"),
        (["match", "a.png", "b.png", "--out", "o", "--frobnicate"], "unrecognized arguments"),
        (["match", "a.png", "--out", "o"], "needs two images"),
        (["match", "--pairs", "nolist.txt", "--out", "o"], "nolist.txt: no such file"),
        (["a.png"], "give two images"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, pair, args, needle):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()  # nothing written half-way


def test_help_documents_every_option():
    top = run_cli("--help")
    assert top.returncode == 0 and "--screenshot" in top.stdout and "match" in top.stdout
    match = run_cli("match", "--help")
    for option in ("--pairs", "--out", "--matcher", "--set", "--threshold", "warp_ab"):
        assert option in match.stdout
    listing = run_cli("matchers")
    assert "sift:" in listing.stdout and "--set ratio=0.8" in listing.stdout
    assert "dense-flow:" in listing.stdout and "--set num_samples=5000" in listing.stdout


def test_the_window_without_a_display_says_so(tmp_path, pair):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = run_cli(*pair, env=env)
    assert done.returncode == 2
    assert "no display" in done.stderr and len(done.stderr.strip().splitlines()) == 1
