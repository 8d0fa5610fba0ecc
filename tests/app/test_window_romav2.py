"""RoMa v2 in the window: the covariance ellipse at the probe, the Uncertainty dock, and the
Anchors dock showing v2's matching distribution, with a real checkpoint (random weights) and
real clicks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDockWidget

from core.matchers.romav2 import clear_model_cache
from tests.app.test_window import click_pixel, make_window, open_pair, pair  # noqa: F401


@pytest.fixture(scope="module")
def checkpoint(romav2_checkpoint):
    yield romav2_checkpoint
    clear_model_cache()


def test_the_probe_shows_the_covariance_and_the_docks_follow(qtbot, pair, checkpoint):  # noqa: F811
    settings = {
        "weights": str(checkpoint),
        "setting": "turbo",
        "resolution": "64",
        "bidirectional": "true",
        "intermediates": True,
        "num_samples": 200,
    }
    window = make_window(qtbot, "romav2", settings)
    open_pair(window, pair)
    state = window.state
    qtbot.waitUntil(lambda: state.result is not None, timeout=120_000)
    assert state.result.covariance_ab is not None

    docks = {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}
    docks["Anchors"].raise_()
    qtbot.waitUntil(window.anchor_view.isVisible, timeout=2000)
    click_pixel(qtbot, window, 100, 80)
    probe = state.probe
    assert probe.has_match and probe.covariance is not None
    one_sigma, two_sigma = window.pair_view.ellipses["b"]
    xs, ys = one_sigma.getData()
    assert len(xs) == 65
    # the 1-sigma ellipse is centred on the probe's match in B; the 2-sigma one twice as wide
    assert np.mean(xs[:-1]) == pytest.approx(probe.xb, abs=1e-6)
    assert np.mean(ys[:-1]) == pytest.approx(probe.yb, abs=1e-6)
    xs2, _ = two_sigma.getData()
    assert np.ptp(xs2) == pytest.approx(2 * np.ptp(xs), rel=1e-6)
    assert "px²" in window.probe_panel.fields["covariance"].text()

    view = window.anchor_view
    assert view.probs.shape == (4, 4) and view.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert "matcher's DPT head" in view.label.text()
    assert [step.name for step in view.inspection.path][:2] == ["matcher s4", "pass1 s4"]

    docks["Uncertainty"].raise_()
    uncertainty = window.uncertainty_view
    qtbot.waitUntil(uncertainty.isVisible, timeout=2000)
    sigma = uncertainty._values
    assert sigma.shape == (160, 200) and np.isfinite(sigma).any()
    xx, _, yy = probe.covariance
    assert sigma[80, 100] == pytest.approx(np.sqrt((xx + yy) / 2), rel=1e-4)
    box = uncertainty.map_box
    box.setCurrentIndex(1)  # anisotropy
    assert uncertainty._values.max() <= 1.0 and "anisotropy" in uncertainty.panel.title.text
