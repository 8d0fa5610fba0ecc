"""A closed window leaves no reference cycles of the app's Qt objects: Python's garbage
collector would free them in whatever thread it runs in, a benchmark's worker included, where Qt
deadlocks or crashes (it did, when hover readouts held their views strongly)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QEvent

from app.state import AppState
from app.window import MainWindow


def test_a_closed_window_leaves_no_cycles_of_the_apps_objects(qtbot):
    gc.collect()
    window = MainWindow(AppState("sift"))
    window.show()
    qtbot.waitExposed(window)
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del window
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        ours = sorted(
            {
                f"{type(item).__module__}.{type(item).__qualname__}"
                for item in gc.garbage
                if type(item).__module__.split(".")[0] in ("app", "widgets")
            }
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert ours == []
