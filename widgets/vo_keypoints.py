"""`VoKeypointItems`: a frame's VO keypoints over its image in a 2D view, coloured by status
(`core.vo.scene.KEYPOINT_*`): PnP inliers green, matched to a map point but rejected red, no map
point small and grey."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

STATUS_STYLES = (  # by status 0 (none), 1 (inlier), 2 (outlier): (colour RGBA, size px)
    ((200, 200, 200, 110), 3),
    ((40, 230, 90, 230), 6),
    ((255, 60, 60, 230), 6),
)
"""How each keypoint status is drawn."""


class VoKeypointItems(pg.ItemGroup):
    """One scatter per status (a uniform brush each: thousands of dots stay cheap), in the
    pixel coordinates of the view they are added to."""

    def __init__(self):
        super().__init__()
        self.setZValue(6)  # over the trails (5), under the pins (9)
        self.scatters = []
        for colour, size in STATUS_STYLES:
            scatter = pg.ScatterPlotItem(pxMode=True, size=size, pen=None, brush=colour)
            scatter.setParentItem(self)
            self.scatters.append(scatter)
        self.counts = (0, 0, 0)  # what is drawn, by status

    def set_keypoints(self, keypoints: np.ndarray | None, status: np.ndarray | None) -> None:
        """(K, 2) pixels (x, y) and (K,) int statuses; None clears them."""
        if keypoints is None:
            keypoints, status = np.zeros((0, 2)), np.zeros(0, np.int8)
        counts = []
        for value, scatter in enumerate(self.scatters):
            chosen = keypoints[status == value]
            scatter.setData(x=chosen[:, 0], y=chosen[:, 1])
            counts.append(len(chosen))
        self.counts = tuple(counts)
