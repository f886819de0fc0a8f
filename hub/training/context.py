"""The inputs of a retraining run besides the people: the model in service and where results go. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub.training.evaluation import LfwBenchmark
from models.registry import Preprocess


@dataclass(frozen=True)
class CurrentModel:
    """The model in service: its id (registry id or release version), files and input spec.

    base_model: the registry model it descends from (its preprocessing; the prefix of new versions);
        empty means `model_id` is itself a registry id.
    """

    model_id: str
    fp32_path: Path
    int8_path: Path | None
    preprocess: Preprocess
    embedding_dim: int
    base_model: str = ""

    @property
    def registry_model(self) -> str:
        return self.base_model or self.model_id


@dataclass(frozen=True)
class RetrainContext:
    """Where candidates go (`<output_dir>/<version>/`), the LFW pairs the gate uses (None: held-out only) and
    the impostor cohort's (K, 112, 112, 3) crops that the release's gallery carries embedded (None: none)."""

    current: CurrentModel
    output_dir: Path
    lfw: LfwBenchmark | None = None
    cohort_crops: np.ndarray | None = None
