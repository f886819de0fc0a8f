"""INT8 calibration data for TensorRT's entropy calibrator: batches read from one .npy file.

Explicit quantization (a Q/DQ ONNX) is the primary INT8 path; this calibrator is the fallback for TensorRT
8.5 and for nets whose Q/DQ graph TensorRT rejects. The .npy holds already-preprocessed network inputs
(N, C, H, W) float32, exactly what `Backend.run` would get, so calibration sees the real input distribution.
It is memory-mapped: a few thousand 112x112 crops do not need to fit in RAM twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from models.engines.tensorrt.trt_profiles import Shape


def open_calibration(path: Path, item_shape: Shape) -> np.ndarray:
    """Memory-map (N, *item_shape) float32 calibration inputs, checking shape and dtype up front."""
    data: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    if data.dtype != np.float32:
        raise ValueError(f"{path}: calibration data must be float32, got {data.dtype}")
    if data.ndim != 1 + len(item_shape) or tuple(data.shape[1:]) != tuple(item_shape):
        raise ValueError(f"{path}: expected (N, {', '.join(map(str, item_shape))}), got {data.shape}")
    if len(data) == 0:
        raise ValueError(f"{path}: no calibration samples")
    return data


def calibration_batches(data: np.ndarray, batch_size: int, limit: int | None = None) -> Iterator[np.ndarray]:
    """Contiguous (batch_size, ...) float32 batches; a short last batch is dropped (the calibrator's batch
    size is fixed), unless it is the only one."""
    count = len(data) if limit is None else min(limit, len(data))
    if count < batch_size:
        yield np.ascontiguousarray(data[:count])
        return
    for start in range(0, count - batch_size + 1, batch_size):
        yield np.ascontiguousarray(data[start : start + batch_size])


def make_entropy_calibrator(trt: Any, data: np.ndarray, batch_size: int, cache_path: Path, memory: Any) -> Any:
    """An `IInt8EntropyCalibrator2` feeding `data` through one device buffer.

    Built inside a function because the base class comes from the lazily imported tensorrt module.
    `memory` is a `models.engines.cuda_memory.CudaMemory`. The calibration cache next to the engine lets a rebuild
    (new TensorRT tactics, same scales) skip the pass over the data.
    """
    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise RuntimeError(f"TensorRT {trt.__version__} has no implicit INT8 calibration: use a Q/DQ ONNX")
    batch_size = min(batch_size, len(data))
    nbytes = batch_size * int(np.prod(data.shape[1:])) * 4

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.batches = calibration_batches(data, batch_size)
            self.device = memory.malloc(nbytes)

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            memory.copy_to_device(self.device, batch)
            return [self.device]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.exists() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_bytes(bytes(cache))

        def release(self) -> None:
            memory.free(self.device)

    return EntropyCalibrator()
