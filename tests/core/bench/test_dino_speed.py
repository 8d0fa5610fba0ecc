"""``python -m core.bench.dino_speed`` on tiny frames: both modes timed and printed."""

from __future__ import annotations

from core.bench import dino_speed


def test_dino_speed_times_both_modes(capsys, monkeypatch):
    results = dino_speed.measure(1, (112, 154), "dinov2_vits14", max_size=56)
    assert set(results) == {"gradient/raw", "learned/refined"}
    row = results["learned/refined"]
    assert row["fps"] > 0 and row["detect_s"] > 0
    assert row["keypoints"] == 3 * 4  # a 42 x 56 input: 3 x 4 cells, one keypoint each
    monkeypatch.setattr(dino_speed, "measure", lambda *args: results)
    dino_speed.main(["--frames", "1", "--size", "112x154", "--max-size", "56"])
    out = capsys.readouterr().out
    assert "154 x 112 (max_size 56)" in out and "gradient/raw" in out and "frames/s" in out
