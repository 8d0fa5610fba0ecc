"""`ScaleActions`: every scale in the Certainty and Warp docks (mixed into
`app.window.MainWindow`): one scale selector in each dock, kept in step through
``AppState.scale``; a new result or a new scale redraws both docks at that scale (the warp's
pictures are made then, never per probe)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from core.figures import warp_pictures
from core.result import MatchResult
from core.scales import FINAL, result_scales, scale_label, scale_maps
from widgets.scale_selector import ScaleSelector


class ScaleActions:
    """Scale slots of `MainWindow` (``state``, ``certainty_view`` and ``warp_view`` are the
    window's); ``certainty_scale_box`` (in the Certainty dock) and the Warp dock's
    ``warp_view.scale_box`` both choose ``state.scale``."""

    def _install_scale_selectors(self) -> None:
        self.certainty_scale_box = ScaleSelector()
        header = self.certainty_view.header
        header.addWidget(QLabel("Scale"))
        header.addWidget(self.certainty_scale_box)
        header.addStretch(1)
        for box in self._scale_boxes():
            box.scale_chosen.connect(self.state.set_scale)
        self.state.scale_changed.connect(self._on_scale_changed)
        self._scale_shown: tuple[MatchResult, str] | None = None  # what the docks show now

    def _scale_boxes(self) -> tuple[ScaleSelector, ScaleSelector]:
        return self.certainty_scale_box, self.warp_view.scale_box

    def _show_scales(self, result: MatchResult | None) -> None:
        """A new result: offer its scales and, when it is dense, draw the chosen one."""
        self._scale_shown = None
        dense = result is not None and not result.is_sparse
        for box in self._scale_boxes():
            box.set_scales(result_scales(result), self.state.scale)
        if dense:
            self._draw_scale(result, self.state.scale)
        else:
            self.certainty_view.set_title("certainty of A")

    def _on_scale_changed(self, scale: str) -> None:
        for box in self._scale_boxes():
            box.set_current(scale)
        result = self.state.result
        if result is not None and not result.is_sparse:
            self._draw_scale(result, scale)

    def _draw_scale(self, result: MatchResult, scale: str) -> None:
        shown = self._scale_shown
        if shown is not None and shown[0] is result and shown[1] == scale:
            return
        self._scale_shown = (result, scale)
        state = self.state
        maps = scale_maps(result, scale) or scale_maps(result, FINAL)
        rgb_a, rgb_b = state.image_a.rgb, state.image_b.rgb
        pictures = state.warp_pictures if maps.scale == FINAL else None
        pictures = pictures or warp_pictures(rgb_b, maps.warp)
        label = scale_label(maps.scale)
        self.certainty_view.set_data(rgb_a, maps.certainty)
        self.certainty_view.set_title(f"certainty of A ({label})")
        self.warp_view.set_data(pictures, maps.certainty, maps, rgb_b, label)
