"""The documented Jetson config on the real clip, through the TensorRT backend's build and run path.

The engine is the stand-in of tests/models/engines/tensorrt/trt_standins.py (TensorRT 10.x API shape): it is built by
`load_or_build` from the plan the config gives, computes with onnxruntime underneath, and refuses any shape
outside [min, max] of its optimization profile exactly as TensorRT does. With the detector's 256-crop batches
and the engine's 32, a pipeline that fed R-Net unchunked would be refused on most 720p frames and find nothing;
this one must find, frame by frame, the faces the onnxruntime backend finds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import models.engines.tensorrt.tensorrt_backend as tb
from models.detect.mtcnn import MtcnnDetector
from models.embed.embedder import Embedder
from models.engines.backend import TensorRTConfig
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.pipeline import FacePipeline, PipelineConfig, detector_pyramid
from models.registry import load_registry
from tests.conftest import ROOT
from tests.models.engines.tensorrt.trt_standins import FakeMemory, make_tensorrt

FRAME_STEP = 4  # every 4th frame of the 275: 69 frames, every shot of the clip


def jetson_pipeline_config() -> PipelineConfig:
    """The `pipeline` block of the documented Jetson config (edge/edge.example.yaml)."""
    raw = yaml.safe_load((ROOT / "edge" / "edge.example.yaml").read_text())
    return PipelineConfig.model_validate(raw["pipeline"])


@pytest.fixture(scope="module")
def clip_frames(shared_data: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(shared_data / "clips" / "short_hamilton_clip.mp4"))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    capture.release()
    assert len(frames) == 275
    return frames[::FRAME_STEP]


def onnxruntime_twin(pipeline: FacePipeline, config: PipelineConfig) -> FacePipeline:
    """The files `pipeline` runs (TensorRT's symmetric INT8 copies), on onnxruntime's CPU provider. From the
    config alone onnxruntime would take its own U8/S8 copies, which find slightly different boxes."""
    cpu, pyramid = OnnxRuntimeConfig(), detector_pyramid(config.detector)
    pnet, rnet, onet = (
        open_backend(pipeline.model_paths[m], cpu, pyramid) for m in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet")
    )
    spec = load_registry().model(config.embedder_model)
    assert spec.preprocess is not None and spec.embedding_dim is not None
    embedder = Embedder(
        open_backend(pipeline.model_paths[config.embedder_model], cpu),
        spec.preprocess,
        spec.embedding_dim,
        config.embed_max_batch,
        config.flip_average,
    )
    return FacePipeline(MtcnnDetector(pnet, rnet, onet, config.detector), embedder, config.embedder_model)


@pytest.fixture
def standin_tensorrt(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    memory = FakeMemory(capability=(8, 7), gpu_name="Orin")
    trt = make_tensorrt("10", memory)
    monkeypatch.setattr(tb, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(tb, "open_cuda_memory", lambda library, device: memory)
    yield trt


@pytest.mark.slow
@pytest.mark.parametrize("resolution_wh", [(640, 360), (1280, 720)])
def test_jetson_config_finds_what_onnxruntime_finds(
    clip_frames: list[np.ndarray], standin_tensorrt: object, tmp_path: Path, resolution_wh: tuple[int, int]
) -> None:
    jetson = jetson_pipeline_config()
    assert isinstance(jetson.backend, TensorRTConfig) and jetson.backend.precision == "int8"
    assert jetson.detector.max_batch > jetson.backend.max_batch  # the setting that used to detect nothing
    backend = jetson.backend.model_copy(update={"engine_cache_dir": tmp_path / "engines"})
    on_trt = FacePipeline.from_config(jetson.model_copy(update={"backend": backend}))
    on_ort = onnxruntime_twin(on_trt, jetson)
    record = standin_tensorrt.record  # type: ignore[attr-defined]
    rnet_calls_per_frame, faces = [], 0
    for bgr in clip_frames:
        frame = cv2.resize(bgr, resolution_wh, interpolation=cv2.INTER_LINEAR)
        before = len(record.run_batches.get("mtcnn-rnet.int8.onnx", []))
        got, want = on_trt.analyze(frame), on_ort.analyze(frame)
        rnet_calls_per_frame.append(len(record.run_batches.get("mtcnn-rnet.int8.onnx", [])) - before)
        assert len(got.faces) == len(want.faces)
        np.testing.assert_allclose(got.faces.xyxy, want.faces.xyxy, atol=1e-3)
        np.testing.assert_allclose(got.embeddings, want.embeddings, atol=1e-5)
        faces += len(got.faces)
    assert record.refused_shapes == []  # nothing was fed outside a profile
    assert max(record.run_batches["mtcnn-rnet.int8.onnx"]) <= backend.max_batch
    assert max(record.run_batches["mtcnn-onet.int8.onnx"]) <= backend.max_batch
    assert max(rnet_calls_per_frame) > 1  # some frames had more R-Net crops than one engine call takes
    assert faces >= len(clip_frames) // 2  # the clip has faces in most shots: this is not "nothing == nothing"


def test_the_standin_refuses_what_tensorrt_refuses(standin_tensorrt: object, tmp_path: Path) -> None:
    # The enforcement the test above relies on: a batch above the profile's max is refused by the context
    # itself (set_input_shape returns False), even if the backend's own check were bypassed.
    from models.artifacts import verified_model_path
    from models.registry import default_model_dir

    config = TensorRTConfig(precision="fp32", max_batch=4, engine_cache_dir=tmp_path)
    with tb.TensorRTBackend(verified_model_path(default_model_dir(), "mtcnn-onet"), config) as backend:
        assert backend.max_batch == 4
        assert [o.shape for o in backend.run(np.zeros((4, 3, 48, 48), np.float32))] == [(4, 4), (4, 10), (4, 2)]
        assert backend.context.set_input_shape(backend.input_name, (5, 3, 48, 48)) is False
        with pytest.raises(ValueError, match="max_batch"):
            backend.run(np.zeros((5, 3, 48, 48), np.float32))
    assert standin_tensorrt.record.refused_shapes == [(5, 3, 48, 48)]  # type: ignore[attr-defined]
