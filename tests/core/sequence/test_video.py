import itertools
import random

import av
import pytest

from core.errors import InputError
from core.sequence import VideoReader
from tests.core.sequence.videos import corrupt_frame, encode, identify

CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {
        suffix: encode(folder / f"v{suffix}", codec=CODEC if suffix != ".avi" else "mpeg4")
        for suffix in (".mp4", ".mkv", ".avi", ".mov")
    }


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi", ".mov"])
def test_random_seeks_return_exactly_the_frame_asked_for(videos, suffix):
    reader = VideoReader(videos[suffix])
    assert len(reader) == 40
    order = list(range(40)) * 2
    random.Random(0).shuffle(order)  # forward and backward jumps, across keyframes
    assert [identify(reader.read(p)) for p in order] == order
    timestamps = [f.timestamp for f in reader.frames]
    assert timestamps[0] == 0 and all(b > a for a, b in itertools.pairwise(timestamps))
    assert timestamps[1] == pytest.approx(0.04)
    assert [f.frame_id for f in reader.frames] == list(range(40))


def test_reading_forward_decodes_without_seeking(videos):
    reader = VideoReader(videos[".mp4"])
    reader.read(25)
    seeks = reader.seeks
    assert [identify(reader.read(p)) for p in range(26, 40)] == list(range(26, 40))
    assert reader.seeks == seeks
    reader.read(3)  # backward: one seek
    assert reader.seeks == seeks + 1


def test_close_then_read_reopens(videos):
    reader = VideoReader(videos[".mkv"])
    reader.read(5)
    reader.close()
    assert identify(reader.read(7)) == 7


def test_garbage_and_missing_files_are_input_errors(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all " * 50)
    with pytest.raises(InputError, match=r"garbage\.mp4: not a readable video"):
        VideoReader(garbage)
    with pytest.raises(InputError, match="no such"):
        VideoReader(tmp_path / "missing.mp4")


def test_truncated_mp4_without_index_is_an_input_error(tmp_path, videos):
    data = videos[".mp4"].read_bytes()  # moov atom at the end: cut off with the tail
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 8 // 10])
    with pytest.raises(InputError, match=r"cut\.mp4"):
        VideoReader(cut)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_truncated_video_still_reads_its_first_frames(tmp_path, suffix):
    options = {"movflags": "faststart"} if suffix == ".mp4" else None
    data = encode(tmp_path / f"full{suffix}", codec=CODEC, options=options).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 8 // 10])
    reader = VideoReader(cut)
    assert 8 <= len(reader) < 40
    assert [identify(reader.read(p)) for p in range(8)] == list(range(8))
    for p in range(len(reader)):  # the frames past the cut fail one by one; nothing hangs
        try:
            reader.read(p)
        except InputError as exc:
            assert f"frame {p}" in str(exc)


def test_a_corrupt_frame_in_the_middle_fails_alone(tmp_path):
    path = encode(tmp_path / "v.mkv", codec=CODEC)
    broken, (gop_start, gop_end) = corrupt_frame(path, 10, tmp_path / "broken.mkv")

    reader = VideoReader(broken)
    assert len(reader) == 40
    with pytest.raises(InputError, match="frame 10 cannot be decoded"):
        reader.read(10)
    clean = [p for p in range(40) if p < gop_start or p >= gop_end]
    for p in reversed(clean):
        assert identify(reader.read(p)) == p
    for p in range(40):  # every other frame reads (those depending on 10 are concealed)
        if p != 10:
            reader.read(p)
