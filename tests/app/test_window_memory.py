"""A RoMa run that will not fit in memory is refused in the window: the message in the status
bar and the Probe panel, no crash, and the next run goes on."""

from __future__ import annotations

from core import memory
from core.matchers.roma import clear_model_cache
from tests.app.test_window import make_window, open_pair, pair  # noqa: F401 (a fixture)
from tests.core.test_roma_matcher import SMALL, weights  # noqa: F401 (a fixture)


def test_the_window_shows_the_refusal(qtbot, pair, weights, monkeypatch):  # noqa: F811
    clear_model_cache()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**20)
    settings = {
        **SMALL,
        "roma_weights": str(weights / "roma_outdoor.pth"),
        "dino_weights": str(weights / "dinov2_vits14_pretrain.pth"),
    }
    window = make_window(qtbot, "roma", settings)
    open_pair(window, pair)
    qtbot.waitUntil(lambda: window.state.error != "", timeout=5000)
    status = window.statusBar().currentMessage()
    assert "out of memory on cpu" in status and "GiB available" in status
    assert "--preview" in window.probe_panel.message.text()
    assert window.state.result is None

    window.matcher_combo.setCurrentText("dense-flow")  # the window goes on
    qtbot.waitUntil(lambda: window.state.result is not None, timeout=4000)
