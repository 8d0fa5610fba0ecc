"""`ScaleSelector`: the combo box that picks which of a dense result's scales a dock shows
(``"final"``, or a refiner's such as ``"coarse_s8"``: see :mod:`core.scales`)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from core.scales import FINAL, scale_label

TOOLTIP = (
    "Scale shown in the Certainty and Warp docks: after each refiner of the coarse pass "
    "(16 .. 1) and of the upsample pass (8 .. 1), or the final result (RoMa with intermediates)"
)


class ScaleSelector(QComboBox):
    """Items are scales (their labels shown, their names as data); ``scale_chosen(name)`` is
    emitted when the chosen one changes, never by :meth:`set_scales` or :meth:`set_current`.
    Disabled while there is nothing but ``"final"`` to choose."""

    scale_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip(TOOLTIP)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.set_scales([], FINAL)
        self.currentIndexChanged.connect(self._on_index_changed)

    def set_scales(self, scales: list[str], current: str) -> None:
        """Offer ``scales`` (in this order; [] offers only ``"final"``) with ``current``
        chosen."""
        offered = scales or [FINAL]
        if offered != self.scales():  # refilled only when they differ (a scrub: every frame)
            blocked = self.blockSignals(True)
            self.clear()
            for scale in offered:
                self.addItem(scale_label(scale), scale)
            self.blockSignals(blocked)
            self.setEnabled(self.count() > 1)
        self.set_current(current)

    def set_current(self, scale: str) -> None:
        """Show ``scale`` as chosen (``"final"`` when it is not offered)."""
        index = self.findData(scale)
        blocked = self.blockSignals(True)
        self.setCurrentIndex(index if index >= 0 else self.findData(FINAL))
        self.blockSignals(blocked)

    def _on_index_changed(self, index: int) -> None:
        if index >= 0:
            self.scale_chosen.emit(self.itemData(index))

    def scales(self) -> list[str]:
        """The scales offered, in order."""
        return [self.itemData(index) for index in range(self.count())]
