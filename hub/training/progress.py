"""What a running training job reports, and how it is stopped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


class TrainingCancelled(RuntimeError):
    """The job's cancel event was set; nothing is exported or released."""


@dataclass(frozen=True)
class TrainingProgress:
    """A snapshot for status pages: phase, the latest loss and the latest and best held-out figures."""

    phase: Literal["features", "training", "export", "gate", "release"]
    step: int
    max_steps: int
    loss: float | None
    held_out_accuracy: float | None
    best_step: int
    best_held_out_accuracy: float | None
    elapsed_s: float


ProgressCallback = Callable[[TrainingProgress], None]
