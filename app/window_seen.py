"""`OutOfSight`: a view whose dock is out of sight (a tab not raised, a closed dock) is not
updated on every frame of a sequence; its latest update runs when the dock is shown again.

A scrub shows a new pair every frame: drawing the Anchors, Attention, Keypoints and Matches
docks for frames nobody sees would cost milliseconds each (and lay the dock area out again).
Without a sequence, every view is updated at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from PySide6.QtWidgets import QDockWidget, QWidget

KINDS = ("data", "keypoint", "probe")
"""The kinds of update a view holds, in the order they run when its dock is shown (a new
pair's data first, then the keypoint chosen and the probe read from it)."""


class OutOfSight:
    """Holds the updates of ``docks``' views while ``holding`` (the window sets it while a
    sequence is open) and the dock is out of sight (Qt's ``visibilityChanged``; a dock never
    reported hidden counts as seen). It keeps no reference to the window: a cycle through the
    window would leave it to a garbage collection, which may run in a worker thread."""

    def __init__(self, docks: list[QDockWidget]):
        self.holding = False
        self._seen = {dock: True for dock in docks}
        self._pending: dict[QDockWidget, dict[str, Callable[[], None]]] = {}
        self._suspended = 0
        for dock in docks:
            dock.visibilityChanged.connect(partial(self._on_visibility, dock))

    def update(self, view: QWidget, kind: str, call: Callable[[], None]) -> None:
        """Run ``call`` (an update of ``view`` of one of `KINDS`) now, or keep it (replacing
        the one of that kind kept before) until ``view``'s dock is shown."""
        dock = view.parentWidget()
        holding = self.holding and not self._suspended
        if holding and dock in self._seen and not self._seen[dock]:
            self._pending.setdefault(dock, {})[kind] = call
            return
        call()

    def held(self, view: QWidget) -> list[str]:
        """The kinds of update ``view`` holds (in the order they will run)."""
        pending = self._pending.get(view.parentWidget(), {})
        return [kind for kind in KINDS if kind in pending]

    def flush(self) -> None:
        """Run every update held (the sequence closes: each view shows what the state has)."""
        for dock in list(self._pending):
            self._run(dock)

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Every view updated at once inside ``with`` (an export grabs views out of sight)."""
        self.flush()
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1

    def _on_visibility(self, dock: QDockWidget, visible: bool) -> None:
        self._seen[dock] = visible
        if visible:
            self._run(dock)

    def _run(self, dock: QDockWidget) -> None:
        pending = self._pending.pop(dock, {})
        for kind in KINDS:
            if kind in pending:
                pending[kind]()
