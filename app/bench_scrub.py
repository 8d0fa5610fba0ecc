"""``bench ui``'s ``scrub_fps``: how fast the window follows a scrub over cached results.

The window is the app's own `MainWindow` (1400 x 900, its default layout) with a generated
KITTI-sized sequence open (1241 x 376, ``--scrub-frames`` frames: a textured image scrolled a
few pixels per frame, :class:`core.bench.sequence_speed.GeneratedSequence`) and every pair's
dense result already in the sequence's results with the warp pictures the matching thread makes
(a few distinct results shared by the pairs, so memory stays small; each pair is still shown
from scratch). The background matcher is stopped.
Each step asks for the next position as the timeline does (``MainWindow.request_position``) and
the clock runs until every visible view (the pair view and each visible dock, the Timeline and
Statistics included) has painted and a pass of the event loop paints nothing more (see
`app.bench_ui._Painted`). ``scrub_fps`` is the frames shown divided by the seconds they took;
``scrub_ms_p95`` the 95th percentile of one frame. The frames are decoded (generated) on the
way, as a scrub through a sequence not yet in the frame cache does.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from core.bench import measure
from core.coords import pixel_grid
from core.result import MatchResult

SCRUB_SIZE_WH = (1241, 376)
"""The scrubbed sequence's frames (width, height): KITTI odometry's images."""
DISTINCT_RESULTS = 4
WARMUP = 5
SCRUB_SHIFT = (3.0, 1.0)  # px: the generated sequence's scroll between frames


def scrub_result(height: int, width: int, seed: int) -> MatchResult:
    """A dense result of an (height, width) pair shifted by about `SCRUB_SHIFT`, with a
    smooth certainty and 5000 matches (what a dense matcher's result holds)."""
    rng = np.random.default_rng(seed)
    grid = pixel_grid(height, width)
    warp = grid + np.float32(SCRUB_SHIFT) + rng.normal(0, 0.3, (1, 1, 2)).astype(np.float32)
    ramp = np.linspace(0.2, 1.0, width, dtype=np.float32)
    certainty = np.broadcast_to(ramp, (height, width)).copy()
    ys = rng.integers(0, height, 5000)
    xs = rng.integers(0, width, 5000)
    matches = np.column_stack([xs, ys, warp[ys, xs, 0], warp[ys, xs, 1]]).astype(np.float32)
    return MatchResult(
        warp_ab=warp,
        certainty_ab=certainty,
        matches=matches,
        match_certainty=certainty[ys, xs],
    )


def measure_scrub(frames: int, size_wh: tuple[int, int], seed: int, window_size) -> dict:
    """``scrub_fps`` and the time per frame (module docstring) in this process."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from app.bench_ui import _docks, _Painted
    from app.state import AppState
    from app.window import MainWindow
    from core.bench.sequence_speed import GeneratedSequence
    from core.figures import warp_pictures
    from core.sequence.matching import PairStats

    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(imageAxisOrder="row-major")
    width, height = size_wh
    with measure.PeakMemory("cpu") as peak:
        state = AppState("sift")
        window = MainWindow(state)
        window.resize(*window_size)
        window.show()
        if not window.open_sequence_reader(lambda: GeneratedSequence(frames, size_wh, seed)):
            raise RuntimeError(state.error)
        window.sequence_matcher.stop()
        session = window.sequence
        session.results.set_budget(2**40)  # the pairs share `DISTINCT_RESULTS` results
        session.extras_budget = 2**40
        results = [scrub_result(height, width, seed + i) for i in range(DISTINCT_RESULTS)]
        rgb_b = session.reader.read(1)
        pictures = [warp_pictures(rgb_b, result.warp_ab) for result in results]
        for position in range(frames - 1):
            index = position % DISTINCT_RESULTS
            stats = PairStats(position, position + 1, 5000, 4500, 0.9, 0.6, 0.1)
            session.results.add(position, position + 1, results[index], stats)
            session.keep_extras((position, position + 1), None, pictures[index])
        window.stats_view.set_rows(session.stats_rows())
        window.timeline.set_done_pairs(session.results.done_positions())
        app.processEvents()
        visible, _ = _docks(window)
        painted = _Painted(visible)
        painted.settle(app, set(visible))
        times, timed_out = [], 0
        for step in range(WARMUP + frames - 1):
            position = step % (frames - 1)  # the last frame starts no pair
            painted.reset()
            start = time.perf_counter()
            window.request_position(position)
            settled = painted.settle(app, set(visible))
            elapsed = time.perf_counter() - start
            if step < WARMUP:
                continue
            if settled:
                times.append(elapsed)
            else:
                timed_out += 1
        window.close()
    total = sum(times)
    return {
        "scrub_fps": len(times) / total if total else None,
        "scrub_ms_median": float(np.median(times) * 1e3) if times else None,
        "scrub_ms_p95": float(np.percentile(times, 95) * 1e3) if times else None,
        "scrub_frames": len(times),
        "scrub_size_wh": list(size_wh),
        "scrub_visible_views": sorted(visible),
        "scrub_timed_out": timed_out,
        "scrub_peak_mb": peak.bytes / measure.MB,
    }
