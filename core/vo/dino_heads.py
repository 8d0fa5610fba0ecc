"""The trainable heads of the ``dino`` VO front-end (:mod:`core.vo.dino`), on a frozen ViT.

Three heads and a small CNN, held together by :class:`DinoHeads` (one state dict, one file):

* :class:`KeypointHead`, the learned selector: a saliency logit per patch cell and a sub-cell
  offset in (0, 1)^2, so that a keypoint always lies inside its own cell (at most one per cell).
* :class:`FineCNN`: 64-channel features of the image at half its resolution (DINO-VO's
  "FinerCNN", made cheaper by one stride-2 convolution), sampled bilinearly at the keypoints.
* :class:`DescriptorHead`: the patch token at the keypoint's cell (C = 384 for ViT-S) and the
  fine feature at the keypoint (64), each L2-normalised, concatenated and projected by one linear
  layer to a unit descriptor of 192 (DINO-VO: 384 + 64 -> 192).
* :class:`UncertaintyHead`: a positive position standard deviation per keypoint, in pixels of
  the network's input, ``min_sigma + softplus(x)`` clamped to ``max_sigma`` (0.25 .. 16 px by
  default); initialised so that an untrained head says about 1 px.

Coordinates: ``keypoints`` are (B, N, 2) pixels (x, y) of the network's input (B, 3, H, W),
pixel centres at integers; cell ``(i, j)`` of the (h, w) token grid covers x in
``[j p - 0.5, (j + 1) p - 0.5]`` for the patch size ``p``. The backbone is never part of these
modules: it runs under ``no_grad`` outside, so an optimiser over ``DinoHeads.parameters()``
trains the heads only. Until the training issue lands the heads are untrained (random).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models.checkpoint import check_state_dict, read_checkpoint


def _conf(default: dict, conf: dict | None) -> dict:
    unknown = sorted(set(conf or {}) - set(default))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; options are {', '.join(default)}"
        )
    return {**default, **(conf or {})}


def token_cells(keypoints: Tensor, patch: int, grid_hw: tuple[int, int]) -> Tensor:
    """(B, N, 2) input pixels -> (B, N) long flat index ``row * w + col`` of their cells."""
    h, w = grid_hw
    col = torch.div(keypoints[..., 0] + 0.5, patch, rounding_mode="floor").long().clamp(0, w - 1)
    row = torch.div(keypoints[..., 1] + 0.5, patch, rounding_mode="floor").long().clamp(0, h - 1)
    return row * w + col


def gather_tokens(tokens: Tensor, cells: Tensor) -> Tensor:
    """tokens (B, C, h, w), cells (B, N) flat indices -> (B, N, C) the tokens of those cells."""
    flat = tokens.flatten(2)  # (B, C, h * w)
    index = cells[:, None, :].expand(-1, flat.shape[1], -1)
    return flat.gather(2, index).transpose(1, 2)


def sample_features(features: Tensor, keypoints: Tensor, size_hw: tuple[int, int]) -> Tensor:
    """features (B, D, h', w') of an input of ``size_hw`` (H, W), (B, N, 2) input pixels ->
    (B, N, D), bilinear (``grid_sample``, ``align_corners=False``: the map and the input cover the
    same extent, whatever the map's stride)."""
    height, width = size_hw
    scale = keypoints.new_tensor([2.0 / width, 2.0 / height])
    grid = ((keypoints + 0.5) * scale - 1.0)[:, None]  # (B, 1, N, 2) in [-1, 1]
    sampled = F.grid_sample(features, grid, mode="bilinear", align_corners=False)
    return sampled[:, :, 0].transpose(1, 2)


class KeypointHead(nn.Module):
    """The learned selector: patch tokens (B, C, h, w) -> ``logits`` (B, h, w) (saliency of
    each cell) and ``offsets`` (B, 2, h, w) in (0, 1) (x, y within the cell)."""

    default_conf = {"hidden": 128}

    def __init__(self, token_dim: int, patch_size: int, conf: dict | None = None):
        super().__init__()
        self.conf = _conf(self.default_conf, conf)
        self.patch_size = patch_size
        hidden = self.conf["hidden"]
        self.net = nn.Sequential(
            nn.Conv2d(token_dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, hidden, 3, padding=1)
        )
        self.out = nn.Conv2d(hidden, 3, 1)

    def forward(self, tokens: Tensor) -> dict[str, Tensor]:
        x = self.out(F.gelu(self.net(tokens)))
        return {"logits": x[:, 0], "offsets": torch.sigmoid(x[:, 1:])}

    def select(self, tokens: Tensor, top_k: int) -> tuple[Tensor, Tensor, Tensor]:
        """The ``top_k`` most salient cells of each image: (B, K, 2) input pixels (inside their
        cells), (B, K) their flat cell indices and (B, K) their logits, by decreasing logit."""
        out = self(tokens)
        _, h, w = out["logits"].shape
        logits = out["logits"].flatten(1)
        k = min(top_k, h * w)
        scores, cells = logits.topk(k, dim=1)  # sorted, decreasing
        offsets = out["offsets"].flatten(2).gather(2, cells[:, None].expand(-1, 2, -1))
        col, row = (cells % w).to(offsets.dtype), torch.div(cells, w, rounding_mode="floor")
        x = (col + offsets[:, 0]) * self.patch_size - 0.5
        y = (row.to(offsets.dtype) + offsets[:, 1]) * self.patch_size - 0.5
        return torch.stack((x, y), dim=-1), cells, scores


class FineCNN(nn.Module):
    """ImageNet-normalised images (B, 3, H, W) -> (B, 64, H / 2, W / 2) fine features."""

    default_conf = {"channels": 64}

    def __init__(self, conf: dict | None = None):
        super().__init__()
        self.conf = _conf(self.default_conf, conf)
        channels = self.conf["channels"]
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


class DescriptorHead(nn.Module):
    """(B, N, C) tokens and (B, N, F) fine features -> (B, N, ``dim``) unit descriptors."""

    default_conf = {"dim": 192}

    def __init__(self, token_dim: int, fine_dim: int, conf: dict | None = None):
        super().__init__()
        self.conf = _conf(self.default_conf, conf)
        self.proj = nn.Linear(token_dim + fine_dim, self.conf["dim"])

    def forward(self, tokens: Tensor, fine: Tensor) -> Tensor:
        joined = torch.cat((F.normalize(tokens, dim=-1), F.normalize(fine, dim=-1)), dim=-1)
        return F.normalize(self.proj(joined), dim=-1)


class UncertaintyHead(nn.Module):
    """(B, N, C) tokens and (B, N, F) fine features -> (B, N) sigma in input pixels,
    ``min_sigma + softplus(mlp(x))`` clamped to ``max_sigma``; about 1 px untrained."""

    default_conf = {"hidden": 64, "min_sigma": 0.25, "max_sigma": 16.0}

    def __init__(self, token_dim: int, fine_dim: int, conf: dict | None = None):
        super().__init__()
        self.conf = _conf(self.default_conf, conf)
        hidden = self.conf["hidden"]
        self.net = nn.Sequential(nn.Linear(token_dim + fine_dim, hidden), nn.GELU())
        self.out = nn.Linear(hidden, 1)
        nn.init.normal_(self.out.weight, std=1e-3)
        with torch.no_grad():  # softplus(bias) = 1 - min_sigma: an untrained head says ~1 px
            target = torch.tensor(max(1.0 - self.conf["min_sigma"], 1e-3))
            self.out.bias.fill_(float(torch.log(torch.expm1(target))))

    def forward(self, tokens: Tensor, fine: Tensor) -> Tensor:
        joined = torch.cat((F.normalize(tokens, dim=-1), F.normalize(fine, dim=-1)), dim=-1)
        sigma = self.conf["min_sigma"] + F.softplus(self.out(self.net(joined))[..., 0])
        return sigma.clamp(max=self.conf["max_sigma"])


class DinoHeads(nn.Module):
    """The four trainable parts on a backbone of width ``token_dim`` and patch ``patch_size``;
    its ``state_dict`` (keys ``keypoints.*``, ``fine.*``, ``descriptor.*``, ``uncertainty.*``)
    is the heads' checkpoint (:func:`load_heads`)."""

    def __init__(self, token_dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.keypoints = KeypointHead(token_dim, patch_size)
        self.fine = FineCNN()
        fine_dim = self.fine.conf["channels"]
        self.descriptor = DescriptorHead(token_dim, fine_dim)
        self.uncertainty = UncertaintyHead(token_dim, fine_dim)

    def describe(self, images: Tensor, tokens: Tensor, keypoints: Tensor) -> dict[str, Tensor]:
        """images (B, 3, H, W), tokens (B, C, h, w), keypoints (B, N, 2) input pixels ->
        ``descriptors`` (B, N, 192) unit vectors and ``sigma`` (B, N) input pixels."""
        cells = token_cells(keypoints, self.patch_size, tuple(tokens.shape[-2:]))
        cell_tokens = gather_tokens(tokens, cells)
        fine = sample_features(self.fine(images), keypoints, tuple(images.shape[-2:]))
        return {
            "descriptors": self.descriptor(cell_tokens, fine),
            "sigma": self.uncertainty(cell_tokens, fine),
        }


def load_heads(heads: DinoHeads, path: str | Path) -> None:
    """Load a heads checkpoint strictly (``torch.load(weights_only=True)`` or safetensors);
    :class:`core.errors.InputError` naming the missing, unexpected and mis-shaped keys."""
    state, _ = read_checkpoint(path)
    check_state_dict(heads, state, path)
    heads.load_state_dict(state, strict=True)
