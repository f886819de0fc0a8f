"""What a training job reports while it runs and when it ends, and how it is stopped.

Typed schemas (pydantic, frozen): the HTTP API answers them as they are, the CLI prints their JSON. No torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TrainingPhase = Literal["features", "training", "export", "gate", "release"]
Precision = Literal["fp32", "int8"]


class TrainingCancelled(RuntimeError):
    """The job's cancel event was set; nothing is exported or released."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingProgress(_Record):
    """A snapshot for status pages: phase, the latest loss and the latest and best held-out figures."""

    phase: TrainingPhase
    step: int = Field(ge=0)
    max_steps: int = Field(ge=1)
    loss: float | None = None
    held_out_accuracy: float | None = Field(None, description="0..1, at the latest check")
    best_step: int = Field(0, ge=0)
    best_held_out_accuracy: float | None = Field(None, description="0..1")
    elapsed_s: float = Field(0.0, ge=0)


class ModelFigures(_Record):
    """One model file's scores in the gate (accuracies 0..1; LFW None when no LFW benchmark ran)."""

    held_out_accuracy: float
    held_out_mean_margin: float = Field(description="own-template cosine minus best other cosine, mean")
    lfw_accuracy: float | None


class CandidateFiles(_Record):
    """The trained model's files; `gallery` (templates of every enrolled person) only when released."""

    fp32: Path
    int8: Path
    gallery: Path | None = None


class TrainingReport(_Record):
    """What a job did and why its model was or was not released."""

    version: str
    released: bool
    reasons: tuple[str, ...] = Field(description="why the model was not released (empty when it was)")
    checks: tuple[str, ...] = Field(description="one line per gate comparison, passed or not")
    people: int
    train_samples: int
    held_out_samples: int
    lfw_pairs: int
    device: str
    steps: int
    best_step: int
    stopped_early: bool
    feature_seconds: float
    training_seconds: float
    total_seconds: float
    conversion_max_abs_diff: float = Field(description="torch copy vs onnxruntime, raw embedding units")
    export_max_abs_diff: float = Field(description="exported ONNX vs the trained torch module")
    before: dict[Precision, ModelFigures] = Field(default_factory=dict, description="the current model")
    after: dict[Precision, ModelFigures] = Field(default_factory=dict, description="the trained model")
    files: CandidateFiles


ProgressCallback = Callable[[TrainingProgress], None]
