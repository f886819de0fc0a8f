"""The face pipeline shared by edge and hub: detect -> align -> embed, built from one validated config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.artifacts import verified_model_path
from models.detect.lanes import CpuExecution
from models.detect.mtcnn import DetectorConfig, MtcnnDetector
from models.detect.schedule import DetectionSchedule, ScheduledFaces
from models.embed.align import align_faces
from models.embed.embedder import Embedder
from models.engines.backend import BackendConfig, TensorRTConfig
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.engines.tensorrt.trt_profiles import Pyramid, pnet_level_hw, pnet_profiles
from models.faces import Faces
from models.registry import ArtifactKind, ModelSpec, default_model_dir, load_registry


def detector_pyramid(detector: DetectorConfig) -> Pyramid:
    """The pyramid geometry engines derive P-Net's profiles from: the detector's own, the one source."""
    return Pyramid(detector.min_face_px, detector.scale_factor)


class PipelineConfig(BaseModel):
    """Which models run, where, and at what precision. The hub and every edge agent must agree on
    `embedder_model` and `flip_average`, or their embeddings will not be comparable.

    `backend` runs the detector's nets and, unless `embedder_backend` is given, the embedder too; a GPU hub
    sets `embedder_backend: {type: torch, device: cuda}` and keeps the detector on onnxruntime. Contradictions
    that would only show at run time (a TensorRT profile no frame fits, a batch the engines are not tuned
    for) are refused here, when the config is loaded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path | None = Field(None, description="converted models; default $FACEFLEET_MODEL_DIR or the cache")
    detector: DetectorConfig = DetectorConfig()
    embedder_model: str = "sface"
    embed_max_batch: int = Field(32, ge=1, le=1024)
    flip_average: bool = False
    backend: BackendConfig = Field(default_factory=OnnxRuntimeConfig, discriminator="type")
    embedder_backend: BackendConfig | None = Field(
        None, discriminator="type", description="the embedder's own backend; default: backend"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        if self.backend.type == "torch":
            raise ValueError(
                "pipeline.backend type torch runs the embedder only (MTCNN's nets have several "
                "outputs): keep backend for the detector and set embedder_backend: {type: torch}"
            )
        if isinstance(self.backend, TensorRTConfig):
            check_tensorrt_fits(self.backend, self.detector.max_batch, "detector.max_batch")
            check_pnet_levels(self.backend, self.detector)
        if isinstance(self.embedder, TensorRTConfig):
            check_tensorrt_fits(self.embedder, self.embed_max_batch, "embed_max_batch")
        return self

    @property
    def embedder(self) -> BackendConfig:
        """The backend the embedder runs on."""
        return self.embedder_backend or self.backend


def check_tensorrt_fits(config: TensorRTConfig, fed_batch: int, fed_name: str) -> None:
    """Engines tuned (`opt_batch`) for more than the caller ever feeds in one call are a contradiction."""
    if config.opt_batch > fed_batch:
        raise ValueError(
            f"backend opt_batch ({config.opt_batch}) is larger than {fed_name} ({fed_batch}), the "
            "largest batch the engines are fed: TensorRT would tune its kernels for a batch that "
            "never comes"
        )


def check_pnet_levels(config: TensorRTConfig, detector: DetectorConfig) -> None:
    """P-Net's engine is built for frames up to pnet.resolution_wh: at least one pyramid level must exist."""
    if not pnet_level_hw(config.pnet.resolution_wh, detector.min_face_px, detector.scale_factor):
        raise ValueError(
            f"backend pnet.resolution_wh {config.pnet.resolution_wh} is smaller than detector."
            f"min_face_px ({detector.min_face_px}): P-Net's engine would have no pyramid level"
        )


def check_frame_fits(config: PipelineConfig, resolution_wh: tuple[int, int]) -> None:
    """A ValueError when a TensorRT P-Net engine of this config cannot take every pyramid level of frames of
    `resolution_wh` (a camera larger than pnet.resolution_wh, or another size with pnet.mode per_scale)."""
    if not isinstance(config.backend, TensorRTConfig):
        return
    pyramid, pnet = detector_pyramid(config.detector), config.backend.pnet
    profiles = pnet_profiles(3, pnet, pyramid)
    w, h = resolution_wh
    for level_h, level_w in pnet_level_hw(resolution_wh, pyramid.min_face_px, pyramid.scale_factor):
        if not any(p.contains((1, 3, level_h, level_w)) for p in profiles):
            raise ValueError(
                f"{w}x{h} frames do not fit the P-Net engine built for pnet.resolution_wh "
                f"{pnet.resolution_wh} (mode {pnet.mode}): set it to the largest camera"
            )


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


def runs_on_cpu(backend: BackendConfig) -> bool:
    """Whether onnxruntime would run this config on the CPU: its first configured provider that this
    onnxruntime build has is the CPU one."""
    if backend.type != "onnxruntime":
        return False
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    first = next((p for p in backend.providers if p in available), "CPUExecutionProvider")
    return first == "CPUExecutionProvider"


def detector_backend(backend: BackendConfig, cpu: CpuExecution | None) -> BackendConfig:
    """The detector's backend: with several CPU lanes each net runs single-threaded in the calling lane
    (intra-op threads would contend with the other lanes for the same cores)."""
    if cpu is not None and cpu.lanes > 1 and isinstance(backend, OnnxRuntimeConfig):
        return backend.model_copy(update={"intra_op_threads": 1})
    return backend


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
    def __init__(
        self, detector: MtcnnDetector, embedder: Embedder, model_id: str, model_paths: dict[str, Path] | None = None
    ) -> None:
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
        pyramid = detector_pyramid(config.detector)
        paths = {
            model_id: verified_model_path(model_dir, model_id, artifact_kind(registry.model(model_id), config.backend))
            for model_id in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet")
        }
        cpu = config.detector.cpu if runs_on_cpu(config.backend) else None
        pnet, rnet, onet = (
            open_backend(path, detector_backend(config.backend, cpu), pyramid) for path in paths.values()
        )
        spec = registry.model(config.embedder_model)
        if spec.role != "embedder" or spec.preprocess is None or spec.embedding_dim is None:
            raise ValueError(f"{config.embedder_model} is not an embedder")
        path = model_path or verified_model_path(model_dir, config.embedder_model, artifact_kind(spec, config.embedder))
        paths[config.embedder_model] = path
        embedder = Embedder(
            open_backend(path, config.embedder),
            spec.preprocess,
            spec.embedding_dim,
            config.embed_max_batch,
            config.flip_average,
        )
        detector = MtcnnDetector(pnet, rnet, onet, config.detector, cpu)
        return cls(detector, embedder, config.embedder_model, paths)

    def detect(self, image_bgr: np.ndarray) -> Faces:
        return self.detector.detect(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))

    def detect_scheduled(
        self, schedule: DetectionSchedule, image_rgb: np.ndarray, live_xyxy: np.ndarray, force_full: bool = False
    ) -> ScheduledFaces:
        """One camera frame's faces (RGB) on that camera's detection schedule (`models.detect.schedule`)."""
        return schedule.detect(self.detector, image_rgb, live_xyxy, force_full)

    def embed_faces(self, image_rgb: np.ndarray, faces: Faces) -> EmbeddedFaces:
        """Aligned crops, embeddings and raw norms of the given faces of an RGB image."""
        return self.embed_crops(self.crops_of(image_rgb, faces))

    def crops_of(self, image_rgb: np.ndarray, faces: Faces) -> np.ndarray:
        """(N, S, S, 3) RGB crops of the faces, aligned for the embedder."""
        return align_faces(image_rgb, faces.landmarks, self.embedder.preprocess.size)

    def embed_crops(self, crops_rgb: np.ndarray) -> EmbeddedFaces:
        """Embeddings and raw norms of aligned crops (`crops_of`), in one embedder call (batched up to the
        embedder's max batch): crops of several frames or cameras go together."""
        embeddings, norms = self.embedder.embed_with_norms(crops_rgb)
        return EmbeddedFaces(crops_rgb, embeddings, norms)

    def analyze(self, image_bgr: np.ndarray) -> FaceAnalysis:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        faces = self.detector.detect(rgb)
        embedded = self.embed_faces(rgb, faces)
        return FaceAnalysis(faces, embedded.crops_rgb, embedded.embeddings)
