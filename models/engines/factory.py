"""The backend factory: the engine a backend config names, on top of every engine (`models.engines.backend` holds
the protocol and the configs; the TensorRT and torch engines are imported only when asked for, so a machine
without them never loads them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.engines.backend import Backend, BackendConfig, OnnxRuntimeBackend, TensorRTConfig, TorchConfig
from models.engines.ort_providers import OnnxRuntimeConfig
from models.engines.tensorrt.trt_profiles import Pyramid

Opener = Callable[[Path, BackendConfig, Pyramid | None], Backend]


def _onnxruntime(path: Path, config: BackendConfig, pyramid: Pyramid | None) -> Backend:
    assert isinstance(config, OnnxRuntimeConfig)
    return OnnxRuntimeBackend(path, config, pyramid)


def _torch(path: Path, config: BackendConfig, pyramid: Pyramid | None) -> Backend:
    from models.engines.torch_backend import TorchBackend  # imports torch lazily

    assert isinstance(config, TorchConfig)
    return TorchBackend(path, config)


def _tensorrt(path: Path, config: BackendConfig, pyramid: Pyramid | None) -> Backend:
    from models.engines.tensorrt.tensorrt_backend import TensorRTBackend  # imports tensorrt lazily, GPU machines only

    assert isinstance(config, TensorRTConfig)
    return TensorRTBackend(path, config, pyramid)


OPENERS: dict[str, Opener] = {"onnxruntime": _onnxruntime, "torch": _torch, "tensorrt": _tensorrt}


def open_backend(path: Path, config: BackendConfig, pyramid: Pyramid | None = None) -> Backend:
    """The backend `config.type` names, running the ONNX file `path` (ValueError for a type without one).

    pyramid: the detector's image pyramid, from which engines with profiles (TensorRT, onnxruntime's
        TensorRT provider) derive P-Net's input shapes; not needed for the fixed-size nets.
    """
    opener = OPENERS.get(config.type)
    if opener is None:
        raise ValueError(f"unknown backend type {config.type!r}: one of {', '.join(sorted(OPENERS))}")
    return opener(path, config, pyramid)
