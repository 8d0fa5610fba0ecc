"""The command line: ``matchscope [A B]`` opens the window; subcommands work headless.

Qt is imported only when the window opens, so ``match`` runs on machines without a display.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from core.errors import MatchscopeError, failure_message
from core.text import plural

SUBCOMMANDS = {
    "match": "match an image pair (or a list of pairs) and write result.npz, matches.csv + "
    "matches.png",
    "match-sequence": "match the frame pairs of a video or sequence folder: stats.csv + "
    "results/A_B.npz",
    "vo": "monocular visual odometry over a sequence: trajectory_kitti.txt, trajectory_tum.txt, "
    "stats.csv, scene.npz, map.ply (+ eval.json with --eval, a Rerun recording with --rerun)",
    "vo-figure": "the 3D figure of a saved VO run (trajectory, keyframes, map; Open3D offscreen)",
    "extract": "detect and describe images once with a keypoint matcher: features.npz + "
    "keypoints.png each",
    "matchers": "list the matchers and every option they take",
    "bench": "benchmarks: roma-speed (our RoMa against romatch), pairs (accuracy against "
    "ground truth), cancel (seconds from Cancel to stop), ui (the window's probe, dock and "
    "start-up times), vo (our VO against an essential-matrix chain)",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a wrong option in one line and exits with status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _add_matcher_options(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--matcher",
        default=default,
        metavar="NAME",
        help=f"a built-in matcher ({', '.join(_matcher_names())}) or package.module:factory for "
        f"your own (a callable returning an object with match(rgb_a, rgb_b) -> MatchResult); "
        f"default: {default}",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="settings",
        help="a matcher option, repeatable (e.g. --set max_size=640); "
        "`matchscope matchers` lists them all",
    )
    model = parser.add_argument_group(
        "model options (RoMa: --matcher roma, roma-outdoor or roma-indoor; --device, "
        "--precision, --compile, --num-samples, --intermediates, --download also romav2, whose "
        "own options go by --set: setting, weights, resolution, ...; the same as --set)"
    )
    for flags, key, kind, metavar, text in MODEL_FLAGS:
        if kind is bool:
            model.add_argument(*flags, dest=key, action="store_const", const=True, help=text)
        else:
            model.add_argument(*flags, dest=key, type=kind, metavar=metavar, help=text)


MODEL_FLAGS = (  # (flags, matcher option, type, metavar, help); bools are switches
    (("--roma-weights",), "roma_weights", str, "PATH", "RoMa checkpoint file (default: search)"),
    (("--dino-weights",), "dino_weights", str, "PATH", "backbone checkpoint, .pth or folder"),
    (("--backbone",), "backbone", str, "NAME", "coarse encoder, e.g. dinov2_vitl14 (default)"),
    (("--coarse-res",), "coarse_res", str, "HxW", "coarse resolution N or HxW (560; preview 392)"),
    (("--upsample-res",), "upsample_res", str, "HxW", "fine pass resolution N or HxW; 0: none"),
    (("--preview",), "preview", bool, None, "coarse pass only: a quick warp on the coarse grid"),
    (("--no-symmetric",), "no_symmetric", bool, None, "match A->B only (no warp_ba)"),
    (("--device",), "device", str, "DEVICE", "auto (default), cpu or cuda"),
    (("--precision",), "precision", str, "PRECISION", "fp32 (default), bf16 or fp16"),
    (("--compile",), "compile", bool, None, "torch.compile the model (CUDA; first run compiles)"),
    (("--num-samples",), "num_samples", int, "N", "matches to sample (RoMa, dense-flow)"),
    (("--intermediates",), "intermediates", bool, None, "keep debug intermediates in result.npz"),
    (("--download",), "download", bool, None, "download missing weights into torch hub's cache"),
)


def _flag_settings(args: argparse.Namespace) -> dict:
    """The model flags that were given, as matcher options (``--no-symmetric`` -> symmetric)."""
    settings = {}
    for _, key, _, _, _ in MODEL_FLAGS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if key == "no_symmetric":
            settings["symmetric"] = False
        else:
            settings[key] = value
    return settings


def _matcher_names() -> list[str]:
    from core.matchers import matcher_names

    return matcher_names()


def _match_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="matchscope match",
        description="Match image A to image B and write DIR/result.npz, DIR/matches.csv and "
        "DIR/matches.png. matches.csv: a header line 'xA,yA,xB,yB,certainty', then one match a "
        "line (pixels, certainty in [0, 1]). "
        "result.npz keys (compressed): matches (N, 4) [xA, yA, xB, yB]; match_certainty "
        "(N,); meta (JSON provenance, with both image sizes); for dense matchers warp_ab "
        "(H_A, W_A, 2, float32) position in B's pixels of every pixel of A, NaN where none, "
        "and certainty_ab (H_A, W_A, float16) in [0, 1]; sparse ones (sift) have neither; "
        "grid_warp_ab (h, w, 2) and grid_certainty_ab (h, w) for matchers with an "
        "internal grid (normalised coordinates of B, RoMa's convention); warp_ba and "
        "certainty_ba for symmetric dense matchers; covariance_ab / covariance_ba (H, W, 2, 2) "
        "in the other image's pixels^2 and match_covariance (N, 2, 2, 2: in A, in B) for "
        "matchers with an uncertainty (romav2); intermediate/NAME debug arrays. Pixel "
        "centres: the top-left pixel's centre is (0, 0) (OpenCV).",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image A and image B")
    parser.add_argument(
        "--pairs",
        metavar="FILE",
        help="match many pairs: one 'A B' per line (extra columns, blank lines and # comments "
        "are ignored; relative paths are relative to FILE's folder); each pair's output "
        "goes to DIR/NNNN_A_B/",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_matcher_options(parser, "sift")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="C",
        help="matches.png draws matches with certainty >= C (default: the matcher's display "
        "threshold, as the window's slider: sift 0.5, dense-flow 0.6, roma 0.05)",
    )
    parser.add_argument(
        "--max-lines",
        type=int,
        default=500,
        metavar="N",
        help="matches.png draws at most N lines (default 500)",
    )
    parser.add_argument(
        "--figure-width",
        type=_positive,
        default=7.0,
        metavar="IN",
        help="matches.png's width in inches (default 7: two columns; 3.5: one)",
    )
    parser.add_argument(
        "--dpi", type=_positive, default=200.0, metavar="N", help="matches.png's DPI (default 200)"
    )
    parser.add_argument(
        "--figure-format",
        choices=("png", "svg", "pdf"),
        default="png",
        help="write matches.png, matches.svg or matches.pdf (default png)",
    )
    parser.add_argument("--no-figure", action="store_true", help="do not write matches.png")
    return parser


def _positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 0")
    return value


def _extract_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="matchscope extract",
        description="Run a keypoint matcher's detector and descriptor alone on each image and "
        "write DIR/NAME.features.npz (keypoints (K, 2) float32 in original pixels, scores (K,), "
        "descriptors (K, D) float32, meta JSON with the settings and weights' SHA-256; with "
        "--set intermediates=true the dense detector maps as map/NAME) and DIR/NAME.keypoints.png "
        "(keypoints coloured by score). Keypoint matchers: sift, aliked-lightglue, "
        "disk-lightglue, xfeat, xfeat-star, xfeat-lighterglue.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="the images")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_matcher_options(parser, "sift")
    parser.add_argument("--no-figure", action="store_true", help="do not write keypoints.png")
    return parser


def _run_extract(argv: list[str]) -> int:
    from core.features import save_features
    from core.figures import draw_keypoints
    from core.imageio import load_image, save_image
    from core.matchers import create_matcher
    from core.matchers.keypoints import KeypointMatcher

    args = _extract_parser().parse_args(argv)
    out = Path(args.out)
    _check_out(out)
    paths = [Path(p) for p in args.images]
    _check_readable(paths)
    settings = {**_parse_settings(args.matcher, args.settings), **_flag_settings(args)}
    matcher = create_matcher(args.matcher, settings)
    if not isinstance(matcher, KeypointMatcher):
        raise MatchscopeError(f"{args.matcher} is not a keypoint matcher: extract cannot run it")
    matcher.load()
    for path in paths:
        image = load_image(path)
        features = matcher.extract(image.rgb)
        meta = {
            "matcher": args.matcher,
            "settings": dict(matcher.conf),
            "weights": dict(matcher.weights),
            "image": str(path),
        }
        try:
            out.mkdir(parents=True, exist_ok=True)
            save_features(features, out / f"{path.stem}.features.npz", meta)
            if not args.no_figure:
                picture = draw_keypoints(image.rgb, features.keypoints, features.scores)
                save_image(out / f"{path.stem}.keypoints.png", picture)
        except OSError as exc:
            raise MatchscopeError(f"{out}: cannot write ({exc.strerror or exc})") from None
        print(f"{args.matcher}: {path.name}: {plural(features.num_keypoints, 'keypoint')} -> {out}")
    return 0


def _matchers_parser() -> argparse.ArgumentParser:
    return _Parser(
        prog="matchscope matchers",
        description="List the built-in matchers and every option they take.",
    )


def _bench_parser() -> argparse.ArgumentParser:
    from app import bench_ui
    from core.bench import cancel, pairs, roma_speed

    parser = _Parser(
        prog="matchscope bench",
        description="Measure the engine. roma-speed: our RoMa against romatch (the reference) "
        "with the same random weights, each in its own process: seconds per pair, peak memory, "
        "GFLOP, GFLOP/s, speedup and warp agreement. pairs: matchers against a dataset's ground "
        "truth (pose AUC, homography corner error, flow EPE and PCK), time and peak memory. "
        "cancel: seconds from Cancel until a RoMa run stops. ui: the window's time to answer a "
        "probe, raise a dock and start.",
    )
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    speed = benchmarks.add_parser(
        "roma-speed",
        help="our RoMa against romatch: time, peak memory, FLOPs, agreement",
        description="Time our RoMa against romatch on the same seeded random weights (DINOv2 "
        "ViT-L/14), each in its own subprocess, and print seconds per pair, peak memory (MB), "
        "GFLOP and GFLOP/s of each, the speedup and the warp agreement. The defaults are the "
        "released resolutions; try --coarse-res 126 --upsample-res 160 for a quick look.",
    )
    roma_speed.add_arguments(speed)
    accuracy = benchmarks.add_parser(
        "pairs",
        help="matchers against ground truth: pose AUC, homography and flow errors",
        description="Run one or several matchers over a dataset with ground truth and print "
        "their accuracy with the published protocols (relative pose: AUC@5/10/20 deg as "
        "SuperGlue/RoMa; homographies: HPatches' corner error and AUC@3/5/10 px, PCK@1/3/5 px; "
        "flow: EPE and PCK@1/3/5 px), seconds per pair and peak memory. The layout of --dataset "
        "is recognised (pairs_with_gt.txt, KITTI odometry, Oxford affine, HPatches, Middlebury "
        ".flo, MegaDepth/ScanNet-1500 scene-info .npz); an unknown one exits with status 2.",
    )
    pairs.add_arguments(accuracy)
    latency = benchmarks.add_parser(
        "cancel",
        help="seconds from Cancel until a RoMa run stops (and a plugin is abandoned)",
        description="Run RoMa with seeded random weights on the pair as the window does (in a "
        "thread of its own), once in full and then cancelled at --points instants, and print "
        "the seconds from cancel until the run stops: the median and the maximum over every "
        "instant of the full run and over the cancelled runs, against checking between stages "
        "only; then how long a plugin that ignores cancel takes to be abandoned.",
    )
    cancel.add_arguments(latency)
    ui = benchmarks.add_parser(
        "ui",
        help="the window: probe update, dock raise and start-up times; video seeks, sequence "
        "memory",
        description="Show a RoMa-sized result made without a network (864 x 864, 40 x 40 cells "
        "of 64 x 64 anchors, every intermediate, 5000 matches) in the window's default layout "
        "and measure the milliseconds from a probe change until every visible view has "
        "repainted (median, p95), from raising a tabbed dock until it has painted (p95 of the "
        "worst dock), and the seconds from starting `python main.py` to its window shown; then the "
        "milliseconds of exact random seeks in a 1240 x 376 H.264 video (a keyframe every 30 "
        "frames; in-order decode as the reference) and the peak memory over the caches' budgets "
        "of a long 1241 x 376 sequence walked pair by pair.",
    )
    bench_ui.add_arguments(ui)
    from core.bench import vo

    odometry = benchmarks.add_parser(
        "vo",
        help="our VO against a frame-to-frame essential-matrix chain: ATE, RPE, frames/s",
        description="Run our VO (each --frontend) and, in the same run, a frame-to-frame "
        "essential-matrix chain with unit-length steps and no map on a sequence with ground "
        "truth (or --synthetic N frames of the synthetic room, with turns and speed changes), "
        "and print ATE after Sim(3) alignment, RPE and frames per second of each.",
    )
    vo.add_arguments(odometry)

    from core.bench import roma_memory

    footprint = benchmarks.add_parser(
        "roma-memory",
        help="RoMa's peak memory against the estimate that refuses runs",
        description="Run RoMa with seeded random weights on the demo pair at each coarse/upsample "
        "setting, symmetric and one-way, and print the measured peak memory (MB) beside the "
        "estimate that refuses a run that will not fit (core.models.roma_memory).",
    )
    roma_memory.add_arguments(footprint)
    return parser


def _parse_settings(matcher: str, texts: list[str]) -> dict:
    from core.matchers import BUILTIN_MATCHERS, matcher_class
    from core.matchers.base import parse_setting

    defaults = matcher_class(matcher).default_conf if matcher in BUILTIN_MATCHERS else {}
    return dict(parse_setting(text, defaults) for text in texts)


def _read_pairs(path: Path) -> list[tuple[Path, Path]]:
    from core.errors import InputError
    from core.imageio import check_file

    check_file(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the pairs list ({exc.__class__.__name__})") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise InputError(path, f"line {number} names one image, expected 'A B'")
        pairs.append(
            tuple(
                p if p.is_absolute() else path.parent / p
                for p in (Path(fields[0]), Path(fields[1]))
            )
        )
    if not pairs:
        raise InputError(path, "lists no pairs")
    return pairs


def _check_readable(paths) -> None:
    """Fail before any work if an image is missing, unreadable or too large (headers only)."""
    from core.imageio import check_image

    for path in paths:
        check_image(path)


def _check_out(out: Path, flag: str = "--out") -> None:
    """Fail before any work if the folder of ``flag`` (``--out``) cannot be (or become) a
    writable folder; nothing is created here."""
    if out.exists() and not out.is_dir():
        raise MatchscopeError(f"{out}: {flag} exists and is not a folder")
    existing = out if out.exists() else next(p for p in out.absolute().parents if p.exists())
    if not existing.is_dir():
        raise MatchscopeError(f"{out}: cannot create the {flag} folder: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MatchscopeError(f"{out}: cannot write the {flag} folder: permission denied")


def _match_one(matcher, name: str, path_a: Path, path_b: Path, out: Path, args) -> str:
    from core.figures import draw_matches, save_figure
    from core.imageio import load_image
    from core.matchers import display_threshold
    from core.matches_csv import save_matches_csv
    from core.result import save_result
    from core.run import run_match

    image_a, image_b = load_image(path_a), load_image(path_b)
    result = run_match(matcher, image_a, image_b, matcher_name=name)
    threshold = display_threshold(matcher) if args.threshold is None else args.threshold
    try:
        out.mkdir(parents=True, exist_ok=True)
        save_result(result, out / "result.npz")
        save_matches_csv(result, out / "matches.csv")
        if not args.no_figure:
            figure = draw_matches(
                image_a.rgb,
                image_b.rgb,
                result.matches,
                result.match_certainty,
                threshold=threshold,
                max_lines=args.max_lines,
                names=(path_a.name, path_b.name),
                caption=_settings_caption(matcher, name),
                width_in=args.figure_width,
                dpi=args.dpi,
            )
            save_figure(figure, out / f"matches.{args.figure_format}", palette=True)
    except OSError as exc:
        raise MatchscopeError(f"{out}: cannot write the results ({exc.strerror or exc})") from None
    kept = int((result.match_certainty >= threshold).sum())
    return (
        f"{name}: {plural(result.num_matches, 'match')} ({kept} with certainty >= "
        f"{threshold:g}) in "
        f"{result.timings['total']:.2f} s -> {out}"
    )


def _settings_caption(matcher, name: str) -> str:
    """The matcher's name and the settings that differ from its defaults, for a caption."""
    defaults = getattr(type(matcher), "default_conf", {}) or {}
    conf = getattr(matcher, "conf", {}) or {}
    changed = [f"{key}={value}" for key, value in conf.items() if defaults.get(key) != value]
    return f"{name} ({', '.join(changed)})" if changed else f"{name} (default settings)"


