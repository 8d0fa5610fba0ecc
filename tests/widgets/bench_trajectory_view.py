"""Times `TrajectoryView` on a large run: 1000 frames (334 keyframe frusta), 20000 map points.

    QT_QPA_PLATFORM=xcb xvfb-run -a python -m tests.widgets.bench_trajectory_view

Prints the milliseconds of `set_scene`, `update_scene`, `set_current` (the call, and the call
with a render of the canvas), a pick, and a full render (640 x 480, Mesa llvmpipe under Xvfb)."""

import time

import numpy as np
from PySide6.QtWidgets import QApplication

from tests.widgets.vo_scenes import circle_scene

CANVAS_SIZE = (640, 480)


def milliseconds(function, repeats: int) -> float:
    """The median milliseconds of ``repeats`` calls of ``function(i)``."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        function(i)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    app = QApplication.instance() or QApplication([])
    from widgets.trajectory_view import TrajectoryView

    scene = circle_scene(frames=1000, points=20000)
    view = TrajectoryView()
    view.canvas_widget.setFixedSize(*CANVAS_SIZE)
    view.show()
    app.processEvents()
    figures = {
        "set_scene": milliseconds(lambda i: view.set_scene(scene), 5),
        "update_scene": milliseconds(lambda i: view.update_scene(scene), 5),
        "render": milliseconds(lambda i: view.canvas.render(), 5),
        "set_current": milliseconds(lambda i: view.set_current(i), 200),
    }
    view.set_follow(True)
    figures["set_current, follow on"] = milliseconds(lambda i: view.set_current(i), 200)
    figures["set_current + render"] = milliseconds(
        lambda i: (view.set_current(i), view.canvas.render()), 10
    )
    view.set_colour_mode("depth")
    figures["set_current, depth colours"] = milliseconds(lambda i: view.set_current(i), 50)
    click = view.screen_position_of_frame(500)
    figures["pick"] = milliseconds(lambda i: view.pick(click), 20)
    print(f"{len(scene)} frames, {int(scene.keyframe.sum())} frusta, {len(scene.points)} points")
    for name, value in figures.items():
        print(f"  {name:28s} {value:8.2f} ms")


if __name__ == "__main__":
    main()
