"""Check the TensorRT backend's CUDA memory layer on a real GPU: device info, round trips, pinned bandwidth.

Runs where a GPU and cuda-python (or PyCUDA) exist, TensorRT or not: the memory layer is the part of the
TensorRT backend that can be proven on a GPU machine without TensorRT installed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.cuda_memory import open_cuda_memory  # noqa: E402


def main() -> int:
    memory = open_cuda_memory()
    name, capability = memory.device_info()
    print(f"device: {name}, compute capability {capability[0]}.{capability[1]}, binding {type(memory).__name__}")
    stream = memory.create_stream()
    print(f"{'bytes':>12s} {'round trip':>11s} {'H2D GB/s':>9s} {'D2H GB/s':>9s}")
    failures = 0
    for nbytes in (4 * 3 * 112 * 112, 32 * 4 * 3 * 112 * 112, 64 << 20):
        data = np.random.default_rng(nbytes).integers(0, 255, nbytes, dtype=np.uint8)
        host, back, device = memory.host_empty(nbytes), memory.host_empty(nbytes), memory.malloc(nbytes)
        host[:] = data
        timings = {}
        for direction in ("h2d", "d2h"):
            start = time.perf_counter()
            for _ in range(10):
                if direction == "h2d":
                    memory.copy_to_device_async(device, host, stream)
                else:
                    memory.copy_to_host_async(back, device, stream)
            memory.synchronize(stream)
            timings[direction] = 10 * nbytes / (time.perf_counter() - start) / 1e9
        ok = bool(np.array_equal(back, data))
        failures += not ok
        print(f"{nbytes:12d} {'ok' if ok else 'MISMATCH':>11s} {timings['h2d']:9.1f} {timings['d2h']:9.1f}")
        memory.free(device)
        memory.free_host(host)
        memory.free_host(back)
    memory.destroy_stream(stream)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
