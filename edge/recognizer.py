"""The model and gallery an agent matches with, swapped together and atomically.

The frame loop reads `RecognizerHolder.current` once per frame, so every frame is processed by exactly one
(pipeline, gallery) pair; an update builds a new `Recognizer`, checks it, and replaces the reference.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from facefleet.gallery import Gallery, GalleryError
from models.pipeline import FacePipeline


@dataclass(frozen=True)
class Recognizer:
    """A consistent pair: the gallery's templates come from the pipeline's embedding model."""

    pipeline: FacePipeline
    gallery: Gallery
    model_version: str = ""

    def __post_init__(self) -> None:
        if len(self.gallery.person_ids) and self.gallery.model_id != self.pipeline.model_id:
            raise GalleryError(f"gallery {self.gallery.version} is for model {self.gallery.model_id!r}, "
                               f"the pipeline runs {self.pipeline.model_id!r}")
        if self.gallery.dim != self.pipeline.embedder.dim:
            raise GalleryError(f"gallery dim {self.gallery.dim} != embedder dim {self.pipeline.embedder.dim}")

    @property
    def model_id(self) -> str:
        return self.pipeline.model_id


class RecognizerHolder:
    """Holds the current `Recognizer`; `swap` replaces it in one reference assignment."""

    def __init__(self, recognizer: Recognizer) -> None:
        self._current = recognizer
        self._lock = threading.Lock()  # serialises writers (updates); readers need no lock

    @property
    def current(self) -> Recognizer:
        return self._current

    def swap(self, recognizer: Recognizer) -> Recognizer:
        """Install `recognizer`; returns the previous one (to revert to)."""
        with self._lock:
            previous, self._current = self._current, recognizer
        return previous
