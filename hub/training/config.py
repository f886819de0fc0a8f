"""The settings of one retraining job: margin loss, optimiser, stopping, augmentation, gate. Validated once."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AugmentConfig(_Strict):
    """Random changes applied to each training crop; zero (or 0 probability) turns one off."""

    flip_probability: float = Field(0.5, ge=0, le=1)
    rotation_deg: float = Field(8.0, ge=0, le=30, description="uniform in [-r, r] degrees")
    scale_fraction: float = Field(0.08, ge=0, le=0.3, description="zoom uniform in [1 - f, 1 + f]")
    brightness_fraction: float = Field(0.2, ge=0, le=0.8, description="gain uniform in [1 - f, 1 + f]")
    blur_probability: float = Field(0.2, ge=0, le=1, description="5x5 Gaussian, sigma uniform in 0.5..1.5 px")


class GateConfig(_Strict):
    """When a retrained model may replace the current one."""

    max_lfw_drop_points: float = Field(0.5, ge=0, le=100, description="LFW accuracy may fall by at most this")
    min_held_out_gain_points: float = Field(
        0.0,
        ge=0,
        le=100,
        description="held-out identification must rise by more than this, or stay equal with a larger mean margin",
    )
    precisions: tuple[Literal["fp32", "int8"], ...] = Field(
        ("fp32", "int8"), min_length=1, description="each must pass against its counterpart"
    )


class TrainingConfig(_Strict):
    """ArcFace-family fine-tuning of the embedder on the enrolled people.

    The margin is the combined form `s * (cos(m1 * theta + m2) - m3)` for the true class: `arcface` is
    (1, m, 0), `cosface` is (1, 0, m), `combined` takes m1, m2, m3 as given.
    """

    margin: Literal["arcface", "cosface", "combined"] = "arcface"
    scale_s: float = Field(32.0, gt=1, le=128, description="logit scale s")
    margin_m: float = Field(0.5, ge=0, le=1.0, description="m of arcface (radians) or cosface (cosine)")
    combined_m1: float = Field(1.0, ge=0.5, le=2.0)
    combined_m2: float = Field(0.3, ge=0, le=1.0)
    combined_m3: float = Field(0.2, ge=0, le=1.0)
    lr_backbone: float = Field(2e-5, gt=0, le=1e-1, description="Adam lr of the pretrained network: kept small")
    lr_head: float = Field(1e-3, gt=0, le=1.0, description="Adam lr of the class-centre matrix")
    weight_decay: float = Field(5e-4, ge=0, le=0.1)
    batch_size: int = Field(32, ge=2, le=512)
    max_steps: int = Field(2000, ge=1, le=200_000)
    patience_steps: int = Field(300, ge=1, description="stop after this many steps without a held-out gain")
    eval_every: int = Field(50, ge=1, description="steps between held-out evaluations")
    min_margin_gain: float = Field(
        1e-3,
        ge=0,
        le=1,
        description="at equal held-out accuracy, a mean margin "
        "gain below this does not count as progress for early stopping",
    )
    trainable_layers: int = Field(
        3,
        ge=1,
        le=1000,
        description="last Conv/Gemm layers fine-tuned (with what "
        "follows them); the trunk before them is frozen and its features cached",
    )
    augmented_copies: int = Field(
        4,
        ge=0,
        le=64,
        description="augmented versions of each training crop whose trunk features are cached, besides the plain one",
    )
    freeze_batchnorm: bool = Field(True, description="keep BN running statistics (small batches would ruin them)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: int | None = Field(None, ge=1, le=256, description="torch threads; leave cores for serving")
    seed: int = 0
    held_out_fraction: float = Field(0.25, gt=0, lt=0.9, description="per person; at least one sample each")
    min_people: int = Field(2, ge=2)
    min_samples_per_person: int = Field(2, ge=2, description="one to train on, one held out")
    calibration_max_crops: int = Field(256, ge=8, le=10_000, description="INT8 calibration crops from the library")
    augment: AugmentConfig = AugmentConfig()
    gate: GateConfig = GateConfig()

    @model_validator(mode="after")
    def _consistent(self) -> TrainingConfig:
        if self.eval_every > self.max_steps:
            raise ValueError(f"eval_every ({self.eval_every}) exceeds max_steps ({self.max_steps})")
        if self.patience_steps < self.eval_every:
            raise ValueError(f"patience_steps ({self.patience_steps}) is shorter than eval_every ({self.eval_every})")
        return self

    @property
    def margins_m123(self) -> tuple[float, float, float]:
        if self.margin == "arcface":
            return 1.0, self.margin_m, 0.0
        if self.margin == "cosface":
            return 1.0, 0.0, self.margin_m
        return self.combined_m1, self.combined_m2, self.combined_m3
