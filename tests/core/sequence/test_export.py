import threading

import cv2
import numpy as np
import pytest

from core.errors import MatchscopeError
from core.sequence.export import (
    PngSequenceWriter,
    VideoFrameWriter,
    export_frames,
    open_frame_writer,
)
from core.sequence.video import VideoReader
from core.synthetic import make_texture


def frames(count=12, size_wh=(64, 48)):
    """Textured frames, each scrolled 2 px from the one before."""
    base = make_texture(max(size_wh), seed=3)[: size_wh[1], : size_wh[0]]
    return [np.roll(base, 2 * i, axis=1) for i in range(count)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi"])
def test_a_video_reads_back_frame_by_frame(tmp_path, suffix):
    written = frames()
    assert export_frames(written, tmp_path / f"out{suffix}", fps=10) == 12
    reader = VideoReader(tmp_path / f"out{suffix}")
    assert len(reader) == 12 and reader.frames[1].timestamp == pytest.approx(0.1)
    for position, rgb in enumerate(written):
        decoded = reader.read(position)
        assert decoded.shape == (48, 64, 3)
        assert np.abs(decoded.astype(int) - rgb).mean() < 8


def test_odd_sizes_are_padded_by_repeating_the_last_row_and_column(tmp_path):
    written = frames(4, size_wh=(65, 47))
    with open_frame_writer(tmp_path / "odd.mp4", fps=25) as writer:
        assert isinstance(writer, VideoFrameWriter)
        for rgb in written:
            writer.write(rgb)
    reader = VideoReader(tmp_path / "odd.mp4")
    decoded = reader.read(2).astype(int)
    assert decoded.shape == (48, 66, 3)  # rounded up to even: yuv420p
    assert np.abs(decoded[:47, :65] - written[2]).mean() < 8
    assert np.abs(decoded[47, :65] - written[2][46]).mean() < 12
    assert np.abs(decoded[:47, 65] - written[2][:, 64]).mean() < 12


def test_a_png_folder_holds_every_frame_exactly(tmp_path):
    written = frames()
    assert export_frames(written, tmp_path / "pngs", fps=10) == 12
    files = sorted(p.name for p in (tmp_path / "pngs").iterdir())
    assert files == [f"frame_{i:06d}.png" for i in range(12)]
    for i, rgb in enumerate(written):
        bgr = cv2.imread(str(tmp_path / "pngs" / files[i]))
        np.testing.assert_array_equal(bgr[..., ::-1], rgb)


def test_frames_are_named_or_numbered_and_resized_to_the_first(tmp_path):
    (tmp_path / "existing.d").mkdir()
    small, large = frames(1)[0], cv2.resize(frames(1)[0], (128, 96))
    with open_frame_writer(tmp_path / "existing.d", fps=10) as writer:
        assert isinstance(writer, PngSequenceWriter)
        writer.write(small, name="pair_3_4")
        writer.write(large)  # twice the size: INTER_AREA down to the first's
    assert writer.size_wh == (64, 48) and writer.count == 2
    second = cv2.imread(str(tmp_path / "existing.d" / "frame_000001.png"))[..., ::-1]
    assert second.shape == (48, 64, 3) and np.abs(second.astype(int) - small).mean() < 6
    assert (tmp_path / "existing.d" / "pair_3_4.png").is_file()
    with pytest.raises(MatchscopeError, match="file name"):
        PngSequenceWriter(tmp_path / "other").write(small, name="../escape")


def test_a_cancelled_export_still_plays_the_frames_written(tmp_path):
    cancel, seen = threading.Event(), []

    def progress(count):
        seen.append(count)
        if count == 5:
            cancel.set()

    count = export_frames(frames(), tmp_path / "cut.mp4", 10, progress=progress, cancel=cancel)
    assert count == 5 and seen == [1, 2, 3, 4, 5]
    reader = VideoReader(tmp_path / "cut.mp4")
    assert len(reader) == 5
    assert np.abs(reader.read(4).astype(int) - frames()[4]).mean() < 8


def test_close_is_idempotent_and_an_empty_video_leaves_no_file(tmp_path):
    writer = open_frame_writer(tmp_path / "empty.mkv", fps=10)
    writer.close()
    writer.close()
    assert not (tmp_path / "empty.mkv").exists()
    with pytest.raises(MatchscopeError, match="closed"):
        writer.write(frames(1)[0])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing/out.mp4", "no folder"),
        ("out.gif", "cannot export to .gif"),
        ("out.png", "cannot export to .png"),
    ],
)
def test_bad_paths_are_one_line_errors(tmp_path, name, message):
    with pytest.raises(MatchscopeError, match=message) as error:
        open_frame_writer(tmp_path / name, fps=10)
    assert "\n" not in str(error.value)


def test_unwritable_places_and_bad_rates_are_one_line_errors(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(MatchscopeError, match="cannot make the folder"):
        open_frame_writer(tmp_path / "a_file" / "pngs", fps=10)
    with pytest.raises(MatchscopeError, match="frame rate"):
        open_frame_writer(tmp_path / "out.mp4", fps=0)
