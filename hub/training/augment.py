"""Batch augmentation of aligned face crops on the training device: flip, rotation/scale, brightness, blur."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hub.training.config import AugmentConfig


def _uniform(n: int, half_width: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * 2 - 1) * half_width


def _gaussian_kernels(sigmas: torch.Tensor, size: int = 5) -> torch.Tensor:
    """(N,) sigmas in px -> (N, size, size) normalised Gaussian kernels."""
    offsets = torch.arange(size, dtype=torch.float32) - size // 2
    one_d = torch.exp(-(offsets[None] ** 2) / (2 * sigmas[:, None] ** 2))
    kernels = one_d[:, :, None] * one_d[:, None, :]
    return kernels / kernels.sum(dim=(1, 2), keepdim=True)


def augment_batch(pixels: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Randomly transformed copies of crops.

    Args:
        pixels: (N, 3, S, S) float, RGB 0..255 (the embedder's input before its own normalisation).
        config: ranges and probabilities of each change.
        generator: CPU generator, so a seeded job gives the same batches.

    Returns:
        (N, 3, S, S) float 0..255 on the same device.
    """
    n, device = len(pixels), pixels.device
    flip = torch.rand(n, generator=generator) < config.flip_probability
    out = torch.where(flip.to(device)[:, None, None, None], pixels.flip(-1), pixels)
    if config.rotation_deg > 0 or config.scale_fraction > 0:
        angle = _uniform(n, math.radians(config.rotation_deg), generator)
        zoom = 1 + _uniform(n, config.scale_fraction, generator)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1
        ).to(device)
        grid = F.affine_grid(theta, list(out.shape), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if config.brightness_fraction > 0:
        gain = 1 + _uniform(n, config.brightness_fraction, generator)
        out = out * gain.to(device)[:, None, None, None]
    blur = torch.rand(n, generator=generator) < config.blur_probability
    if blur.any():
        kernels = _gaussian_kernels(0.5 + torch.rand(int(blur.sum()), generator=generator)).to(device)
        chosen = out[blur.to(device)]  # (B, 3, S, S): one kernel per image, shared by its channels
        b, c, h, w = chosen.shape
        blurred = F.conv2d(
            F.pad(chosen.reshape(1, b * c, h, w), (2, 2, 2, 2), mode="replicate"),
            kernels.repeat_interleave(c, 0)[:, None],
            groups=b * c,
        ).reshape(b, c, h, w)
        out = out.clone()
        out[blur.to(device)] = blurred
    return out.clamp(0, 255)
