"""PipelineConfig refuses contradictions at start-up, and the detector and embedder chunk by the backend's limit."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from models.detect.lanes import CpuExecution
from models.detect.mtcnn import DetectorConfig, MtcnnDetector
from models.embed.embedder import Embedder
from models.engines.backend import TensorRTConfig, TorchConfig, batch_limit
from models.engines.ort_providers import OnnxRuntimeConfig
from models.pipeline import PipelineConfig, detector_pyramid
from models.registry import load_registry


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # MTCNN's nets have several outputs: torch converts single-output embedders only
        ({"backend": {"type": "torch", "device": "cpu"}}, "embedder_backend"),
        # engines tuned for a batch the detector never feeds
        ({"detector": {"max_batch": 4}, "backend": {"type": "tensorrt", "opt_batch": 8}}, "detector.max_batch"),
        ({"embed_max_batch": 4, "backend": {"type": "tensorrt", "opt_batch": 8}}, "embed_max_batch"),
        # a P-Net profile smaller than the smallest face: no pyramid level, nothing would be detected
        (
            {"detector": {"min_face_px": 400}, "backend": {"type": "tensorrt", "pnet": {"resolution_wh": [640, 360]}}},
            "min_face_px",
        ),
        # the calibrator without calibration data
        ({"backend": {"type": "tensorrt", "int8_source": "calibrator"}}, "calibration_dir"),
        # half precision on the CPU
        ({"embedder_backend": {"type": "torch", "device": "cpu", "precision": "fp16"}}, "cuda only"),
        # the pyramid lives in the detector block only
        ({"backend": {"type": "tensorrt", "pnet": {"min_face_px": 20}}}, "min_face_px"),
    ],
)
def test_contradictions_are_refused(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PipelineConfig.model_validate(config)


def test_documented_combinations_load() -> None:
    jetson = PipelineConfig.model_validate({"detector": {"min_face_px": 40}, "backend": {"type": "tensorrt"}})
    assert isinstance(jetson.embedder, TensorRTConfig)  # the embedder follows backend by default
    hub = PipelineConfig.model_validate({"embedder_backend": {"type": "torch", "device": "cuda"}})
    assert isinstance(hub.backend, OnnxRuntimeConfig) and isinstance(hub.embedder, TorchConfig)
    assert detector_pyramid(jetson.detector).min_face_px == 40


@pytest.mark.parametrize(
    ("pnet", "camera_wh", "fits"),
    [
        ({"resolution_wh": [1280, 720]}, (1280, 720), True),
        ({"resolution_wh": [1280, 720]}, (640, 480), True),  # smaller frames fit the range profile
        ({"resolution_wh": [1280, 720]}, (1920, 1080), False),  # a larger camera would be refused every frame
        ({"resolution_wh": [1280, 720], "mode": "per_scale"}, (640, 480), False),  # per_scale: that size only
    ],
)
def test_cameras_must_fit_the_pnet_engine(pnet: dict[str, object], camera_wh: tuple[int, int], fits: bool) -> None:
    from edge.config import EdgeConfig

    raw = {
        "device_id": "door-1",
        "cameras": [{"name": "c", "source": {"type": "csi", "resolution_wh": camera_wh}}],
        "pipeline": {"backend": {"type": "tensorrt", "pnet": pnet}},
    }
    if fits:
        EdgeConfig.model_validate(raw)
    else:
        with pytest.raises(ValidationError, match="pnet.resolution_wh"):
            EdgeConfig.model_validate(raw)


class _LimitedNet:
    """A backend with a TensorRT-like batch limit that records what it is fed."""

    name = "limited"

    def __init__(self, max_batch: int | None, outputs: tuple[int, ...]) -> None:
        self.max_batch, self.outputs, self.batches = max_batch, outputs, []  # type: list[int]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.max_batch is not None:
            assert len(batch) <= self.max_batch
        self.batches.append(len(batch))
        return [np.zeros((len(batch), d), np.float32) for d in self.outputs]


@pytest.mark.parametrize(("limit", "wanted", "fed"), [(None, 256, 256), (32, 256, 32), (64, 16, 16)])
def test_batch_limit(limit: int | None, wanted: int, fed: int) -> None:
    assert batch_limit(_LimitedNet(limit, (1,)), wanted) == fed


@pytest.mark.parametrize(
    ("cpu", "fed"),
    [
        (None, [8, 8, 4]),  # GPU-style: batches of max_batch 256, capped by the engine's 8
        (CpuExecution(lanes=1, crop_batch=6), [6, 6, 6, 2]),  # CPU: crop_batch, under the engine's limit
        (CpuExecution(lanes=1, crop_batch=64), [8, 8, 4]),  # ... and capped by it too
    ],
)
def test_detector_chunks_by_the_backend_limit(cpu: CpuExecution | None, fed: list[int]) -> None:
    rnet = _LimitedNet(8, (4, 2))
    detector = MtcnnDetector(rnet, rnet, _LimitedNet(8, (4, 10, 2)), DetectorConfig(max_batch=256), cpu)
    boxes = np.tile(np.array([[10, 10, 40, 40]], np.float32), (20, 1))
    kept, (reg, prob) = detector._crop_and_run(rnet, np.zeros((100, 100, 3), np.uint8), boxes, 24)
    assert rnet.batches == fed
    assert len(kept) == len(reg) == len(prob) == 20


def test_embedder_chunks_by_the_backend_limit() -> None:
    spec = load_registry().model("sface")
    assert spec.preprocess is not None
    net = _LimitedNet(4, (128,))
    embedder = Embedder(net, spec.preprocess, 128, max_batch=32)  # type: ignore[arg-type]
    assert embedder.embed(np.zeros((10, 112, 112, 3), np.uint8)).shape == (10, 128)
    assert net.batches == [4, 4, 2]
