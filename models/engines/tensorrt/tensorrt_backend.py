"""TensorRT behind the `Backend` interface: one engine, one execution context, one CUDA stream.

Input and outputs are found by name (`num_io_tensors` / `get_tensor_name`), shapes set with
`set_input_shape`, buffers bound with `set_tensor_address` and the work queued with `execute_async_v3`:
the API TensorRT 8.5, 10.x and 11.x share. Device buffers and pinned host buffers grow to the largest batch
seen and are reused, so the steady state allocates nothing. One lock per instance: TensorRT contexts are
not thread-safe, and PyCUDA wants all calls of one context on one thread at a time. The engine accepts
batches up to its profile's max only, and says so in `max_batch`; the detector and embedder chunk by it.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.engines.backend import TensorRTConfig
from models.engines.cuda_memory import open_cuda_memory
from models.engines.tensorrt.tensorrt_build import load_or_build, make_logger
from models.engines.tensorrt.trt_profiles import Pyramid, ShapeRange, select_profile

log = logging.getLogger(__name__)


def import_tensorrt() -> Any:
    """The tensorrt module, or an ImportError that says where it comes from."""
    try:
        return importlib.import_module("tensorrt")
    except ImportError as exc:
        raise ImportError(
            "TensorRT is not importable: on a Jetson it comes with JetPack (make the venv with "
            "--system-site-packages); elsewhere `pip install tensorrt`"
        ) from exc


@dataclass
class _Buffer:
    device: int
    host: np.ndarray
    capacity: int


class TensorRTBackend:
    """Runs one network through a TensorRT engine built (or loaded from cache) for this GPU."""

    def __init__(self, path: Path, config: TensorRTConfig, pyramid: Pyramid | None = None) -> None:
        """pyramid: the detector's, for P-Net's profiles (see `models.engines.tensorrt.trt_profiles`)."""
        trt = import_tensorrt()
        self.memory = open_cuda_memory(config.cuda_library, config.device)
        built = load_or_build(trt, path, config, self.memory, pyramid)
        self.engine_path = built.path
        self._logger = make_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(built.engine_bytes)
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not load {built.path}; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise ValueError(f"{path.name}: the backend runs single-input nets, engine has {inputs}")
        self.input_name = inputs[0]
        self.output_names = [n for n in names if n != self.input_name]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.profiles = [
            ShapeRange(*(tuple(s) for s in self.engine.get_tensor_profile_shape(self.input_name, i)))
            for i in range(self.engine.num_optimization_profiles)
        ]
        self.max_batch = max(p.max[0] for p in self.profiles)
        self.stream = self.memory.create_stream()
        self.profile_index = 0
        self.buffers: dict[str, _Buffer] = {}
        self.name = f"{path.name}[trt {built.plan.precision}]"
        self._lock = threading.Lock()
        log.info(
            "TensorRT %s ready (%s, %d profile(s), %s)",
            self.name,
            "cached" if built.from_cache else "built",
            len(self.profiles),
            self.memory.library,
        )

    def _buffer(self, name: str, nbytes: int) -> _Buffer:
        """A device + pinned host pair of at least nbytes for tensor `name`, grown (doubling) when needed."""
        current = self.buffers.get(name)
        if current is not None and current.capacity >= nbytes:
            return current
        capacity = max(nbytes, 2 * current.capacity if current else nbytes)
        if current is not None:
            self.memory.free(current.device)
            self.memory.free_host(current.host)
        buffer = _Buffer(self.memory.malloc(capacity), self.memory.host_empty(capacity), capacity)
        self.buffers[name] = buffer
        return buffer

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """(N, C, H, W) -> outputs in graph order, each (N, ...), as fresh numpy arrays."""
        batch = np.ascontiguousarray(batch, dtype=self.dtypes[self.input_name])
        with self._lock:
            self._select_profile(batch.shape)
            if not self.context.set_input_shape(self.input_name, batch.shape):
                raise ValueError(f"{self.name}: TensorRT refused input shape {batch.shape}")
            inp = self._buffer(self.input_name, batch.nbytes)
            inp.host[: batch.nbytes] = batch.reshape(-1).view(np.uint8)
            self.memory.copy_to_device_async(inp.device, inp.host[: batch.nbytes], self.stream)
            self.context.set_tensor_address(self.input_name, inp.device)
            shapes = {}
            for name in self.output_names:
                shapes[name] = tuple(self.context.get_tensor_shape(name))
                nbytes = int(np.prod(shapes[name])) * self.dtypes[name].itemsize
                self.context.set_tensor_address(name, self._buffer(name, nbytes).device)
            if not self.context.execute_async_v3(self.stream):
                raise RuntimeError(f"{self.name}: execute_async_v3 failed")
            views = []
            for name in self.output_names:
                nbytes = int(np.prod(shapes[name])) * self.dtypes[name].itemsize
                host = self.buffers[name].host[:nbytes]
                self.memory.copy_to_host_async(host, self.buffers[name].device, self.stream)
                views.append((host, name))
            self.memory.synchronize(self.stream)
            return [host.view(self.dtypes[name]).reshape(shapes[name]).copy() for host, name in views]

    def _select_profile(self, shape: tuple[int, ...]) -> None:
        index = select_profile(self.profiles, shape)
        if index != self.profile_index:
            self.context.set_optimization_profile_async(index, self.stream)
            self.profile_index = index

    def close(self) -> None:
        """Free device and pinned memory and the stream (the engine and context go with the object)."""
        with self._lock:
            for buffer in self.buffers.values():
                self.memory.free(buffer.device)
                self.memory.free_host(buffer.host)
            self.buffers.clear()
            if self.stream:
                self.memory.destroy_stream(self.stream)
                self.stream = 0

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
