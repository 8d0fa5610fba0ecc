"""core.tokens: the probe's patch, cosine similarity of tokens and their PCA colouring."""

from __future__ import annotations

import numpy as np

from core.tokens import cosine_similarity, patch_cell, pca_rgb, token_pca, unit_tokens


def test_patch_cell_is_the_patch_under_the_pixel_clamped_to_the_grid():
    # a 160 x 200 image in an 8 x 10 grid: patches of 20 x 20 pixels
    assert patch_cell(0.0, 0.0, (160, 200), (8, 10)) == (0, 0)
    assert patch_cell(19.4, 39.4, (160, 200), (8, 10)) == (1, 0)
    assert patch_cell(19.6, 39.6, (160, 200), (8, 10)) == (2, 1)
    assert patch_cell(500.0, -40.0, (160, 200), (8, 10)) == (0, 9)


def test_a_tokens_similarity_to_itself_is_one_and_the_largest():
    tokens = np.random.default_rng(0).normal(size=(6, 7, 32)).astype(np.float16)
    units = unit_tokens(tokens)
    for row, col in ((0, 0), (3, 4), (5, 6)):
        similarity = cosine_similarity(units, units[row, col])
        assert similarity.shape == (6, 7) and similarity.dtype == np.float32
        assert abs(similarity[row, col] - 1) < 1e-6
        assert np.unravel_index(similarity.argmax(), similarity.shape) == (row, col)
        assert similarity.min() >= -1.0
    scaled = cosine_similarity(unit_tokens(3 * tokens.astype(np.float32)), units[3, 4])
    assert np.allclose(scaled, cosine_similarity(units, units[3, 4]), atol=1e-6)  # scale-free


def synthetic_tokens(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (5, 6, 16) and B (4, 4, 16): tokens along 3 orthogonal directions with variances
    25, 9, 1, plus noise 0.01; returns the tokens and the directions (3, 16)."""
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.normal(size=(16, 3)))[0].T
    weights = rng.normal(size=(46, 3)) * np.array([5.0, 3.0, 1.0])
    tokens = weights @ directions + 0.01 * rng.normal(size=(46, 16)) + 2.0  # an offset
    return tokens[:30].reshape(5, 6, 16), tokens[30:].reshape(4, 4, 16), directions


def test_pca_finds_orthonormal_components_of_the_largest_variance():
    tokens_a, tokens_b, directions = synthetic_tokens()
    flat = np.concatenate((tokens_a.reshape(-1, 16), tokens_b.reshape(-1, 16)))
    coords, components = token_pca(flat, 3)
    assert coords.shape == (46, 3) and components.shape == (3, 16)
    assert np.allclose(components @ components.T, np.eye(3), atol=1e-5)
    # the planted directions, in order of variance (up to sign; 46 samples mix them a little)
    assert np.allclose(np.abs(components @ directions.T), np.eye(3), atol=0.05)
    variances = coords.var(axis=0)
    assert variances[0] > variances[1] > variances[2]
    assert np.allclose(coords.mean(axis=0), 0, atol=1e-5)


def test_pca_rgb_colours_a_and_b_in_zero_to_one_with_one_colouring():
    tokens_a, tokens_b, _ = synthetic_tokens()
    rgb_a, rgb_b = pca_rgb(tokens_a.astype(np.float16), tokens_b.astype(np.float16))
    assert rgb_a.shape == (5, 6, 3) and rgb_b.shape == (4, 4, 3)
    assert rgb_a.dtype == np.float32
    both = np.concatenate((rgb_a.reshape(-1, 3), rgb_b.reshape(-1, 3)))
    assert both.min() >= 0.0 and both.max() <= 1.0
    assert (both.min(axis=0) == 0).all() and (both.max(axis=0) == 1).all()  # the full range
    # the same token in A and in B gets the same colour
    tokens_b[1, 2] = tokens_a[3, 4]
    rgb_a, rgb_b = pca_rgb(tokens_a, tokens_b)
    assert np.allclose(rgb_a[3, 4], rgb_b[1, 2])
