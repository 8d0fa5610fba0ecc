"""The 3D figure of a VO run (no Qt): the trajectory, the keyframes' frusta, the map points in
their colours and the aligned ground truth, drawn by Open3D's offscreen renderer (Filament; on
a headless machine Vulkan through Mesa's llvmpipe) from above and behind the path.

`render_scene_png` renders in a child process (``python -m core.vo.figure3d SCENE --out PNG
[--size WxH]``): a renderer that cannot start may abort its process, so a failure becomes a
one-line `MatchscopeError` here, never a crash of the caller.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.errors import MatchscopeError
from core.vo.geometry3d import (
    FRUSTUM_RGB,
    TRAJECTORY_RGB,
    TRUTH_RGB,
    SceneGeometry,
    open3d_geometries,
    scene_geometry,
)
from core.vo.scene import VoScene, load_scene, save_scene

REPO_ROOT = Path(__file__).resolve().parents[2]
RENDER_TIMEOUT_S = 180.0
FIELD_OF_VIEW_DEG = 50.0  # vertical


def view_camera(geometry: SceneGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An oblique bird's-eye camera on the whole scene: (3,) the point looked at (the centre
    of the trajectory and of the central 90 % of the map points), (3,) the eye, above (along
    ``geometry.up``) and behind (against the direction of travel), far enough for the
    scene's bounding sphere to fit the field of view, and (3,) its up vector (the direction of
    travel, as seen from above)."""
    parts = [geometry.trajectory]
    if len(geometry.points) >= 10:
        low, high = np.percentile(geometry.points, [5, 95], axis=0)
        parts.append(np.vstack([low, high]))
    if geometry.truth is not None:
        parts.append(geometry.truth)
    everything = np.vstack([np.zeros((1, 3)), *parts])
    low, high = everything.min(axis=0), everything.max(axis=0)
    centre, radius = (low + high) / 2, max(float(np.linalg.norm(high - low)) / 2, 1e-3)
    up = geometry.up
    if len(geometry.trajectory) >= 2:
        forward = geometry.trajectory[-1] - geometry.trajectory[0]
    else:
        forward = np.array([0.0, 0.0, 1.0])
    forward = forward - up * (forward @ up)
    if np.linalg.norm(forward) < 1e-9:  # travel along "up": any horizontal direction
        forward = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0])
    forward /= np.linalg.norm(forward)
    direction = 0.9 * up - 0.45 * forward
    distance = 1.05 * radius / np.sin(np.radians(FIELD_OF_VIEW_DEG) / 2)
    eye = centre + distance * direction / np.linalg.norm(direction)
    view_up = forward - direction * (forward @ direction) / (direction @ direction)
    return centre, eye, view_up / np.linalg.norm(view_up)


def _legend(image: np.ndarray, geometry: SceneGeometry, title: str) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with the title and a legend of colours, top left."""
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    size = max(12, image.shape[0] // 48)
    font = ImageFont.load_default(size)
    entries = [
        (title, (0, 0, 0)),
        (f"trajectory ({len(geometry.trajectory)} frames)", TRAJECTORY_RGB),
        (f"keyframes ({len(geometry.frustum_edges) // 8})", FRUSTUM_RGB),
        (f"map ({len(geometry.points)} points, image colours)", (0.4, 0.4, 0.4)),
    ]
    if geometry.truth is not None:
        entries.append(("ground truth (Sim(3)-aligned)", TRUTH_RGB))
    for row, (text, rgb) in enumerate(entries):
        colour = tuple(int(255 * c) if isinstance(c, float) else c for c in rgb)
        draw.text((size, size // 2 + row * int(size * 1.4)), text, fill=colour, font=font)
    return np.asarray(picture)


def render_in_process(scene: VoScene, path: Path, width: int, height: int) -> None:
    """Render ``scene`` into the PNG ``path`` (``width`` x ``height`` px) in this process (it
    may abort if no renderer can start: call `render_scene_png` instead)."""
    from open3d.visualization import rendering
    from PIL import Image

    geometry = scene_geometry(scene)
    renderer = rendering.OffscreenRenderer(width, height)
    renderer.scene.set_background([1.0, 1.0, 1.0, 1.0])
    renderer.scene.view.set_post_processing(False)  # the colours as given (no tone mapping)
    points = rendering.MaterialRecord()
    points.shader, points.point_size = "defaultUnlit", max(2.0, height / 320)
    lines = rendering.MaterialRecord()
    lines.shader, lines.line_width = "unlitLine", max(1.5, height / 400)
    path_lines = rendering.MaterialRecord()
    path_lines.shader, path_lines.line_width = "unlitLine", max(3.0, height / 240)
    for name, item in open3d_geometries(geometry).items():
        material = {"map": points, "frusta": lines}.get(name, path_lines)
        renderer.scene.add_geometry(name, item, material)
    centre, eye, up = view_camera(geometry)
    renderer.setup_camera(FIELD_OF_VIEW_DEG, centre, eye, up)
    image = np.asarray(renderer.render_to_image())[..., :3].copy()
    title = f"{scene.name}: {scene.frontend}"
    Image.fromarray(_legend(image, geometry, title)).save(path)


def render_scene_png(
    scene: VoScene | Path,
    path: Path,
    width: int = 1280,
    height: int = 960,
    timeout_s: float = RENDER_TIMEOUT_S,
) -> None:
    """Render ``scene`` (a `VoScene`, or a run folder / ``scene.npz``) into the PNG ``path``,
    ``width`` x ``height`` px, in a child process; a `MatchscopeError` with the child's last
    message when it fails (no renderer, a crash) or takes over ``timeout_s`` seconds."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="matchscope-figure-") as folder:
        if isinstance(scene, VoScene):
            source = Path(folder) / "scene.npz"
            save_scene(source, scene)
        else:
            source = Path(scene)
        command = [sys.executable, "-m", "core.vo.figure3d", str(source), "--out", str(path)]
        command += ["--size", f"{width}x{height}"]
        paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise MatchscopeError(
                f"the 3D figure took over {timeout_s:.0f} s (Open3D's offscreen renderer)"
            ) from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise MatchscopeError(f"the 3D figure could not be rendered (Open3D): {reason}")


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. ``1280x960``) as (width, height), each 16..8192 px; ValueError if not."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"not a size WxH: {text!r}") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"a size of 16 to 8192 px each: {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    """The child process: render the scene of ``argv`` (one error line on stderr, status 2)."""
    parser = argparse.ArgumentParser(prog="python -m core.vo.figure3d")
    parser.add_argument("scene", help="a run folder or its scene.npz")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--size", default="1280x960", help="WxH pixels (default 1280x960)")
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.size)
        render_in_process(load_scene(Path(args.scene)), Path(args.out), width, height)
    except (MatchscopeError, ValueError, OSError, RuntimeError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
