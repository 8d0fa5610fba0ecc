"""`AppState`: the one evented model the window and every view listen to (no Qt).

It holds the image pair, the matcher, the latest result, the probe (clicked in A or in B), up to
``MAX_PINS`` pinned probes (re-read from each new result), the selected keypoint of A
(the Keypoints dock's probe), the certainty threshold (set to the matcher's display threshold
whenever a matcher is chosen), whether model and keypoint matchers keep their intermediates (on
by default when the window starts on a keypoint matcher), and a status line. A pair opened from a
benchmark also carries its ground truth: then each result comes with its errors against it
(`truth_errors`) and the probe with the truth at its pixel (`probe_truth`). Runs are identified by a
monotonically increasing request id; whatever arrives for an older id (a result, progress, an
error) is dropped, so a slow run never overwrites a newer one. Every result taken also goes into
the session's run store (`runs`, a `core.run_store.RunStore` bounded by a byte budget, see
`set_run_budget`) with its label, pair and errors, for the Compare dock.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from psygnal import Signal

from core.bench.truth import GroundTruth, PixelTruth, ResultErrors
from core.errors import MatchscopeError
from core.figures import WarpPictures
from core.imageio import LoadedImage, load_image
from core.keypoint_probe import KeypointReading, has_keypoints, nearest_keypoint, read_keypoint
from core.matchers import display_threshold
from core.probe import (
    MAX_PINS,
    PIN_COLOURS,
    SNAP_RADIUS_PX,
    PinnedProbe,
    ProbeReading,
    read_at,
    read_probe,
    read_probe_b,
)
from core.result import MatchResult
from core.run_store import DEFAULT_BUDGET_BYTES, RunStore, run_label
from core.run_store import pair_key as content_key
from core.scales import FINAL, result_scales
from core.text import plural

_MODEL_MATCHERS = ("roma", "roma-outdoor", "roma-indoor")  # take a weights folder
KEYPOINT_MATCHERS = (
    "aliked-lightglue",
    "disk-lightglue",
    "xfeat",
    "xfeat-star",
    "xfeat-lighterglue",
)
"""Trained keypoint matchers: they keep intermediates (score maps, LightGlue's assignment)."""


class AppState:
    """Evented state of one window; every change emits the signal named after it."""

    images_changed = Signal()
    matcher_changed = Signal(str)
    result_changed = Signal(object)  # MatchResult | None
    probe_changed = Signal(object)  # ProbeReading | None
    pins_changed = Signal(object)  # list[PinnedProbe]
    keypoint_changed = Signal(object)  # KeypointReading | None
    threshold_changed = Signal(float)
    scale_changed = Signal(str)  # the scale the Certainty and Warp docks show (core.scales)
    keep_intermediates_changed = Signal(bool)
    status_changed = Signal(str)
    error_changed = Signal(str)  # "" once cleared
    running_changed = Signal(bool)
    progress_changed = Signal(str, float)  # stage, fraction of the run done
    run_finished = Signal(str)  # "ok", "failed" or "cancelled"
    runs_changed = Signal()  # a run was added to `runs` or dropped from it

    def __init__(self, matcher: str = "dense-flow", settings: dict | None = None):
        self.image_a: LoadedImage | None = None
        self.image_b: LoadedImage | None = None
        self.ground_truth: GroundTruth | None = None  # of a pair opened from a benchmark
        self.truth_errors: ResultErrors | None = None  # the result against the ground truth
        self.probe_truth: PixelTruth | None = None  # the truth at the probed pixel
        self.warp_pictures: WarpPictures | None = None  # the result's flow colours, B onto A
        self.matcher = matcher
        self._settings = {matcher: dict(settings or {})}
        self.result: MatchResult | None = None
        self.probe: ProbeReading | None = None
        self.pinned: list[PinnedProbe] = []  # at most MAX_PINS, in the order pinned
        self.keypoint: KeypointReading | None = None  # selected in the Keypoints dock
        self._kept_probe: ProbeReading | None = None  # a sequence's probe while a pair waits
        self._clicked: tuple[str, float, float] | None = None  # the last click: origin, x, y
        self.snap_radius = SNAP_RADIUS_PX  # pixels, from the zoom of the last click
        self.threshold = display_threshold(matcher)
        self.scale = FINAL  # one of core.scales.result_scales(result)
        self.status = "Open two images to match."
        self.error = ""
        self.request_id = 0
        self.running = False
        self.cancelling = False  # Cancel was pressed; the run has not stopped yet
        self.fraction = 0.0  # of the running run done, as last reported
        self.weights_dir = ""  # the app's settings folder for model weights ("" = none)
        self.runs = RunStore(DEFAULT_BUDGET_BYTES)  # this session's results, for Compare
        self._request_label = matcher  # `run_label` of the request running
        self._pair_key: str | None = None  # `pair_key` of the images, once asked for
        # model matchers keep anchors, attention, ... (on when the settings ask for them, and
        # by default for keypoint matchers, whose Keypoints dock shows them)
        self.keep_intermediates = bool(
            self.settings.get("intermediates", matcher in KEYPOINT_MATCHERS)
        )

    @property
    def settings(self) -> dict:
        """Settings of the current matcher (each matcher remembers its own)."""
        return dict(self._settings.get(self.matcher, {}))

    def run_settings(self) -> dict:
        """The current matcher's settings for a run (see `settings_for`); model and keypoint
        matchers also get ``intermediates=True`` while `keep_intermediates` is on."""
        settings = self.settings_for(self.matcher)
        if self.takes_intermediates and self.keep_intermediates:
            settings["intermediates"] = True
        return settings

    def settings_for(self, name: str) -> dict:
        """Matcher ``name``'s settings as the user set them; models also get the weights folder;
        model and keypoint matchers never ``intermediates`` (a benchmark runs matchers with
        these)."""
        settings = dict(self._settings.get(name, {}))
        if name in (*_MODEL_MATCHERS, *KEYPOINT_MATCHERS):
            settings.pop("intermediates", None)
        if name in _MODEL_MATCHERS:
            if self.weights_dir:
                settings.setdefault("settings_dir", self.weights_dir)
        return settings

    @property
    def is_model_matcher(self) -> bool:
        """Whether the current matcher is a model (takes weights, keeps intermediates)."""
        return self.matcher in _MODEL_MATCHERS

    @property
    def takes_intermediates(self) -> bool:
        """Whether the current matcher keeps intermediates when asked (a model or a trained
        keypoint matcher)."""
        return self.matcher in (*_MODEL_MATCHERS, *KEYPOINT_MATCHERS)

    @property
    def has_pair(self) -> bool:
        return self.image_a is not None and self.image_b is not None

    @property
    def pair_key(self) -> str | None:
        """The content key of the images (`core.run_store.pair_key`; None without a pair)."""
        if self._pair_key is None and self.has_pair:
            self._pair_key = content_key(self.image_a.rgb, self.image_b.rgb)
        return self._pair_key

    def set_run_budget(self, budget_bytes: int) -> None:
        """How many bytes the session's runs may hold; runs beyond it are dropped (least
        recently used first, never the current one)."""
        if self.runs.set_budget(budget_bytes):
            self.runs_changed.emit()

    # images and matcher -------------------------------------------------------------------------

    def set_images(
        self,
        image_a: LoadedImage | None,
        image_b: LoadedImage | None,
        ground_truth: GroundTruth | None = None,
    ) -> None:
        """Replace both images (and the ground truth: None unless given); clears the result and
        probe and makes running requests stale."""
        self.image_a, self.image_b = image_a, image_b
        self.ground_truth = ground_truth
        self._pair_key = None
        self._kept_probe = self._clicked = None
        self.request_id += 1
        self._set_running(False)
        self._set_result(None)
        self.images_changed.emit()

    def show_pair(
        self,
        image_a: LoadedImage,
        image_b: LoadedImage,
        ground_truth: GroundTruth | None = None,
        result: MatchResult | None = None,
        truth_errors: ResultErrors | None = None,
        warp_pictures: WarpPictures | None = None,
    ) -> None:
        """A pair of a sequence, with its result when there is one already (see
        `show_result`): unlike `set_images`, the probe keeps its pixel and the pins stay, as the
        timeline moves; no run is made stale (the sequence's runs are not the state's)."""
        self._kept_probe = self.probe or self._kept_probe
        self.image_a, self.image_b = image_a, image_b
        self.ground_truth = ground_truth
        self._pair_key = None
        self.images_changed.emit()
        self.show_result(result, truth_errors, warp_pictures)

    def show_result(
        self,
        result: MatchResult | None,
        truth_errors: ResultErrors | None = None,
        warp_pictures: WarpPictures | None = None,
    ) -> None:
        """The result of the sequence's pair shown (None: not matched yet): the probe reads
        it at the pixel it had (A's centre at first), pinned probes are re-read. The result
        does not join the session's run store (the sequence keeps its own)."""
        if result is None:
            self._kept_probe = self.probe or self._kept_probe
            self.result = self.truth_errors = self.warp_pictures = None
            self.keypoint = self.probe = self.probe_truth = None
            self.result_changed.emit(None)
            self.keypoint_changed.emit(None)
            self.probe_changed.emit(None)
            return
        probe = self.probe or self._kept_probe
        if probe is not None and self._clicked is not None and self._clicked[0] == probe.origin:
            origin, x, y = self._clicked  # the pixel clicked, not where a sparse probe snapped
            probe = replace(probe, xa=x, ya=y) if origin == "a" else replace(probe, xb=x, yb=y)
        self.probe = probe
        self.warp_pictures = warp_pictures
        self._set_result(result, truth_errors)

    def load(self, side: str, path: str) -> bool:
        """Load image ``side`` ("a" or "b") from ``path``; on failure report the error."""
        image = self._read(path)
        if image is None:
            return False
        if side == "a":
            self.set_images(image, self.image_b)
        else:
            self.set_images(self.image_a, image)
        self.set_status(f"Loaded {side.upper()}: {path} ({image.width}x{image.height})")
        return True

    def load_pair(self, path_a: str, path_b: str) -> bool:
        """Load both images, or neither (reporting the first that fails)."""
        image_a = self._read(path_a)
        image_b = None if image_a is None else self._read(path_b)
        if image_b is None:
            return False
        self.set_images(image_a, image_b)
        return True

    def _read(self, path: str) -> LoadedImage | None:
        try:
            image = load_image(path)
        except MatchscopeError as exc:
            self.set_error(str(exc))
            return None
        self.set_error("")
        return image

    def set_matcher(self, name: str, settings: dict | None = None) -> None:
        """Choose the matcher (a new one brings its display threshold); ``settings`` None keeps
        what this matcher had before."""
        if settings is not None:
            self._settings[name] = dict(settings)
        if name != self.matcher:
            self.matcher = name
            self.matcher_changed.emit(name)
            self.set_threshold(display_threshold(name))

    def update_settings(self, name: str, values: dict, keep: bool = False) -> None:
        """Merge ``values`` into matcher ``name``'s settings (the current matcher stays): a
        value None removes its key (the matcher's default); ``keep``: keys already set win."""
        settings = self._settings.setdefault(name, {})
        for key, value in values.items():
            if keep and key in settings:
                continue
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value

    # runs ---------------------------------------------------------------------------------------

    def set_keep_intermediates(self, keep: bool) -> None:
        """Whether model matchers' next runs keep their intermediates (see `run_settings`)."""
        if keep != self.keep_intermediates:
            self.keep_intermediates = keep
            self.keep_intermediates_changed.emit(keep)

    def begin_request(self) -> int:
        """A new request id for a run that is about to start; older ids become stale."""
        self.request_id += 1
        self.set_error("")
        self._set_running(True)
        self.cancelling = False
        self.set_status(f"Matching with {self.matcher}…")
        self.fraction = 0.0
        self.progress_changed.emit("start", 0.0)
        self._request_label = run_label(self.matcher, self.run_settings())
        return self.request_id

    def set_progress(self, request_id: int, stage: str, fraction: float) -> None:
        """Progress of run ``request_id``; dropped when stale or once cancelling."""
        if request_id == self.request_id and self.running and not self.cancelling:
            self.fraction = fraction
            self.progress_changed.emit(stage, fraction)

    def set_cancelling(self) -> bool:
        """The user asked the running run to stop: "Cancelling…" until `set_cancelled`.
        False (and nothing changes) when nothing runs or it is already cancelling."""
        if not self.running or self.cancelling:
            return False
        self.cancelling = True
        self.set_status("Cancelling…")
        self.progress_changed.emit("Cancelling…", self.fraction)
        return True

    def set_result(
        self,
        request_id: int,
        result: MatchResult,
        truth_errors: ResultErrors | None = None,
        warp_pictures: WarpPictures | None = None,
    ) -> bool:
        """Take the result of run ``request_id`` (with its errors against the ground truth and
        its warp pictures, made in the worker); returns False (and ignores it) when stale."""
        if request_id != self.request_id or not self.running:
            return False
        self._set_running(False)
        self.warp_pictures = warp_pictures
        self._store_run(result, truth_errors)
        self._set_result(result, truth_errors)
        total = result.timings.get("total", 0.0)
        status = f"{plural(result.num_matches, 'match')} with {self.matcher} in {total:.2f} s"
        if truth_errors is not None and truth_errors.matches.size:
            errors = truth_errors.matches[np.isfinite(truth_errors.matches)]
            if errors.size:
                name = self.ground_truth.error_name
                status += f"; median {name} {np.median(errors):.2f} px"
        if self.runs.over_budget:
            status += "; this run alone is over the run budget: no earlier run is kept"
        self.set_status(status)
        self.run_finished.emit("ok")
        return True

    def _store_run(self, result: MatchResult, truth_errors: ResultErrors | None) -> None:
        paths = (self.image_a.path, self.image_b.path) if self.has_pair else ("", "")
        self.runs.add(result, self._request_label, self.pair_key or "", paths, truth_errors)
        self.runs_changed.emit()

    def set_failed(self, request_id: int, message: str) -> bool:
        """Run ``request_id`` failed with a one-line ``message``; False when stale."""
        if request_id != self.request_id or not self.running:
            return False
        self._set_running(False)
        self.set_error(message)
        self.run_finished.emit("failed")
        return True

    def set_cancelled(self, request_id: int, abandoned: bool = False) -> bool:
        """Run ``request_id`` stopped on the user's request (``abandoned``: the matcher did not
        stop in time and finishes unseen in the background); False when stale."""
        if request_id != self.request_id or not self.running:
            return False
        self._set_running(False)
        if abandoned:
            self.set_status(
                f"Matching cancelled: {self.matcher} did not stop, so it was left to finish in "
                "the background; its result will be ignored."
            )
        else:
            self.set_status("Matching cancelled.")
        self.run_finished.emit("cancelled")
        return True

    # probe and threshold ------------------------------------------------------------------------

    def click_a(self, x: float, y: float, snap_radius: float | None = None) -> None:
        """Probe pixel (x, y) of A; does nothing until there is a result. Without a dense warp
        there, the probe snaps to the nearest match within ``snap_radius`` pixels of A (what the
        clicked view's zoom makes of a fixed distance on screen; None: the last click's)."""
        if snap_radius is not None:
            self.snap_radius = float(snap_radius)
        if self.result is None:
            return
        self._clicked = ("a", float(x), float(y))
        self._set_probe(read_probe(self.result, x, y, self.snap_radius))

    def click_b(self, x: float, y: float, snap_radius: float | None = None) -> None:
        """Probe pixel (x, y) of B (origin "b"): its correspondence in A from a symmetric
        result's ``warp_ba``, else the match whose B end is nearest within ``snap_radius``
        pixels of B (None: the last click's). Where B's pixel has neither, the probe stays and
        the status says so; nothing happens until there is a result."""
        if snap_radius is not None:
            self.snap_radius = float(snap_radius)
        if self.result is None:
            return
        self._clicked = ("b", float(x), float(y))
        probe = read_probe_b(self.result, x, y, self.snap_radius)
        if probe.has_match:
            self._set_probe(probe)
        else:
            self.set_status(f"No match in A for B's pixel ({probe.xb:.0f}, {probe.yb:.0f})")

    # pinned probes ------------------------------------------------------------------------------

    def pin_probe(self, probe: ProbeReading | None = None) -> bool:
        """Pin ``probe`` (None: the current probe) with the first colour no pin has; refused,
        with a status message, without a probe, for a pixel already pinned, or past
        ``MAX_PINS``."""
        probe = self.probe if probe is None else probe
        if probe is None:
            self.set_status("Click a pixel of A or B before pinning a probe.")
            return False
        key = (probe.origin, probe.clicked)
        if any((pin.reading.origin, pin.reading.clicked) == key for pin in self.pinned):
            self.set_status("This probe is pinned already.")
            return False
        if len(self.pinned) >= MAX_PINS:
            self.set_status(f"At most {MAX_PINS} pinned probes: unpin one first.")
            return False
        used = {pin.colour for pin in self.pinned}
        colour = next(index for index in range(len(PIN_COLOURS)) if index not in used)
        self.pinned.append(PinnedProbe(probe, colour))
        self.pins_changed.emit(list(self.pinned))
        return True

    def pin_pixel(self, x: float, y: float, origin: str = "a") -> bool:
        """Pin what the result reads at pixel (x, y) of image ``origin`` ("a" or "b"), as a
        click there would (a workspace's pins); False without a result or when refused."""
        if self.result is None:
            return False
        return self.pin_probe(read_at(self.result, origin, x, y, self.snap_radius))

    def unpin(self, index: int) -> None:
        """Remove pin ``index`` (the others keep their colours); an index out of range does
        nothing."""
        if 0 <= index < len(self.pinned):
            del self.pinned[index]
            self.pins_changed.emit(list(self.pinned))

    def clear_pins(self) -> None:
        if self.pinned:
            self.pinned = []
            self.pins_changed.emit([])

    def probe_match(self, index: int) -> None:
        """Probe match ``index`` of the result itself (its A and B ends and certainty, source
        "match"), also where a dense warp would answer a click there differently; does nothing
        without a result or for an index outside its matches."""
        result = self.result
        if result is None or not 0 <= index < result.num_matches:
            return
        xa, ya, xb, yb = (float(v) for v in result.matches[index])
        certainty = float(result.match_certainty[index])
        self._clicked = None
        self._set_probe(ProbeReading(xa, ya, xb, yb, certainty, "match"))

    def _set_probe(self, probe: ProbeReading) -> None:
        """Take ``probe`` with the truth at its pixel (when the pair has ground truth)."""
        self.probe = probe
        self.probe_truth = None
        if self.ground_truth is not None:
            self.probe_truth = self.ground_truth.at_pixel(probe.xa, probe.ya, probe.xb, probe.yb)
        self.probe_changed.emit(self.probe)

    def select_keypoint(self, x: float, y: float, snap_radius: float = SNAP_RADIUS_PX) -> None:
        """Select the keypoint of A (matched or not) nearest to pixel (x, y) within
        ``snap_radius`` pixels of A, or none when there is none that close; does nothing until
        there is a result with keypoints."""
        result = self.result
        if result is None or not has_keypoints(result):
            return
        index = nearest_keypoint(result.keypoints_a, x, y, snap_radius)
        self.keypoint = None if index is None else read_keypoint(result, index)
        self.keypoint_changed.emit(self.keypoint)

    def set_scale(self, scale: str) -> bool:
        """Show ``scale`` (``"final"`` or a refiner's, e.g. ``"coarse_s8"``) in the Certainty
        and Warp docks; False (and nothing changes) when the result lacks it. A new result
        without the chosen scale brings the docks back to ``"final"``."""
        if scale != FINAL and scale not in result_scales(self.result):
            return False
        if scale != self.scale:
            self.scale = scale
            self.scale_changed.emit(scale)
        return True

    def set_threshold(self, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        if value != self.threshold:
            self.threshold = value
            self.threshold_changed.emit(value)

    # status -------------------------------------------------------------------------------------

    def set_status(self, text: str) -> None:
        self.status = text
        self.status_changed.emit(text)

    def set_error(self, message: str) -> None:
        """Show ``message`` as the current error ("" clears it); it also becomes the status."""
        self.error = message
        self.error_changed.emit(message)
        if message:
            self.set_status(f"Error: {message}")

    def _set_running(self, running: bool) -> None:
        if not running:
            self.cancelling = False
        if running != self.running:
            self.running = running
            self.running_changed.emit(running)

    def _set_result(
        self, result: MatchResult | None, truth_errors: ResultErrors | None = None
    ) -> None:
        """Store ``result``; the probe keeps its clicked pixel and origin (a pixel of B that
        the new result cannot answer falls back to the probe's pixel of A), or starts at A's
        centre (at the most certain match when the centre has none). Pins are re-read from the
        new result at their clicked pixels, and cleared with it (new images)."""
        previous = self.probe
        self.result, self.truth_errors = result, truth_errors
        self.keypoint = None  # keypoint indices belong to one result
        scale = self.scale
        if result is not None and scale not in result_scales(result):
            self.scale = FINAL  # views of the new result show its final warp
        self.result_changed.emit(result)
        if self.scale != scale:
            self.scale_changed.emit(self.scale)
        self.keypoint_changed.emit(None)
        if result is None:
            self.probe = self.probe_truth = self.warp_pictures = None
            self.probe_changed.emit(None)
            self.clear_pins()
            return
        if self.pinned:
            radius = self.snap_radius
            self.pinned = [
                PinnedProbe(
                    read_at(result, pin.reading.origin, *pin.reading.clicked, radius), pin.colour
                )
                for pin in self.pinned
            ]
            self.pins_changed.emit(list(self.pinned))
        if previous is not None and previous.origin == "b":
            probe = read_probe_b(result, previous.xb, previous.yb, self.snap_radius)
            if probe.has_match:
                self._set_probe(probe)
            else:
                self.click_a(previous.xa, previous.ya)
        elif previous is not None:
            self.click_a(previous.xa, previous.ya)
        else:
            height, width = result.size_a
            self.click_a((width - 1) / 2, (height - 1) / 2)
            if not self.probe.has_match and result.num_matches:  # sparse: the surest match
                best = result.matches[int(result.match_certainty.argmax())]
                self.click_a(float(best[0]), float(best[1]))