def _pair_folder(index: int, path_a: Path, path_b: Path) -> str:
    name = f"{index:04d}_{path_a.stem}_{path_b.stem}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _run_match(argv: list[str]) -> int:
    from core.matchers import create_matcher

    args = _match_parser().parse_args(argv)
    if args.pairs and args.images:
        raise MatchscopeError("give either two images or --pairs FILE, not both")
    if not args.pairs and len(args.images) != 2:
        raise MatchscopeError(f"match needs two images (got {len(args.images)}) or --pairs FILE")
    out = Path(args.out)
    _check_out(out)
    pairs = _read_pairs(Path(args.pairs)) if args.pairs else [tuple(map(Path, args.images))]
    if not args.pairs:
        _check_readable(pairs[0])  # in a list, a bad image fails its own pair only
    settings = {**_parse_settings(args.matcher, args.settings), **_flag_settings(args)}
    matcher = create_matcher(args.matcher, settings)
    if not args.pairs:
        print(_match_one(matcher, args.matcher, *pairs[0], out, args))
        return 0

    from tqdm import tqdm

    failures = []
    bar = tqdm(pairs, desc="matching", unit="pair")
    for index, (path_a, path_b) in enumerate(bar):
        folder = out / _pair_folder(index, path_a, path_b)
        try:
            _match_one(matcher, args.matcher, path_a, path_b, folder, args)
        except Exception as exc:  # a bad image or a matcher that raises ends this pair only
            failures.append(
                f"pair {index} ({path_a} {path_b}): {failure_message(args.matcher, exc)}"
            )
            bar.set_postfix(failed=len(failures))
    bar.close()
    print(f"{len(pairs) - len(failures)} of {plural(len(pairs), 'pair')} matched -> {out}")
    for failure in failures:
        print(f"matchscope match: error: {failure}", file=sys.stderr)
    return 2 if failures else 0


