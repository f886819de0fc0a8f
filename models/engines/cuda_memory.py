"""Device memory, pinned host buffers and streams for the TensorRT backend, over cuda-python or PyCUDA.

TensorRT only takes raw device pointers and a stream handle; this module is the one place that owns them.
cuda-python is preferred (NVIDIA's own samples use it; it needs no per-thread context juggling): its runtime
module is `cuda.bindings.runtime` from 12.8/13.x and `cuda.cudart` before, so both are tried. PyCUDA is the
fallback for JetPack images where only it is installed; it needs its context pushed in the calling thread,
which is why the backend does every CUDA call of one instance from under one lock.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any, Literal, Protocol

import numpy as np

CudaLibrary = Literal["auto", "cuda-python", "pycuda"]


class CudaError(RuntimeError):
    """A CUDA runtime call failed; the message names the call and CUDA's error."""


class CudaMemory(Protocol):
    """What the backend needs from CUDA. Pointers and stream handles are plain ints."""

    library: str

    def malloc(self, nbytes: int) -> int: ...
    def free(self, ptr: int) -> None: ...
    def host_empty(self, nbytes: int) -> np.ndarray: ...
    def free_host(self, array: np.ndarray) -> None: ...
    def create_stream(self) -> int: ...
    def destroy_stream(self, stream: int) -> None: ...
    def synchronize(self, stream: int) -> None: ...
    def copy_to_device_async(self, dst: int, src: np.ndarray, stream: int) -> None: ...
    def copy_to_host_async(self, dst: np.ndarray, src: int, stream: int) -> None: ...
    def copy_to_device(self, dst: int, src: np.ndarray) -> None: ...
    def device_info(self) -> tuple[str, tuple[int, int]]: ...


def import_cudart() -> Any:
    """cuda-python's runtime module under its 12.8+/13.x name, else its older one."""
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError:
        return importlib.import_module("cuda.cudart")


def _pinned_view(ptr: int, nbytes: int) -> np.ndarray:
    return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))


class CudaPythonMemory:
    """cuda-python runtime API. Every call returns (error, *values); `_call` turns errors into CudaError."""

    library = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        self.rt = import_cudart()
        self.device = device
        self._call("cudaSetDevice", device)
        self._host: dict[int, int] = {}

    def _call(self, name: str, *args: Any) -> Any:
        result = getattr(self.rt, name)(*args)
        err, values = result[0], result[1:]
        if int(err) != 0:
            message = self.rt.cudaGetErrorString(err)[1]
            raise CudaError(f"{name} failed: {message.decode() if isinstance(message, bytes) else message}")
        return values[0] if len(values) == 1 else values

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", max(nbytes, 1)))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ptr)

    def host_empty(self, nbytes: int) -> np.ndarray:
        ptr = int(self._call("cudaMallocHost", max(nbytes, 1)))
        view = _pinned_view(ptr, max(nbytes, 1))
        self._host[view.ctypes.data] = ptr
        return view

    def free_host(self, array: np.ndarray) -> None:
        self._call("cudaFreeHost", self._host.pop(array.ctypes.data))

    def create_stream(self) -> int:
        return int(self._call("cudaStreamCreate"))

    def destroy_stream(self, stream: int) -> None:
        self._call("cudaStreamDestroy", stream)

    def synchronize(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", stream)

    def copy_to_device_async(self, dst: int, src: np.ndarray, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync", dst, src.ctypes.data, src.nbytes, kind, stream)

    def copy_to_host_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync", dst.ctypes.data, src, dst.nbytes, kind, stream)

    def copy_to_device(self, dst: int, src: np.ndarray) -> None:
        src = np.ascontiguousarray(src)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpy", dst, src.ctypes.data, src.nbytes, kind)

    def device_info(self) -> tuple[str, tuple[int, int]]:
        props = self._call("cudaGetDeviceProperties", self.device)
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        return name.rstrip("\x00").strip(), (int(props.major), int(props.minor))


class PyCudaMemory:
    """PyCUDA driver API on the device's primary context (shared with TensorRT and anything else)."""

    library = "pycuda"

    def __init__(self, device: int = 0) -> None:
        self.cuda = importlib.import_module("pycuda.driver")
        self.cuda.init()
        self.dev = self.cuda.Device(device)
        self.context = self.dev.retain_primary_context()
        self.context.push()
        self._allocations: dict[int, Any] = {}
        self._streams: dict[int, Any] = {}

    def malloc(self, nbytes: int) -> int:
        allocation = self.cuda.mem_alloc(max(nbytes, 1))
        self._allocations[int(allocation)] = allocation
        return int(allocation)

    def free(self, ptr: int) -> None:
        self._allocations.pop(ptr).free()

    def host_empty(self, nbytes: int) -> np.ndarray:
        return self.cuda.pagelocked_empty(max(nbytes, 1), np.uint8)  # type: ignore[no-any-return]

    def free_host(self, array: np.ndarray) -> None:
        free = getattr(array.base, "free", None)  # pagelocked arrays also free on garbage collection
        if free is not None:
            free()

    def create_stream(self) -> int:
        stream = self.cuda.Stream()
        self._streams[int(stream.handle)] = stream
        return int(stream.handle)

    def destroy_stream(self, stream: int) -> None:
        self._streams.pop(stream)

    def synchronize(self, stream: int) -> None:
        self._streams[stream].synchronize()

    def copy_to_device_async(self, dst: int, src: np.ndarray, stream: int) -> None:
        self.cuda.memcpy_htod_async(dst, src, self._streams[stream])

    def copy_to_host_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        self.cuda.memcpy_dtoh_async(dst, src, self._streams[stream])

    def copy_to_device(self, dst: int, src: np.ndarray) -> None:
        self.cuda.memcpy_htod(dst, np.ascontiguousarray(src))

    def device_info(self) -> tuple[str, tuple[int, int]]:
        major, minor = self.dev.compute_capability()
        return str(self.dev.name()), (int(major), int(minor))


def open_cuda_memory(library: CudaLibrary = "auto", device: int = 0) -> CudaMemory:
    """The first CUDA binding that imports: cuda-python, then PyCUDA (or exactly the one asked for)."""
    makers: dict[str, type[CudaPythonMemory] | type[PyCudaMemory]] = {
        "cuda-python": CudaPythonMemory,
        "pycuda": PyCudaMemory,
    }
    order = list(makers) if library == "auto" else [library]
    errors = []
    for name in order:
        try:
            return makers[name](device)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise ImportError("no CUDA Python binding: install cuda-python (or pycuda); " + "; ".join(errors))
