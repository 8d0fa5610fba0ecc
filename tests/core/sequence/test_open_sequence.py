"""`open_sequence` recognises each dataset layout before a plain image folder, and applies
``--frames`` and a user's intrinsics file to any of them."""

from __future__ import annotations

import json

from core.sequence import open_sequence
from core.sequence.euroc import EurocReader
from core.sequence.kitti import KittiReader
from core.sequence.tum import TumReader
from tests.core.sequence.test_euroc import write_euroc
from tests.core.sequence.test_kitti import write_kitti
from tests.core.sequence.test_tum import write_tum


def test_each_layout_is_recognised_and_ranges_and_intrinsics_apply(tmp_path):
    kitti = tmp_path / "kitti"
    write_kitti(kitti)
    reader = open_sequence(kitti, frames="1:")
    assert [frame.frame_id for frame in reader.frames] == [1, 2, 5]  # a gap is one step
    assert isinstance(open_sequence(kitti), KittiReader)
    tum = tmp_path / "rgbd_dataset_freiburg1_xyz"
    write_tum(tum)
    assert isinstance(open_sequence(tum), TumReader)
    euroc = tmp_path / "euroc"
    write_euroc(euroc)
    assert isinstance(open_sequence(euroc), EurocReader)
    calibration = tmp_path / "camera.json"
    calibration.write_text(json.dumps({"fx": 100, "fy": 101, "cx": 32, "cy": 24}))
    reader = open_sequence(kitti / "image_0", intrinsics_path=calibration)
    assert len(reader) == 4  # the camera folder alone: a plain image folder
    assert reader.intrinsics.K[0, 0] == 100 and reader.intrinsics.K[1, 1] == 101