def _run_vo(argv: list[str]) -> int:
    from app.cli_vo import run_vo_command

    return run_vo_command(argv)


def _run_vo_figure(argv: list[str]) -> int:
    from app.cli_vo import run_vo_figure_command

    return run_vo_figure_command(argv)


def _run_match_sequence(argv: list[str]) -> int:
    from app.cli_sequence import run_match_sequence

    return run_match_sequence(argv)


def _run_matchers(argv: list[str]) -> int:
    from core.matchers import BUILTIN_MATCHERS, matcher_class, matcher_weights

    _matchers_parser().parse_args(argv)
    shown: dict[str, str] = {}  # class target -> the first name it was shown under
    options_of: dict[tuple, str] = {}  # (options, help) -> the first matcher that has them
    for name, info in BUILTIN_MATCHERS.items():
        if info.target in shown:
            continue
        shown[info.target] = name
        aliases = [other for other, i in BUILTIN_MATCHERS.items() if i.target == info.target]
        also = f" (also: {', '.join(aliases[1:])})" if len(aliases) > 1 else ""
        cls = matcher_class(name)
        print(f"{name}{also}: {info.summary}")
        print(f"  weights: {_weights_line(matcher_weights(name))}")
        key = (tuple(cls.default_conf.items()), tuple(cls.conf_help.items()))
        if key in options_of:
            print(f"  options: those of {options_of[key]}")
            continue
        options_of[key] = name
        for option, value in cls.default_conf.items():
            print(f"  --set {option}={value}  {cls.conf_help.get(option, '')}")
    return 0


