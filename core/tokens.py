"""Backbone patch tokens for the DINO view: the probe's cell, cosine similarity and a PCA colouring.

Tokens are RoMa's ``backbone_a`` / ``backbone_b`` intermediates: (h, w, C) arrays, one token per
coarse cell (patch) of the image, row-major.
"""

from __future__ import annotations

import numpy as np

PCA_CLIP_PERCENT = 1.0
"""The PCA colouring maps each component's 1st..99th percentile (over A and B) to 0..1."""


def patch_cell(
    x: float, y: float, size_hw: tuple[int, int], grid_hw: tuple[int, int]
) -> tuple[int, int]:
    """(row, col) of the patch holding pixel (x, y) of an image of ``size_hw`` pixels cut into a
    ``grid_hw`` grid of patches (pixel centres at integers, as everywhere); clamped to the grid."""
    (height, width), (grid_h, grid_w) = size_hw, grid_hw
    col = int(np.clip((x + 0.5) / width * grid_w, 0, grid_w - 1))
    row = int(np.clip((y + 0.5) / height * grid_h, 0, grid_h - 1))
    return row, col


def unit_tokens(tokens: np.ndarray) -> np.ndarray:
    """(h, w, C) tokens of any float dtype -> float32 tokens of unit length (zeros stay 0)."""
    tokens = tokens.astype(np.float32)
    norms = np.linalg.norm(tokens, axis=-1, keepdims=True)
    return tokens / np.maximum(norms, 1e-12)


def cosine_similarity(units: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity in [-1, 1] of the unit token ``query`` (C,) to every token of ``units``
    (h, w, C) (both from :func:`unit_tokens`): an (h, w) float32 map."""
    return np.clip(units @ query, -1.0, 1.0)


def token_pca(tokens: np.ndarray, count: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of (N, C) tokens by SVD of the centred tokens.

    Returns the tokens' coordinates (N, count) on the first ``count`` components (largest
    variance first) and the components (count, C), orthonormal rows, in float32.
    """
    data = tokens.astype(np.float64)
    data -= data.mean(axis=0)
    _, _, vt = np.linalg.svd(data, full_matrices=False)
    components = vt[:count]
    return (data @ components.T).astype(np.float32), components.astype(np.float32)


def pca_rgb(tokens_a: np.ndarray, tokens_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first 3 principal components of A's and B's tokens together, as colours.

    tokens_a (h_a, w_a, C), tokens_b (h_b, w_b, C) -> RGB images (h_a, w_a, 3), (h_b, w_b, 3)
    float32 in [0, 1]: component k is channel k, its 1st..99th percentile over both images
    mapped to 0..1 (:data:`PCA_CLIP_PERCENT`), so A and B share one colouring and a colour means
    the same token direction in both.
    """
    flat = np.concatenate(
        (tokens_a.reshape(-1, tokens_a.shape[-1]), tokens_b.reshape(-1, tokens_b.shape[-1]))
    )
    coords, _ = token_pca(flat, 3)
    if coords.shape[1] < 3:  # fewer than 3 tokens or channels: the missing components are 0
        coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
    low = np.percentile(coords, PCA_CLIP_PERCENT, axis=0)
    high = np.percentile(coords, 100 - PCA_CLIP_PERCENT, axis=0)
    rgb = np.clip((coords - low) / np.maximum(high - low, 1e-12), 0.0, 1.0).astype(np.float32)
    count_a = tokens_a.shape[0] * tokens_a.shape[1]
    return rgb[:count_a].reshape(*tokens_a.shape[:2], 3), rgb[count_a:].reshape(
        *tokens_b.shape[:2], 3
    )
