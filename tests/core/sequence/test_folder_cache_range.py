import numpy as np
import pytest

from core.errors import InputError, MatchscopeError
from core.imageio import save_image
from core.sequence import (
    DATASET_LAYOUTS,
    FrameCache,
    ImageFolderReader,
    VideoReader,
    open_sequence,
    parse_frame_range,
    select_frames,
)
from tests.core.sequence.videos import encode, identify, pattern


def _folder(tmp_path, names):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, name in enumerate(names):
        save_image(folder / name, pattern(i))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_folder_is_read_in_natural_order(tmp_path):
    folder = _folder(tmp_path, ["1.png", "2.png", "10.png", "frame_011.jpg", "extra.png"])
    reader = open_sequence(folder)
    assert isinstance(reader, ImageFolderReader)
    paths = [f.path.rsplit("/", 1)[-1] for f in reader.frames]
    assert paths == ["1.png", "2.png", "10.png", "extra.png", "frame_011.jpg"]
    assert [f.frame_id for f in reader.frames] == [1, 2, 10, "extra", 11]
    assert reader.read(2).shape == (48, 64, 3)
    assert identify(reader.read(2)) == 2  # 10.png was written third


def test_empty_folder_and_missing_path_are_input_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="no image files"):
        open_sequence(tmp_path / "empty")
    with pytest.raises(InputError, match="no such file or folder"):
        open_sequence(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"notes\.txt: not a sequence"):
        open_sequence(tmp_path / "notes.txt")


def test_dataset_layouts_are_tried_before_the_image_folder(tmp_path):
    folder = _folder(tmp_path, ["0.png", "1.png"])
    opened = []

    def open_layout(path, camera):
        opened.append(camera)
        return ImageFolderReader(path)

    DATASET_LAYOUTS.append((lambda path: path.name == "frames", open_layout))
    try:
        assert len(open_sequence(folder, camera="image_1")) == 2
    finally:
        DATASET_LAYOUTS.pop()
    assert opened == ["image_1"]
    with pytest.raises(InputError, match="--camera"):
        open_sequence(folder, camera="image_1")


def test_cache_stays_within_its_budget(tmp_path):
    reader = VideoReader(encode(tmp_path / "v.mkv", frames=12))
    frame_bytes = 48 * 64 * 3
    cache = FrameCache(reader, max_bytes=3 * frame_bytes + 100)
    for p in [0, 1, 2, 3, 1, 4, 5, 1]:
        frame = cache.get(p)
        assert identify(frame) == p
        assert cache.nbytes <= cache.max_bytes
    assert len(cache) == 3 and 1 in cache and 0 not in cache  # 1 recently used: kept
    assert cache.hits == 2 and cache.misses == 6
    tiny = FrameCache(reader, max_bytes=10)
    assert identify(tiny.get(4)) == 4 and len(tiny) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:50", slice(10, 50)),
        (":100", slice(None, 100)),
        ("5:", slice(5, None)),
        ("::3", slice(None, None, 3)),
        ("2:9:2", slice(2, 9, 2)),
    ],
)
def test_frame_ranges_parse_like_python_slices(text, expected):
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", "expected A:B"),
        ("1:2:3:4", "expected A:B"),
        ("a:5", "whole numbers"),
        ("-3:", "start at 0"),
        ("9:4", "greater"),
        ("::0", "at least 1"),
    ],
)
def test_bad_frame_ranges_are_one_line_errors(text, message):
    with pytest.raises(MatchscopeError, match=message) as info:
        parse_frame_range(text)
    assert "\n" not in str(info.value)


def test_selected_frames_are_renumbered_and_keep_their_ids(tmp_path):
    folder = _folder(tmp_path, [f"{i}.png" for i in range(8)])
    reader = ImageFolderReader(folder)
    reader.poses = np.arange(8, dtype=float)[:, None, None] * np.ones((8, 4, 4))
    view = select_frames(reader, "3:6")
    assert [f.position for f in view.frames] == [0, 1, 2]
    assert [f.frame_id for f in view.frames] == [3, 4, 5]
    assert identify(view.read(1)) == 4
    assert view.poses[:, 0, 0].tolist() == [3, 4, 5]
    assert len(open_sequence(folder, frames="5:")) == 3
    every_third = select_frames(reader, "::3")
    assert [f.frame_id for f in every_third.frames] == [0, 3, 6]
    assert every_third.poses[:, 0, 0].tolist() == [0, 3, 6] and identify(every_third.read(2)) == 6
    with pytest.raises(MatchscopeError, match="no frames there"):
        select_frames(reader, "20:30")
