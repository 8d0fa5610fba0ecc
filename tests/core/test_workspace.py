"""`core.workspace`: the JSON round trip and when the saved result is reused."""

import json

import numpy as np
import pytest

from core.errors import InputError
from core.result import MatchResult, Provenance, save_result
from core.workspace import (
    Workspace,
    read_workspace,
    result_path,
    reusable_result,
    write_workspace,
)

SIZES = ((40, 50), (40, 60))


def workspace(tmp_path) -> Workspace:
    return Workspace(
        image_a=str(tmp_path / "a.png"),
        image_b=str(tmp_path / "b.png"),
        matcher="roma",
        settings={"coarse_res": 280},
        probe=(3.0, 4.5),
        weights={"roma_outdoor": {"path": str(tmp_path / "w.pth"), "sha256": "ab"}},
    )


def test_the_json_round_trip_and_the_result_reused_only_with_the_same_weights(tmp_path):
    ws, path = workspace(tmp_path), tmp_path / "ws.json"
    write_workspace(ws, path)
    assert read_workspace(path) == ws
    assert result_path(path) == tmp_path / "ws.result.npz"
    prov = Provenance(
        matcher="roma",
        settings={"coarse_res": 280, "upsample_res": 432},
        weights={"w.pth": "ab"},
        image_a=ws.image_a,
        image_b=ws.image_b,
        size_a=SIZES[0],
        size_b=SIZES[1],
    )
    matches = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    result = MatchResult(matches=matches, match_certainty=np.ones(1, np.float32), provenance=prov)
    assert reusable_result(path, ws, {"w.pth": "ab"}, SIZES) is None  # nothing saved yet
    save_result(result, result_path(path))
    assert reusable_result(path, ws, {"w.pth": "ab"}, SIZES).num_matches == 1
    assert reusable_result(path, ws, {"w.pth": "cd"}, SIZES) is None  # other weights now
    assert reusable_result(path, ws, {"w.pth": "ab"}, ((40, 50), (41, 60))) is None
    ws.settings["coarse_res"] = 560
    assert reusable_result(path, ws, {"w.pth": "ab"}, SIZES) is None


def test_pins_and_a_probe_of_b_keep_their_origin_and_old_files_stay_readable(tmp_path):
    ws, path = workspace(tmp_path), tmp_path / "ws.json"
    ws.probe, ws.pinned_probes = (7.0, 8.0, "b"), [[1.0, 2.0], [3.0, 4.5, "b"]]
    write_workspace(ws, path)
    saved = json.loads(path.read_text())
    assert saved["probe"] == [7, 8, "b"] and saved["pinned_probes"] == [[1, 2], [3, 4.5, "b"]]
    assert read_workspace(path) == ws

    saved.update(probe=[5, 6, "a"], pinned_probes=[[1, 2]])  # [x, y] and "a": pixels of A
    path.write_text(json.dumps(saved))
    back = read_workspace(path)
    assert back.probe == (5.0, 6.0) and back.pinned_probes == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[1]", "wants a JSON object"),
        ('{"version": 1, "images": {"a": "a", "b": "b"}}', "matcher is missing"),
        ('{"version": 1, "images": {"a": "a", "b": 2}, "matcher": "x"}', "images.b wants a str"),
        ('{"version": 1, "images": {"a": "a", "b": "b"}, "matcher": "x", "probe": [1]}', "probe"),
        (
            '{"version": 1, "images": {"a": "a", "b": "b"}, "matcher": "x", '
            '"pinned_probes": [[1, 2, "c"]]}',
            "pinned_probes wants",
        ),
    ],
)
def test_a_malformed_workspace_names_its_field(tmp_path, text, needle):
    path = tmp_path / "ws.json"
    path.write_text(text)
    with pytest.raises(InputError, match=needle):
        read_workspace(path)
