"""A saved VO run in Open3D's own window (no Qt): ``python -m core.vo.open3d_view DIR`` shows
the trajectory, the keyframes' frusta, the map points in their colours and the aligned ground
truth. Open3D's window cannot live inside Qt, so the app starts it as a separate process with
`launch_open3d_viewer`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.errors import InputError, MatchscopeError
from core.vo.scene import SCENE_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]


def viewer_command(run_dir: Path, python: str = sys.executable) -> list[str]:
    """The argv that opens the run folder ``run_dir`` in Open3D's window."""
    return [python, "-m", "core.vo.open3d_view", str(Path(run_dir).resolve())]


def launch_open3d_viewer(run_dir: Path, python: str = sys.executable) -> subprocess.Popen:
    """Start Open3D's window on the run folder ``run_dir`` (it must hold ``scene.npz``) in a
    process of its own, with ``python``; returns at once. An `InputError` when there is no
    scene."""
    run_dir = Path(run_dir)
    scene = run_dir / SCENE_FILE if run_dir.is_dir() else run_dir
    if not scene.is_file():
        raise InputError(run_dir, "no VO scene here (run `matchscope vo ... --out DIR` first)")
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.Popen(viewer_command(run_dir, python), env=env)


def main(argv: list[str] | None = None) -> int:
    """Open the run folder of ``argv`` in Open3D's window; returns when it is closed."""
    import argparse

    from core.vo.geometry3d import open3d_geometries, scene_geometry
    from core.vo.scene import load_scene

    parser = argparse.ArgumentParser(prog="python -m core.vo.open3d_view")
    parser.add_argument("run", metavar="DIR", help="a `matchscope vo` output folder")
    args = parser.parse_args(argv)
    try:
        scene = load_scene(Path(args.run))
    except MatchscopeError as exc:
        print(f"open3d_view: error: {exc}", file=sys.stderr)
        return 2
    import open3d as o3d

    geometries = list(open3d_geometries(scene_geometry(scene)).values())
    o3d.visualization.draw_geometries(
        geometries, window_name=f"Matchscope VO: {scene.name} ({scene.frontend})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
