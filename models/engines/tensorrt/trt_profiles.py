"""Optimization-profile shapes for the TensorRT engines (and the onnxruntime TensorRT provider).

TensorRT tunes its kernels for a profile's `opt` shape and refuses shapes outside [min, max], so ranges are
kept as narrow as the pipeline allows: R-Net, O-Net and the embedder get a batch range 1..max_batch with opt
at the batch they usually see; P-Net gets its height/width range from the image pyramid of the camera
resolution, either as one profile covering every level (smaller engine, one tactic set for all levels) or as
one fixed-shape profile per level (best kernels per level, longer build, one context switch per level).
The pyramid itself (`min_face_px`, `scale_factor`) is the detector's: it is passed in as a `Pyramid` taken
from `DetectorConfig`, never configured a second time. Pure functions: the CPU tests cover them, the GPU code
only consumes the shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.detect.pyramid import PNET_CELL_PX, pyramid_scales

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    """One profile for one input: min <= opt <= max, dimension by dimension."""

    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self) -> None:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise ValueError(f"profile ranks differ: {self.min} {self.opt} {self.max}")
        if not all(lo <= mid <= hi for lo, mid, hi in zip(self.min, self.opt, self.max, strict=True)):
            raise ValueError(f"profile needs min <= opt <= max: {self.min} {self.opt} {self.max}")
        if min(self.min) < 1:
            raise ValueError(f"profile dimensions must be >= 1: {self.min}")

    def contains(self, shape: Shape) -> bool:
        return len(shape) == len(self.min) and all(
            lo <= d <= hi for lo, d, hi in zip(self.min, shape, self.max, strict=True)
        )


@dataclass(frozen=True)
class Pyramid:
    """The detector's image pyramid: the smallest face searched for (px) and the step between levels.

    Built from `DetectorConfig` (`models.pipeline.detector_pyramid`) so P-Net's profiles always match what
    the detector feeds."""

    min_face_px: int
    scale_factor: float


class PnetProfileConfig(BaseModel):
    """The largest frame P-Net is built for (the pyramid geometry comes from the detector's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolution_wh: tuple[int, int] = Field((1280, 720), description="largest camera frame (width, height)")
    mode: Literal["range", "per_scale"] = "range"

    @field_validator("resolution_wh")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < PNET_CELL_PX or max(value) > 16384:
            raise ValueError(f"resolution_wh must lie within {PNET_CELL_PX}..16384 px, got {value}")
        return value


class ProfileConfig(BaseModel):
    """Batch ranges for the batched nets and the P-Net pyramid geometry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch: int = Field(32, ge=1, le=1024, description="largest batch R-Net/O-Net/embedder accept")
    opt_batch: int = Field(8, ge=1, le=1024, description="batch the kernels are tuned for (<= max_batch)")
    pnet: PnetProfileConfig = PnetProfileConfig()


def pnet_level_hw(resolution_wh: tuple[int, int], min_face_px: int, scale_factor: float) -> list[tuple[int, int]]:
    """(H, W) of every pyramid level, largest first, exactly as `MtcnnDetector` resizes the frame."""
    w, h = resolution_wh
    return [(int(h * s + 1), int(w * s + 1)) for s in pyramid_scales((w, h), min_face_px, scale_factor)]


def pnet_profiles(channels: int, config: PnetProfileConfig, pyramid: Pyramid) -> list[ShapeRange]:
    """P-Net profiles at batch 1.

    "range": one profile from P-Net's 12x12 window up to the largest level, opt at the largest (where the
    time goes); any frame up to `resolution_wh`, of any aspect, fits. "per_scale": one fixed shape per
    level of exactly `resolution_wh`; best kernels, but only that frame size fits.
    """
    levels = pnet_level_hw(config.resolution_wh, pyramid.min_face_px, pyramid.scale_factor)
    if not levels:
        raise ValueError(f"no pyramid level for {config.resolution_wh} with min_face_px={pyramid.min_face_px}")
    if config.mode == "per_scale":
        return [ShapeRange((1, channels, h, w), (1, channels, h, w), (1, channels, h, w)) for h, w in levels]
    h_max, w_max = levels[0]
    cell = PNET_CELL_PX
    return [ShapeRange((1, channels, cell, cell), (1, channels, h_max, w_max), (1, channels, h_max, w_max))]


def batch_profile(item_shape: Shape, max_batch: int, opt_batch: int) -> ShapeRange:
    """Batch 1..max_batch of fixed-size items, e.g. (3, 24, 24) for R-Net."""
    opt = min(opt_batch, max_batch)
    return ShapeRange((1, *item_shape), (opt, *item_shape), (max_batch, *item_shape))


def profiles_for_input(
    input_shape: list[int | str], config: ProfileConfig, pyramid: Pyramid | None = None
) -> list[ShapeRange]:
    """Profiles for a single-input net given its ONNX shape ([N, C, H, W], symbolic dims as str or <= 0).

    Dynamic H/W means the fully convolutional P-Net, whose profiles need the detector's `pyramid`;
    otherwise only the batch is dynamic.
    """
    if len(input_shape) != 4:
        raise ValueError(f"expected an NCHW input, got {input_shape}")
    channels, h, w = input_shape[1:]
    if not isinstance(channels, int) or channels <= 0:
        raise ValueError(f"the channel dimension must be fixed, got {input_shape}")
    spatial_dynamic = [not isinstance(d, int) or d <= 0 for d in (h, w)]
    if all(spatial_dynamic):
        if pyramid is None:
            raise ValueError("P-Net's profiles need the detector's pyramid (min_face_px, scale_factor)")
        return pnet_profiles(channels, config.pnet, pyramid)
    if any(spatial_dynamic):
        raise ValueError(f"only both or neither of H, W may be dynamic: {input_shape}")
    return [batch_profile((channels, int(h), int(w)), config.max_batch, config.opt_batch)]


def select_profile(profiles: list[ShapeRange], shape: Shape) -> int:
    """Index of the first profile that accepts `shape`; a ValueError naming the setting to change if none."""
    for index, profile in enumerate(profiles):
        if profile.contains(shape):
            return index
    raise ValueError(
        f"input shape {shape} is outside every optimization profile {profiles}: feed batches of "
        "at most max_batch, or raise pnet.resolution_wh to the largest camera frame"
    )


def shape_string(name: str, shape: Shape) -> str:
    """onnxruntime TensorRT provider syntax: 'input:1x3x24x24'."""
    return f"{name}:{'x'.join(str(d) for d in shape)}"
