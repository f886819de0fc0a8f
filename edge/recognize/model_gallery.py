"""The model and gallery an agent matches with, swapped together and atomically.

The frame loop reads `ModelGalleryHolder.current` once per frame, so every frame is processed by exactly one
(pipeline, gallery) pair; an update builds a new `ModelGallery`, checks it, and replaces the reference.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facefleet.gallery import Gallery, GalleryError
from facefleet.wire import SignedManifest
from models.pipeline import FacePipeline, PipelineConfig


@dataclass(frozen=True)
class ModelGallery:
    """A consistent pair: the gallery's templates come from the pipeline's embedding model."""

    pipeline: FacePipeline
    gallery: Gallery
    model_version: str = ""

    def __post_init__(self) -> None:
        if (self.gallery.person_ids or self.gallery.ignores.ids) and self.gallery.model_id != self.pipeline.model_id:
            raise GalleryError(
                f"gallery {self.gallery.version} is for model {self.gallery.model_id!r}, "
                f"the pipeline runs {self.pipeline.model_id!r}"
            )
        if self.gallery.dim != self.pipeline.embedder.dim:
            raise GalleryError(f"gallery dim {self.gallery.dim} != embedder dim {self.pipeline.embedder.dim}")

    @property
    def model_id(self) -> str:
        return self.pipeline.model_id


class ModelGalleryHolder:
    """Holds the current `ModelGallery`; `swap` replaces it in one reference assignment."""

    def __init__(self, recognizer: ModelGallery) -> None:
        self._current = recognizer
        self._lock = threading.Lock()  # serialises writers (updates); readers need no lock

    @property
    def current(self) -> ModelGallery:
        return self._current

    def swap(self, recognizer: ModelGallery) -> ModelGallery:
        """Install `recognizer`; returns the previous one (to revert to)."""
        with self._lock:
            previous, self._current = self._current, recognizer
        return previous


class HealthError(RuntimeError):
    """A model or gallery loads but does not behave: non-finite or non-unit embeddings, broken matching."""


def probe_crop(path: Path | None, size: int = 112) -> np.ndarray:
    """The (size, size, 3) uint8 RGB image used for health checks: an aligned face file if configured,
    else a fixed synthetic image (still proves the network runs and yields a finite unit vector)."""
    if path is not None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise HealthError(f"probe crop {path} is not a readable image")
        return cv2.cvtColor(cv2.resize(image, (size, size)), cv2.COLOR_BGR2RGB)
    ramp = np.linspace(40, 215, size, dtype=np.float32)
    return np.stack(
        [np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, ramp[::-1]) / 2, np.tile(ramp, (size, 1))], axis=2
    ).astype(np.uint8)


def check_embedder(pipeline: FacePipeline, probe_rgb: np.ndarray) -> np.ndarray:
    """The probe's (1, D) embedding; raises `HealthError` unless it is finite and of unit length."""
    embedding = pipeline.embedder.embed(probe_rgb[None])
    if embedding.shape != (1, pipeline.embedder.dim) or not np.isfinite(embedding).all():
        raise HealthError(f"probe embedding has shape {embedding.shape} or is not finite")
    if abs(float(np.linalg.norm(embedding)) - 1.0) > 1e-3:
        raise HealthError("probe embedding is not a unit vector")
    return embedding


def health_check(rec: ModelGallery, probe_rgb: np.ndarray) -> None:
    """Raise `HealthError` unless the probe gives a finite unit embedding the gallery can score, and the
    gallery finds its own first template (the in-memory matrix and person index agree)."""
    embedding = check_embedder(rec.pipeline, probe_rgb)
    if not np.isfinite(rec.gallery.person_scores(embedding)).all():
        raise HealthError("gallery scores of the probe are not finite")
    if len(rec.gallery.templates):
        match = rec.gallery.match(rec.gallery.templates[:1])
        if match.person_index[0] != rec.gallery.template_person[0] or match.cosine[0] < 0.99:
            raise HealthError("the gallery does not match its own first template")


def pipeline_for_model(config: PipelineConfig, signed: SignedManifest, path: Path) -> FacePipeline:
    """A pipeline whose embedder is a pushed model file; its preprocessing is that of `base_model`."""
    manifest = signed.manifest
    base = manifest.base_model or config.embedder_model
    pipeline = FacePipeline.from_config(config.model_copy(update={"embedder_model": base}), model_path=path)
    if pipeline.embedder.dim != manifest.embedding_dim:
        raise HealthError(
            f"model {manifest.version} gives {pipeline.embedder.dim}-d embeddings, "
            f"its manifest says {manifest.embedding_dim}"
        )
    pipeline.model_id = manifest.model_id
    return pipeline
