"""`UncertaintyView`: RoMa v2's per-pixel uncertainty of A's warp, beside the certainty.

The map is the warp's standard deviation ``sqrt(trace(C) / 2)`` in pixels of B, or the
anisotropy ``1 - l_min / l_max`` of the covariance's eigenvalues (0: a circle, 1: a line), from
``covariance_ab`` (:func:`core.probe.uncertainty_maps`); other matchers have no covariance.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QLabel

from core.probe import uncertainty_maps
from core.result import MatchResult
from widgets.heatmap_view import HeatmapView

SIGMA_LEVELS_PX = (0.0, 8.0)
"""The colour bar of the standard deviation: 0 to 8 px of B (larger values saturate)."""
MAPS = ("σ (px in B)", "anisotropy")


class UncertaintyView(HeatmapView):
    """The standard deviation or anisotropy of each pixel of A's warp, over A in grey."""

    def __init__(self, parent=None):
        super().__init__(
            "uncertainty of A's warp",
            pg.colormap.get("magma"),
            SIGMA_LEVELS_PX,
            "σ px",
            "σ {:.2f} px",
            parent,
        )
        self.map_box = QComboBox()
        self.map_box.addItems(MAPS)
        self.map_box.setToolTip("The covariance's standard deviation, or its anisotropy")
        self.map_box.currentIndexChanged.connect(self._show)
        self.header.addWidget(QLabel("Show"))
        self.header.addWidget(self.map_box)
        self.header.addStretch(1)
        self._rgb: np.ndarray | None = None
        self._maps: tuple[np.ndarray, np.ndarray] | None = None

    def set_result(self, rgb_a: np.ndarray | None, result: MatchResult | None) -> None:
        """A (H, W, 3) uint8 and the result whose ``covariance_ab`` is shown (if it has one)."""
        self._rgb = rgb_a
        covariance = None if result is None else result.covariance_ab
        self._maps = None if covariance is None else uncertainty_maps(covariance)
        self._show()

    def _show(self) -> None:
        anisotropy = self.map_box.currentIndex() == 1
        self.levels = (0.0, 1.0) if anisotropy else SIGMA_LEVELS_PX
        self.color_bar.setLevels(self.levels)
        self.color_bar.setLabel("left", "anisotropy" if anisotropy else "σ px")
        self.readout_format = "anisotropy {:.3f}" if anisotropy else "σ {:.2f} px"
        if self._maps is None:
            self.set_title("uncertainty: only RoMa v2 gives a covariance per pixel")
            self.set_data(self._rgb, None)
            return
        self.set_title("anisotropy of A's warp" if anisotropy else "σ of A's warp, px in B")
        self.set_data(self._rgb, self._maps[1 if anisotropy else 0].astype(np.float32))
