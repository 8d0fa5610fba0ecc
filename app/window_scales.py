"""Every scale in the Certainty and Warp docks: one scale selector in each, kept in step through
``AppState.scale``; a new result or a new scale redraws both docks at that scale (the warp's
pictures are made then, never per probe)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from core.figures import warp_pictures
from core.result import MatchResult
from core.scales import FINAL, result_scales, scale_label, scale_maps
from widgets.scale_selector import ScaleSelector


class ScaleViews:
    """The window's every-scale wiring: ``certainty_box`` (in the Certainty dock) and the Warp
    dock's ``scale_box`` both choose ``window.state.scale``."""

    def __init__(self, window):
        self.window = window
        state = window.state
        self.certainty_box = ScaleSelector()
        header = window.certainty_view.header
        header.addWidget(QLabel("Scale"))
        header.addWidget(self.certainty_box)
        header.addStretch(1)
        self.boxes = (self.certainty_box, window.warp_view.scale_box)
        for box in self.boxes:
            box.scale_chosen.connect(state.set_scale)
        state.scale_changed.connect(self._on_scale_changed)
        self._shown: tuple[MatchResult, str] | None = None  # what the docks show now

    def show_result(self, result: MatchResult) -> None:
        """A new dense ``result``: offer its scales and draw the chosen one."""
        self._shown = None
        for box in self.boxes:
            box.set_scales(result_scales(result), self.window.state.scale)
        self._draw(result, self.window.state.scale)

    def clear(self) -> None:
        """No dense result: only "final" to offer."""
        self._shown = None
        for box in self.boxes:
            box.set_scales([], FINAL)

    def _on_scale_changed(self, scale: str) -> None:
        for box in self.boxes:
            box.set_current(scale)
        result = self.window.state.result
        if result is not None and not result.is_sparse:
            self._draw(result, scale)

    def _draw(self, result: MatchResult, scale: str) -> None:
        if self._shown is not None and self._shown[0] is result and self._shown[1] == scale:
            return
        self._shown = (result, scale)
        window, state = self.window, self.window.state
        maps = scale_maps(result, scale) or scale_maps(result, FINAL)
        rgb_a, rgb_b = state.image_a.rgb, state.image_b.rgb
        pictures = state.warp_pictures if maps.scale == FINAL else None
        pictures = pictures or warp_pictures(rgb_b, maps.warp)
        label = scale_label(maps.scale)
        window.certainty_view.set_data(rgb_a, maps.certainty)
        window.certainty_view.set_title(f"certainty of A ({label})")
        window.warp_view.set_data(pictures, maps.certainty)
        window.warp_view.set_scale_maps(maps, rgb_b, label)
