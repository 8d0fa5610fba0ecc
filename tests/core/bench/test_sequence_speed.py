import numpy as np
import pytest

from core.bench import sequence_speed
from core.bench.sequence_speed import (
    GeneratedSequence,
    bench_frame,
    encode_bench_video,
    frame_index,
    keyframe_positions,
    measure_seeks,
    measure_sequence_memory,
    texture,
)
from core.sequence.video import VideoReader


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("seek") / "bench.mp4"
    return encode_bench_video(path, size_wh=(64, 48), frames=40, gop=10)


def test_the_bench_video_has_a_keyframe_every_gop_and_moving_texture(video):
    assert keyframe_positions(video) == [0, 10, 20, 30]
    reader = VideoReader(video)
    first, second = reader.read(0).astype(int), reader.read(1).astype(int)
    assert first.shape == (48, 64, 3) and first[8:].std() > 20  # not flat below the bar code
    assert np.abs(first[8:] - second[8:]).mean() > 10  # it moves


def test_the_bar_code_survives_compression(video):
    reader = VideoReader(video)
    assert [frame_index(reader.read(p), 40) for p in range(40)] == list(range(40))
    base = texture((1240, 376), seed=1)
    assert frame_index(bench_frame(base, 499, 500), 500) == 499


def test_measure_seeks_reports_exact_seeks(video):
    figures = measure_seeks(video, seeks=20, seed=1)
    assert figures["seek_exact"] is True and figures["wrong_frames"] == 0
    assert figures["frames"] == 40 and figures["seeks"] == 20
    assert 0 < figures["seek_ms_median"] <= figures["seek_ms_p95"] <= figures["seek_ms_max"]
    assert 0 < figures["sequential_ms_per_frame"] < 1000
    assert 0 < figures["decoder_seeks"] <= 20


def test_generated_frames_are_new_arrays_of_the_size_asked_for():
    reader = GeneratedSequence(5, (65, 48), seed=0)
    assert len(reader) == 5 and reader.read(2).shape == (48, 65, 3)
    assert reader.read(2) is not reader.read(2)
    np.testing.assert_array_equal(reader.read(1), np.roll(reader.read(0), (1, 3), axis=(0, 1)))


def test_measure_sequence_memory_counts_the_peak_against_the_budgets():
    frame_bytes = 48 * 65 * 3
    budget = 20 * frame_bytes
    figures = measure_sequence_memory(
        200, (65, 48), cache_budget_bytes=budget, seed=0, results_budget_bytes=1 << 20
    )
    assert figures["sequence_frames"] == 200
    assert figures["cache_budget_mb"] == pytest.approx(budget / 2**20)
    assert figures["results_budget_mb"] == 1.0
    assert figures["frame_cache_mb"] * 2**20 == 20 * frame_bytes  # the cache filled to its budget
    pair_bytes = sequence_speed.PAIR_MATCHES * 5 * 4
    assert figures["results_cache_mb"] * 2**20 == (2**20 // pair_bytes) * pair_bytes
    assert figures["peak_over_budget_mb"] == pytest.approx(
        figures["peak_growth_mb"] - figures["cache_budget_mb"] - figures["results_budget_mb"]
    )
    assert 0 <= figures["peak_growth_mb"] < 200 and figures["peak_memory_method"]
