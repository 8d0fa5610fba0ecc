"""A RoMa-sized `MatchResult` made without a network, for ``bench ui`` (the views' speed).

:func:`make_ui_pair` gives two textured images and a symmetric dense result with every
intermediate RoMa keeps with ``intermediates=True`` (names, shapes and dtypes as
:meth:`core.matchers.roma.RomaMatcher._intermediates` makes them), filled with smooth, seeded
values: a warp that shifts, rotates and bends A onto B, certainties that vary over the image,
anchor logits peaked near each cell's true position, attention and tokens with spatial structure.
The views draw these exactly as they would draw a real run's.

At the default :class:`UiSize` (the released RoMa settings: coarse 560, upsample 864, DINOv2
ViT-L/14): 864 x 864 images and warps, 40 x 40 coarse cells of 64 x 64 anchors, 24 blocks x 16
heads of attention, 1024-channel tokens, the coarse pass's warps at 40, 70, 140, 280, 560 and the
upsample pass's at 108, 216, 432, 864, and 5000 matches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from core.coords import pixel_grid
from core.result import MatchResult, Provenance
from core.synthetic import make_texture


@dataclass(frozen=True)
class UiSize:
    """The result's sizes: ``size`` the images' side (px), ``coarse_res`` the coarse pass's,
    ``cells`` the coarse grid's side, ``anchors`` the anchor grid's side, ``blocks`` x ``heads``
    of attention, ``channels`` per token, ``matches`` sampled."""

    size: int = 864
    coarse_res: int = 560
    cells: int = 40
    anchors: int = 64
    blocks: int = 24
    heads: int = 16
    channels: int = 1024
    matches: int = 5000

    def as_dict(self) -> dict:
        return asdict(self)


TINY = UiSize(
    size=96, coarse_res=56, cells=4, anchors=8, blocks=2, heads=2, channels=16, matches=50
)
"""A small result for tests: every intermediate, a few kB each."""


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cells: int = 4) -> np.ndarray:
    """(H, W) float32 smooth noise in [0, 1] from a ``cells`` x ``cells`` grid, bicubic."""
    grid = rng.random((cells, cells), dtype=np.float32)
    field = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    low, high = float(field.min()), float(field.max())
    return (field - low) / max(high - low, 1e-6)


def _warp(size: int, forward: bool) -> np.ndarray:
    """(size, size, 2) float32 pixels of the other image: a small rotation, shift and bend
    (``forward`` False: its approximate inverse, for the B->A direction)."""
    sign = 1.0 if forward else -1.0
    grid = pixel_grid(size, size).astype(np.float64)
    centre = (size - 1) / 2
    x, y = grid[..., 0] - centre, grid[..., 1] - centre
    angle = sign * 0.08
    cos, sin = np.cos(angle), np.sin(angle)
    bend = sign * 0.03 * size * np.sin(2 * np.pi * grid[..., 1] / size)
    warped_x = cos * x - sin * y + centre + sign * 0.05 * size + bend
    warped_y = sin * x + cos * y + centre + sign * 0.02 * size
    return np.stack([warped_x, warped_y], axis=-1).astype(np.float32)


def _normalised(warp: np.ndarray, size: int) -> np.ndarray:
    """Pixel warp -> RoMa's normalised coordinates of the other image, at the warp's own size."""
    return ((warp + 0.5) * (2.0 / size) - 1.0).astype(np.float32)


def _resized(field: np.ndarray, side: int) -> np.ndarray:
    """(H, W[, C]) float32 field resized to (side, side[, C]), bilinear."""
    out = cv2.resize(field, (side, side), interpolation=cv2.INTER_LINEAR)
    return out.reshape(side, side, *field.shape[2:]).astype(np.float32)


def _anchor_logits(grid_warp: np.ndarray, anchors: int, rng: np.random.Generator) -> np.ndarray:
    """(cells, cells, anchors^2) float16 logits peaked at each cell's warp (normalised coords),
    with a second, weaker mode in some cells (a multimodal pixel) and noise."""
    cells = grid_warp.shape[0]
    centres = ((2 * np.arange(anchors) + 1) / anchors - 1).astype(np.float32)  # normalised
    ax, ay = np.meshgrid(centres, centres)  # (R, R): column = x, row = y
    target = grid_warp.reshape(-1, 1, 1, 2).astype(np.float32)
    distance2 = (ax - target[..., 0]) ** 2 + (ay - target[..., 1]) ** 2
    width2 = np.float32((4.0 / anchors) ** 2)
    logits = -distance2 / width2
    second = rng.uniform(-1, 1, (cells * cells, 1, 1, 2)).astype(np.float32)
    weight = (rng.random((cells * cells, 1, 1)) < 0.3).astype(np.float32) * 2
    logits = np.logaddexp(
        logits, weight - ((ax - second[..., 0]) ** 2 + (ay - second[..., 1]) ** 2) / width2
    )
    logits += 0.3 * rng.standard_normal(logits.shape, dtype=np.float32)
    return (4.0 * logits).reshape(cells, cells, anchors * anchors).astype(np.float16)


def _attention(size: UiSize, rng: np.random.Generator) -> np.ndarray:
    """(blocks, heads, cells, cells) float32: a few blobs per head, summing to < 1 per map."""
    maps = np.empty((size.blocks, size.heads, size.cells, size.cells), np.float32)
    for block in range(size.blocks):
        for head in range(size.heads):
            blob = _smooth(rng, (size.cells, size.cells), cells=3) ** 4
            maps[block, head] = 0.9 * blob / blob.sum()
    return maps


def _tokens(size: UiSize, rng: np.random.Generator) -> np.ndarray:
    """(cells, cells, channels) float16: smooth fields on random directions, and noise."""
    fields = np.stack([_smooth(rng, (size.cells, size.cells), 3) for _ in range(6)], axis=-1)
    directions = rng.standard_normal((6, size.channels)).astype(np.float32)
    tokens = fields @ directions + 0.3 * rng.standard_normal(
        (size.cells, size.cells, size.channels)
    ).astype(np.float32)
    return tokens.astype(np.float16)


def make_ui_result(size: UiSize = UiSize(), seed: int = 0) -> MatchResult:
    """A symmetric dense result of ``size`` with every RoMa intermediate (module docstring)."""
    rng = np.random.default_rng(seed)
    side = size.size
    warps = {"ab": _warp(side, True), "ba": _warp(side, False)}
    certainties = {d: (0.05 + 0.9 * _smooth(rng, (side, side))).astype(np.float32) for d in warps}
    inter: dict[str, np.ndarray] = {}
    docs: dict[str, str] = {}
    for image in "ab":
        inter[f"backbone_{image}"] = _tokens(size, rng)
        inter[f"attention_{image}"] = _attention(size, rng)
    coarse_sides = [size.cells] + [size.coarse_res // s for s in (8, 4, 2, 1)]
    upsample_sides = [side // s for s in (8, 4, 2, 1)]
    for direction, warp in warps.items():
        grid = _normalised(warp, side)
        coarse_grid = _resized(grid, size.cells)
        inter[f"anchor_logits_{direction}"] = _anchor_logits(coarse_grid, size.anchors, rng)
        inter[f"coarse_warp_{direction}"] = coarse_grid
        for stage, sides, scales in (
            ("coarse", coarse_sides, (16, 8, 4, 2, 1)),
            ("upsample", upsample_sides, (8, 4, 2, 1)),
        ):
            for scale, scale_side in zip(scales, sides, strict=True):
                name = f"{stage}_s{scale}"
                inter[f"{name}_warp_{direction}"] = _resized(grid, scale_side)
                inter[f"{name}_certainty_{direction}"] = _resized(
                    certainties[direction], scale_side
                )
    for name, array in inter.items():
        docs[name] = f"{array.shape} {array.dtype}: synthetic (core.bench.ui_data)"
    probs = certainties["ab"].ravel().astype(np.float64)
    picked = rng.choice(probs.size, size=size.matches, replace=False, p=probs / probs.sum())
    rows, cols = np.divmod(picked, side)
    ends_b = warps["ab"][rows, cols]
    matches = np.column_stack([cols, rows, ends_b[:, 0], ends_b[:, 1]]).astype(np.float32)
    settings = {"coarse_res": str(size.coarse_res), "upsample_res": str(side), "symmetric": True}
    settings.update(attention_block=-1, attention_head=-1, intermediates=True)
    return MatchResult(
        warp_ab=warps["ab"],
        certainty_ab=certainties["ab"],
        matches=matches,
        match_certainty=certainties["ab"][rows, cols],
        warp_ba=warps["ba"],
        certainty_ba=certainties["ba"],
        grid_warp_ab=_normalised(warps["ab"], side),
        grid_certainty_ab=certainties["ab"],
        timings={"total": 0.0},
        intermediates=inter,
        intermediate_docs=docs,
        provenance=Provenance(
            matcher="roma", settings=settings, size_a=(side, side), size_b=(side, side)
        ),
    )


def make_ui_pair(size: UiSize = UiSize(), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images A and B, (size, size, 3) uint8: a texture, and the texture seen through the warp
    (so B warped onto A looks like A where the warp is right)."""
    rgb_a = make_texture(size.size, seed)
    inverse = _warp(size.size, False)
    rgb_b = cv2.remap(rgb_a, inverse[..., 0], inverse[..., 1], cv2.INTER_LINEAR)
    return rgb_a, rgb_b
