"""Small videos the sequence tests encode: frame i shows i's 8 bits as black/white columns."""

import av
import numpy as np


def pattern(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """(H, W, 3) uint8: column block b (width / 8 pixels) white when bit b of i is set."""
    image = np.zeros((height, width, 3), np.uint8)
    step = width // 8
    for b in range(8):
        if i >> b & 1:
            image[:, b * step : (b + 1) * step] = 255
    return image


def identify(image: np.ndarray) -> int:
    """The frame index a decoded :func:`pattern` image shows."""
    columns = image.reshape(image.shape[0], 8, -1, 3).mean(axis=(0, 2, 3))
    return int(sum(1 << b for b in range(8) if columns[b] > 128))


def encode(path, frames=40, size_hw=(48, 64), codec="libx264", gop=10, options=None):
    """Write ``frames`` :func:`pattern` frames to ``path`` at 25 fps; returns ``path``."""
    container = av.open(str(path), "w", options=options or {})
    stream = container.add_stream(codec, rate=25)
    stream.height, stream.width = size_hw
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = gop
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(pattern(i, *size_hw), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return path


def corrupt_frame(path, index: int, out):
    """Copy the Matroska video ``path`` to ``out`` with frame ``index``'s payload zeroed (its
    block header kept, so the file still demuxes); returns ``out`` and the frames of the
    keyframe interval that holds it, ``(start, end)`` (their decoding depends on it)."""
    with av.open(str(path)) as container:
        packets = [
            (p.pts, p.pos, p.size, p.is_keyframe)
            for p in container.demux(container.streams.video[0])
            if p.size
        ]
    pts_of = sorted(p[0] for p in packets)
    victim = next(p for p in packets if p[0] == pts_of[index])
    keys = sorted(pts_of.index(p[0]) for p in packets if p[3])
    gop_start = max(k for k in keys if k <= index)
    gop_end = min((k for k in keys if k > index), default=len(pts_of))
    data = bytearray(path.read_bytes())
    _, pos, size, _ = victim  # a Matroska SimpleBlock: 4 bytes of header, then the payload
    data[pos + 4 : pos + size] = b"\x00" * (size - 4)
    out.write_bytes(bytes(data))
    return out, (gop_start, gop_end)
