"""One small interface over inference engines: onnxruntime here, TensorRT on the Jetson.

A backend runs one network with one input tensor and returns its outputs in the registry's order.
Which backend is chosen by the `type` field of its config block; heavy imports stay inside each backend.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)


class Backend(Protocol):
    """Runs one network. `run` takes (N, ...) float32 and returns the outputs, batch first."""

    name: str

    def run(self, batch: np.ndarray) -> list[np.ndarray]: ...


class OnnxRuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["onnxruntime"] = "onnxruntime"
    precision: Literal["fp32", "int8"] = "fp32"
    intra_op_threads: int = Field(0, ge=0, le=256, description="0 lets onnxruntime pick (one per core)")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])


class TensorRTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["tensorrt"] = "tensorrt"
    precision: Literal["fp32", "fp16", "int8"] = "int8"
    max_batch: int = Field(32, ge=1, le=1024)
    engine_cache_dir: Path | None = None
    workspace_mib: int = Field(1024, ge=64, le=65536)


BackendConfig = OnnxRuntimeConfig | TensorRTConfig


class OnnxRuntimeBackend:
    """onnxruntime session for one model; single input, outputs in graph order."""

    def __init__(self, path: Path, config: OnnxRuntimeConfig) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = config.intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        available = set(ort.get_available_providers())
        providers = [p for p in config.providers if p in available] or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.name = path.name
        log.debug("onnxruntime %s on %s", path.name, providers)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        outputs: list[np.ndarray] = self.session.run(None, {self.input_name: batch})
        return outputs


def open_backend(path: Path, config: BackendConfig) -> Backend:
    if config.type == "onnxruntime":
        return OnnxRuntimeBackend(path, config)
    from models.tensorrt_backend import TensorRTBackend  # imports tensorrt lazily, GPU machines only

    return TensorRTBackend(path, config)
