"""The backend factory: the engine a backend config names, on top of every engine (`models.engines.backend` holds
the protocol and the configs; the TensorRT and torch engines are imported only when asked for, so a machine
without them never loads them)."""

from __future__ import annotations

from pathlib import Path

from models.engines.backend import Backend, BackendConfig, OnnxRuntimeBackend
from models.engines.tensorrt.trt_profiles import Pyramid


def open_backend(path: Path, config: BackendConfig, pyramid: Pyramid | None = None) -> Backend:
    """The backend `config.type` names, running the ONNX file `path`.

    pyramid: the detector's image pyramid, from which engines with profiles (TensorRT, onnxruntime's
        TensorRT provider) derive P-Net's input shapes; not needed for the fixed-size nets.
    """
    if config.type == "onnxruntime":
        return OnnxRuntimeBackend(path, config, pyramid)
    if config.type == "torch":
        from models.engines.torch_backend import TorchBackend  # imports torch lazily

        return TorchBackend(path, config)
    from models.engines.tensorrt.tensorrt_backend import TensorRTBackend  # imports tensorrt lazily, GPU machines only

    return TensorRTBackend(path, config, pyramid)
