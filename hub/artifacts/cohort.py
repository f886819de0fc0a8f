"""The impostor cohort the hub ships in every gallery (`facefleet.openset`): aligned faces of people in no
gallery (`facefleet models cohort`), embedded once per model by the pipeline that builds that model's
galleries. The crops are read from their file when a model first needs them and not kept in memory."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from models.cohort import cohort_embeddings, load_cohort_crops
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)


class GalleryCohort:
    """`embeddings(pipeline)`: the cohort by that pipeline's model (cached per model id), None without a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_model: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        if not path.exists():
            log.warning(
                "no impostor cohort at %s (make one with `facefleet models cohort`): galleries carry "
                "none and agents name tracks at their fixed match_threshold",
                path,
            )

    def crops(self) -> np.ndarray | None:
        """(K, 112, 112, 3) uint8 crops, None without a cohort file."""
        return load_cohort_crops(self.path) if self.path.exists() else None

    def embeddings(self, pipeline: FacePipeline) -> np.ndarray | None:
        with self._lock:
            if pipeline.model_id not in self._by_model:
                crops = self.crops()
                if crops is None:
                    return None
                self._by_model[pipeline.model_id] = cohort_embeddings(pipeline, crops)
            return self._by_model[pipeline.model_id]
