"""Augmentation keeps shapes and the 0..255 range, is seeded, and does nothing when switched off."""

from __future__ import annotations

import torch

from hub.training.augment import augment_batch
from hub.training.config import AugmentConfig

OFF = AugmentConfig(flip_probability=0, rotation_deg=0, scale_fraction=0, brightness_fraction=0, blur_probability=0)


def _pixels() -> torch.Tensor:
    return torch.rand(6, 3, 112, 112, generator=torch.Generator().manual_seed(1)) * 255


def test_shape_range_and_seed() -> None:
    x = _pixels()
    a = augment_batch(x, AugmentConfig(blur_probability=0.5), torch.Generator().manual_seed(7))
    b = augment_batch(x, AugmentConfig(blur_probability=0.5), torch.Generator().manual_seed(7))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 255
    assert torch.equal(a, b)
    assert not torch.allclose(a, x)


def test_everything_off_is_identity() -> None:
    x = _pixels()
    assert torch.allclose(augment_batch(x, OFF, torch.Generator()), x, atol=1e-4)


def test_flip_only_mirrors() -> None:
    x = _pixels()
    flipped = augment_batch(x, OFF.model_copy(update={"flip_probability": 1.0}), torch.Generator())
    assert torch.equal(flipped, x.flip(-1))
