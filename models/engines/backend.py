"""One small interface over inference engines: onnxruntime here, TensorRT on the Jetson, torch on a GPU hub.

A backend runs one network with one input tensor and returns its outputs in the registry's order.
Which backend is chosen by the `type` field of its config block; heavy imports stay inside each backend.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.engines.ort_providers import OnnxRuntimeConfig
from models.engines.tensorrt.trt_profiles import PnetProfileConfig, ProfileConfig, Pyramid

log = logging.getLogger(__name__)


class Backend(Protocol):
    """Runs one network. `run` takes (N, ...) float32 and returns the outputs, batch first.

    A backend whose engine accepts batches up to a fixed size (a TensorRT profile) says so in an attribute
    `max_batch: int`; callers chunk their inputs by `batch_limit(backend)`.
    """

    name: str

    def run(self, batch: np.ndarray) -> list[np.ndarray]: ...


def batch_limit(backend: Backend, wanted: int) -> int:
    """The batch to feed `backend`: `wanted`, or the backend's own `max_batch` where that is smaller."""
    limit = getattr(backend, "max_batch", None)
    return wanted if limit is None else max(1, min(wanted, int(limit)))


class TensorRTConfig(BaseModel):
    """TensorRT engines built on the device from the ONNX artifacts and cached (see
    models.engines.tensorrt.engine_cache).

    INT8 comes from the Q/DQ ONNX (`<id>.int8.onnx`, explicit quantization) unless `int8_source` says
    "calibrator", or the Q/DQ build fails and calibration data exists: then the FP32 ONNX is calibrated by
    TensorRT's entropy calibrator from `<calibration_dir>/<id>.calib.npy` (preprocessed inputs, float32).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tensorrt"] = "tensorrt"
    precision: Literal["fp32", "fp16", "int8"] = "int8"
    max_batch: int = Field(32, ge=1, le=1024, description="largest batch an engine accepts (its profile's max)")
    opt_batch: int = Field(8, ge=1, le=1024, description="batch the kernels are tuned for")
    pnet: PnetProfileConfig = PnetProfileConfig()
    engine_cache_dir: Path | None = Field(None, description="default: <cache>/engines")
    workspace_mib: int = Field(1024, ge=64, le=65536)
    int8_source: Literal["auto", "qdq", "calibrator"] = "auto"
    calibration_dir: Path | None = None
    calibration_batch: int = Field(32, ge=1, le=1024)
    cuda_library: Literal["auto", "cuda-python", "pycuda"] = "auto"
    device: int = Field(0, ge=0, le=64)

    @model_validator(mode="after")
    def _calibration_source(self) -> TensorRTConfig:
        if self.precision == "int8" and self.int8_source == "calibrator" and self.calibration_dir is None:
            raise ValueError("int8_source 'calibrator' needs calibration_dir (<dir>/<model>.calib.npy)")
        return self

    def profiles(self) -> ProfileConfig:
        return ProfileConfig(max_batch=self.max_batch, opt_batch=self.opt_batch, pnet=self.pnet)


class TorchConfig(BaseModel):
    """PyTorch, for the embedder on a GPU hub: the ONNX embedder converted to a torch module
    (`models.prepare.onnx_to_torch`, the converter retraining uses), run on `device`.

    precision: fp32 runs float32 kernels (on Ampere and newer GPUs cuDNN may use TF32 for convolutions, as
        PyTorch does by default); fp16 casts weights and inputs to half (CUDA only): faster, slightly less
        exact. Only single-input, single-output float graphs convert (the embedders, not MTCNN or Q/DQ graphs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["torch"] = "torch"
    device: Literal["cuda", "cpu"] = "cuda"
    device_index: int = Field(0, ge=0, le=64, description="which CUDA device")
    precision: Literal["fp32", "fp16"] = "fp32"

    @model_validator(mode="after")
    def _half_on_cuda(self) -> TorchConfig:
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError("torch precision fp16 runs on device cuda only")
        return self


BackendConfig = OnnxRuntimeConfig | TensorRTConfig | TorchConfig


class OnnxRuntimeBackend:
    """onnxruntime session for one model; single input, outputs in graph order."""

    def __init__(self, path: Path, config: OnnxRuntimeConfig, pyramid: Pyramid | None = None) -> None:
        import onnxruntime as ort

        from models.engines.ort_providers import session_providers

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = config.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.allow_spinning else "0")
        options.log_severity_level = 3
        providers = session_providers(config, path, ort.get_available_providers(), pyramid)
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.name = path.name
        self.max_batch = _provider_max_batch(self.session.get_providers(), config)
        log.debug("onnxruntime %s on %s", path.name, self.session.get_providers())

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        outputs: list[np.ndarray] = self.session.run(None, {self.input_name: batch})
        return outputs


def _provider_max_batch(active: list[str], config: OnnxRuntimeConfig) -> int | None:
    """The TensorRT provider's engines refuse batches above their profile; the CPU and CUDA ones have no limit."""
    return config.tensorrt.profiles.max_batch if "TensorrtExecutionProvider" in active else None
