"""The face pipeline shared by edge and hub: detect -> align -> embed, built from one validated config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.align import align_faces
from models.artifacts import verified_model_path
from models.backend import BackendConfig, OnnxRuntimeConfig, open_backend
from models.embedder import Embedder
from models.faces import Faces
from models.mtcnn import DetectorConfig, MtcnnDetector
from models.registry import default_model_dir, load_registry


class PipelineConfig(BaseModel):
    """Which models run, where, and at what precision. The hub and every edge agent must agree on
    `embedder_model` and `flip_average`, or their embeddings will not be comparable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path | None = Field(None, description="converted models; default $FACEFLEET_MODEL_DIR or the cache")
    detector: DetectorConfig = DetectorConfig()
    embedder_model: str = "sface"
    embed_max_batch: int = Field(32, ge=1, le=1024)
    flip_average: bool = False
    backend: BackendConfig = Field(default_factory=OnnxRuntimeConfig, discriminator="type")


@dataclass(frozen=True)
class EmbeddedFaces:
    """Aligned crops (N, S, S, 3) RGB of some faces, their unit embeddings (N, D) and raw norms (N,)."""

    crops_rgb: np.ndarray
    embeddings: np.ndarray
    norms: np.ndarray


@dataclass(frozen=True)
class FaceAnalysis:
    """Faces of one image with their aligned crops (N, 112, 112, 3) RGB and unit embeddings (N, D)."""

    faces: Faces
    crops_rgb: np.ndarray
    embeddings: np.ndarray


class FacePipeline:
    def __init__(self, detector: MtcnnDetector, embedder: Embedder, model_id: str) -> None:
        self.detector = detector
        self.embedder = embedder
        self.model_id = model_id

    @classmethod
    def from_config(cls, config: PipelineConfig | None = None, model_path: Path | None = None) -> FacePipeline:
        """Build from config; `model_path` overrides the embedder file (a model pushed by the hub)."""
        config = config or PipelineConfig()
        registry = load_registry()
        model_dir = config.model_dir or default_model_dir()
        precision: Literal["fp32", "int8"] = "int8" if config.backend.precision == "int8" else "fp32"
        nets = {
            role: open_backend(verified_model_path(model_dir, f"mtcnn-{role}", precision), config.backend)
            for role in ("pnet", "rnet", "onet")
        }
        spec = registry.model(config.embedder_model)
        if spec.role != "embedder" or spec.preprocess is None or spec.embedding_dim is None:
            raise ValueError(f"{config.embedder_model} is not an embedder")
        path = model_path or verified_model_path(model_dir, config.embedder_model, precision)
        embedder = Embedder(open_backend(path, config.backend), spec.preprocess, spec.embedding_dim,
                            config.embed_max_batch, config.flip_average)
        return cls(MtcnnDetector(nets["pnet"], nets["rnet"], nets["onet"], config.detector), embedder,
                   config.embedder_model)

    def detect(self, image_bgr: np.ndarray) -> Faces:
        return self.detector.detect(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))

    def detect_rgb(self, image_rgb: np.ndarray) -> Faces:
        return self.detector.detect(image_rgb)

    def embed_faces(self, image_rgb: np.ndarray, faces: Faces) -> EmbeddedFaces:
        """Aligned crops, embeddings and raw norms of the given faces of an RGB image."""
        crops = align_faces(image_rgb, faces.landmarks, self.embedder.preprocess.size)
        embeddings, norms = self.embedder.embed_with_norms(crops)
        return EmbeddedFaces(crops, embeddings, norms)

    def analyze(self, image_bgr: np.ndarray) -> FaceAnalysis:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        faces = self.detector.detect(rgb)
        embedded = self.embed_faces(rgb, faces)
        return FaceAnalysis(faces, embedded.crops_rgb, embedded.embeddings)
