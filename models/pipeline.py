"""The face pipeline shared by edge and hub: detect -> align -> embed, built from one validated config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.align import align_faces
from models.artifacts import verified_model_path
from models.backend import BackendConfig, OnnxRuntimeConfig, open_backend
from models.embedder import Embedder
from models.faces import Faces
from models.mtcnn import DetectorConfig, MtcnnDetector
from models.registry import ArtifactKind, ModelSpec, default_model_dir, load_registry


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
class FaceAnalysis:
    """Faces of one image with their aligned crops (N, 112, 112, 3) RGB and unit embeddings (N, D)."""

    faces: Faces
    crops_rgb: np.ndarray
    embeddings: np.ndarray


def runs_on_cpu(backend: BackendConfig) -> bool:
    """Whether onnxruntime would run this config on the CPU: its first configured provider that this
    onnxruntime build has is the CPU one."""
    if backend.type != "onnxruntime":
        return False
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    first = next((p for p in backend.providers if p in available), "CPUExecutionProvider")
    return first == "CPUExecutionProvider"


def artifact_kind(spec: ModelSpec, backend: BackendConfig) -> ArtifactKind:
    """Which file of a model a backend runs: INT8 on a GPU (TensorRT, or onnxruntime's TensorRT/CUDA
    providers) takes the symmetric Q/DQ copy; INT8 on onnxruntime's CPU provider the U8/S8 copy, or FP32
    for a net whose CPU INT8 copy does not pay (`cpu_int8: false` in the registry)."""
    if backend.precision != "int8":
        return "fp32"
    if not runs_on_cpu(backend):
        return "int8"
    return "int8cpu" if spec.cpu_int8 else "fp32"


class FacePipeline:
    def __init__(self, detector: MtcnnDetector, embedder: Embedder, model_id: str,
                 model_paths: dict[str, Path] | None = None) -> None:
        """model_paths: model id -> the file each net runs from (for reports and cache keys)."""
        self.detector = detector
        self.embedder = embedder
        self.model_id = model_id
        self.model_paths = model_paths or {}

    @classmethod
    def from_config(cls, config: PipelineConfig | None = None, model_path: Path | None = None) -> FacePipeline:
        """Build from config; `model_path` overrides the embedder file (a model pushed by the hub)."""
        config = config or PipelineConfig()
        registry = load_registry()
        model_dir = config.model_dir or default_model_dir()
        paths = {model_id: verified_model_path(model_dir, model_id, artifact_kind(registry.model(model_id),
                                                                                 config.backend))
                 for model_id in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet")}
        pnet, rnet, onet = (open_backend(path, config.backend) for path in paths.values())
        spec = registry.model(config.embedder_model)
        if spec.role != "embedder" or spec.preprocess is None or spec.embedding_dim is None:
            raise ValueError(f"{config.embedder_model} is not an embedder")
        path = model_path or verified_model_path(model_dir, config.embedder_model, artifact_kind(spec, config.backend))
        paths[config.embedder_model] = path
        embedder = Embedder(open_backend(path, config.backend), spec.preprocess, spec.embedding_dim,
                            config.embed_max_batch, config.flip_average)
        return cls(MtcnnDetector(pnet, rnet, onet, config.detector), embedder, config.embedder_model, paths)

    def detect(self, image_bgr: np.ndarray) -> Faces:
        return self.detector.detect(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))

    def embed_faces(self, image_rgb: np.ndarray, faces: Faces) -> tuple[np.ndarray, np.ndarray]:
        """Aligned crops (N, S, S, 3) and embeddings (N, D) of the given faces of an RGB image."""
        crops = align_faces(image_rgb, faces.landmarks, self.embedder.preprocess.size)
        return crops, self.embedder.embed(crops)

    def analyze(self, image_bgr: np.ndarray) -> FaceAnalysis:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        faces = self.detector.detect(rgb)
        crops, embeddings = self.embed_faces(rgb, faces)
        return FaceAnalysis(faces, crops, embeddings)
