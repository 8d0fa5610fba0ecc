"""A VO run as a Rerun recording (no Qt): ``matchscope vo ... --rerun FILE.rrd`` and
`log_scene` for a saved run. Written straight to the file (no viewer is spawned, nothing goes
over the network); open it with ``rerun FILE.rrd``.

Entities (world coordinates are the run's, OpenCV's camera axes: right, down, forward):

- ``world/trajectory`` (LineStrips3D, static): the tracked frames' camera centres.
- ``world/truth`` (LineStrips3D, static, with a ground truth): the aligned ground truth.
- ``world/map`` (Points3D, static): the map points in their image colours.
- ``world/camera`` (Transform3D, per frame): the camera-to-world pose of each tracked frame;
  ``world/camera/image`` its Pinhole (K and image size; both scaled with the images), the frame
  (with ``frames``, JPEG, at most ``image_width`` px wide) and ``world/camera/image/keypoints``
  (Points2D: green PnP inliers, red outliers, grey free keypoints).
- ``stats/inliers``, ``stats/keypoints`` (Scalars, per frame).

Every per-frame entity is on the ``frame`` sequence timeline (the frame's position).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.vo.scene import KEYPOINT_FREE, KEYPOINT_INLIER, KEYPOINT_OUTLIER, VoScene

TIMELINE = "frame"
STATUS_RGB = {
    KEYPOINT_FREE: (150, 150, 150),
    KEYPOINT_INLIER: (40, 200, 60),
    KEYPOINT_OUTLIER: (230, 40, 40),
}


def log_scene(
    scene: VoScene,
    path: Path,
    frames: Callable[[int], np.ndarray] | None = None,
    image_width: int = 480,
) -> None:
    """Write ``scene`` as the Rerun recording ``path`` (module docstring); ``frames``
    (position -> (H, W, 3) uint8 RGB, e.g. a reader's ``read``) adds each tracked frame's
    image, downscaled to at most ``image_width`` px wide."""
    import cv2
    import rerun as rr

    recording = rr.RecordingStream("matchscope_vo", recording_id=f"{scene.name}:{scene.frontend}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    recording.save(str(path))
    width, height = scene.image_size
    scale = min(1.0, image_width / width) if frames is not None and width > 0 else 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    K = np.diag([scale, scale, 1.0]) @ scene.K
    recording.log("world", rr.ViewCoordinates.RDF, static=True)
    centres = scene.poses[scene.tracked][:, :3, 3]
    recording.log(
        "world/trajectory", rr.LineStrips3D([centres], colors=[(20, 90, 220)]), static=True
    )
    if scene.truth is not None:
        truth = scene.truth[:, :3, 3]
        truth = truth[np.all(np.isfinite(truth), axis=1)]
        recording.log("world/truth", rr.LineStrips3D([truth], colors=[(25, 165, 65)]), static=True)
    recording.log("world/map", rr.Points3D(scene.points, colors=scene.colours), static=True)
    recording.log(
        "world/camera/image",
        rr.Pinhole(image_from_camera=K, resolution=size, camera_xyz=rr.ViewCoordinates.RDF),
        static=True,
    )
    for position in np.flatnonzero(scene.tracked):
        recording.set_time(TIMELINE, sequence=int(position))
        pose = scene.poses[position]
        recording.log("world/camera", rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
        if frames is not None:
            image = frames(int(position))
            if scale < 1.0:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            recording.log("world/camera/image", rr.Image(image).compress(jpeg_quality=80))
        pixels, status = scene.frame_keypoints(int(position))
        colours = np.array([STATUS_RGB[int(s)] for s in status], np.uint8).reshape(-1, 3)
        recording.log(
            "world/camera/image/keypoints", rr.Points2D(pixels * scale, colors=colours, radii=2.0)
        )
        for name in ("inliers", "keypoints"):
            if name in scene.stats:
                recording.log(f"stats/{name}", rr.Scalars(float(scene.stats[name][position])))
    recording.flush()
    recording.disconnect()