def _weights_line(found: dict) -> str:
    """Where each weight file is, or that it was not found and how to get it."""
    from core.weights import WEIGHT_FILES

    if not found:
        return "none needed"
    parts = []
    for name, place in found.items():
        if isinstance(place, Path):
            parts.append(f"{name} found ({place})")
        elif name not in WEIGHT_FILES:  # a keypoint matcher's detector or matcher
            parts.append(f"{name}: {place}")
        else:
            how = (
                "--download fetches it" if WEIGHT_FILES[name].url else "gated: download it yourself"
            )
            parts.append(f"{name} not found ({how})")
    return "; ".join(parts)


def _json_path(path: str | None, benchmark: str) -> str | None:
    """``--json``: a folder (an existing one, or a path ending in a separator) gets
    ``BENCHMARK.json`` inside it."""
    if path is None or not (path.endswith(("/", os.sep)) or Path(path).is_dir()):
        return path
    return str(Path(path) / f"{benchmark}.json")


def _run_bench(argv: list[str]) -> int:
    import shlex

    from core.bench import cancel, pairs, roma_speed

    args = _bench_parser().parse_args(argv)
    args.json = _json_path(args.json, args.benchmark)
    if args.benchmark == "pairs":
        pairs.run(args, command=shlex.join(["python", "main.py", "bench", *argv]))
    elif args.benchmark == "cancel":
        cancel.run(args)
    elif args.benchmark == "ui":
        from app import bench_ui

        bench_ui.run(args)
    elif args.benchmark == "vo":
        from core.bench import vo

        vo.run(args)
    elif args.benchmark == "roma-memory":
        from core.bench import roma_memory

        roma_memory.run(args)
    else:
        roma_speed.run(args)
    return 0


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the message."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; the property wins
        pass


def _log_to_stderr() -> None:
    """Notices of the engine (weights loaded or downloaded, their licences) go to stderr."""
    logger = logging.getLogger("matchscope")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("matchscope: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python main.py`` and the ``matchscope`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _log_to_stderr()
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    runners = {
        "match": _run_match,
        "match-sequence": _run_match_sequence,
        "vo": _run_vo,
        "vo-figure": _run_vo_figure,
        "extract": _run_extract,
        "matchers": _run_matchers,
        "bench": _run_bench,
    }
    if command is None:
        from app.cli_window import run_window as runner
    else:
        runner = runners[command]
    try:
        return runner(argv[1:] if command else argv)
    except MatchscopeError as exc:
        print(f"matchscope: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("matchscope: error: out of memory (try a smaller --set max_size)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `matchscope matchers | head`
        sys.stdout = open(os.devnull, "w")  # silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("matchscope: interrupted", file=sys.stderr)
        return 130
