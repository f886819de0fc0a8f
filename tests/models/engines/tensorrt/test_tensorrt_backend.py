"""TensorRTBackend.run's bookkeeping (profiles, shapes, buffers, copies, output order) on the CPU.

TensorRT and CUDA are replaced at their edges by small stand-ins with the same call shapes: "device memory"
is a dict of byte arrays, and the "engine" computes two outputs with numpy. The real thing runs in
test_tensorrt_gpu.py on a GPU machine.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

import models.engines.tensorrt.tensorrt_backend as tb
from models.engines.backend import TensorRTConfig
from models.engines.tensorrt.tensorrt_build import BuildPlan, BuiltEngine
from models.engines.tensorrt.trt_profiles import ShapeRange

PROFILES = [
    ShapeRange((1, 2, 4, 4), (4, 2, 4, 4), (8, 2, 4, 4)),
    ShapeRange((1, 2, 8, 8), (1, 2, 8, 8), (2, 2, 8, 8)),
]


class FakeMemory:
    library = "fake"

    def __init__(self) -> None:
        self.device: dict[int, np.ndarray] = {}
        self.next_ptr = 0x1000
        self.mallocs = 0
        self.host_live = 0
        self.streams: set[int] = set()

    def malloc(self, nbytes: int) -> int:
        self.next_ptr += 0x1000
        self.device[self.next_ptr] = np.zeros(nbytes, np.uint8)
        self.mallocs += 1
        return self.next_ptr

    def free(self, ptr: int) -> None:
        del self.device[ptr]

    def host_empty(self, nbytes: int) -> np.ndarray:
        self.host_live += 1
        return np.zeros(nbytes, np.uint8)

    def free_host(self, array: np.ndarray) -> None:
        self.host_live -= 1

    def create_stream(self) -> int:
        self.streams.add(7)
        return 7

    def destroy_stream(self, stream: int) -> None:
        self.streams.remove(stream)

    def synchronize(self, stream: int) -> None:
        assert stream in self.streams

    def copy_to_device_async(self, dst: int, src: np.ndarray, stream: int) -> None:
        self.device[dst][: src.nbytes] = src

    def copy_to_host_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        dst[:] = self.device[src][: dst.nbytes]

    def device_info(self) -> tuple[str, tuple[int, int]]:
        return "Fake", (8, 7)


class FakeContext:
    """Outputs in engine order: 'sum' (N, 1) = per-item sum, 'double' (N, C, H, W) = 2x."""

    def __init__(self, memory: FakeMemory) -> None:
        self.memory = memory
        self.shape: tuple[int, ...] = ()
        self.addresses: dict[str, int] = {}
        self.profile_switches: list[int] = []

    def set_optimization_profile_async(self, index: int, stream: int) -> bool:
        self.profile_switches.append(index)
        return True

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.shape = tuple(shape)
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return (self.shape[0], 1) if name == "sum" else self.shape

    def set_tensor_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = ptr

    def execute_async_v3(self, stream: int) -> bool:
        count = int(np.prod(self.shape))
        x = self.memory.device[self.addresses["input"]][: count * 4].view(np.float32).reshape(self.shape)
        self.memory.device[self.addresses["sum"]][: self.shape[0] * 4] = (
            x.reshape(self.shape[0], -1).sum(1).astype(np.float32).view(np.uint8)
        )
        self.memory.device[self.addresses["double"]][: count * 4] = (
            (2 * x).astype(np.float32).reshape(-1).view(np.uint8)
        )
        return True


class FakeEngine:
    names = ["input", "sum", "double"]  # engine order: input first, outputs in graph order
    num_io_tensors = 3
    num_optimization_profiles = len(PROFILES)

    def __init__(self, memory: FakeMemory) -> None:
        self.context = FakeContext(memory)

    def get_tensor_name(self, i: int) -> str:
        return self.names[i]

    def get_tensor_mode(self, name: str) -> str:
        return "in" if name == "input" else "out"

    def get_tensor_dtype(self, name: str) -> str:
        return "float"

    def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
        p = PROFILES[index]
        return [p.min, p.opt, p.max]

    def create_execution_context(self) -> FakeContext:
        return self.context


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tb.TensorRTBackend:
    memory = FakeMemory()
    engine = FakeEngine(memory)
    trt = types.SimpleNamespace(
        __version__="10.3.0",
        TensorIOMode=types.SimpleNamespace(INPUT="in"),
        nptype=lambda _: np.float32,
        Runtime=lambda logger: types.SimpleNamespace(deserialize_cuda_engine=lambda data: engine),
    )
    plan = BuildPlan(tmp_path / "net.onnx", "fp16", "", "input", tuple(PROFILES))
    monkeypatch.setattr(tb, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(tb, "open_cuda_memory", lambda library, device: memory)
    monkeypatch.setattr(tb, "make_logger", lambda trt: None)
    monkeypatch.setattr(tb, "load_or_build", lambda *a: BuiltEngine(b"e", plan, tmp_path / "net.engine", True))
    return tb.TensorRTBackend(tmp_path / "net.onnx", TensorRTConfig(precision="fp16"))


def test_outputs_in_graph_order_with_their_shapes(backend: tb.TensorRTBackend) -> None:
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4)).astype(np.float32)
    total, double = backend.run(x)
    np.testing.assert_allclose(total[:, 0], x.reshape(3, -1).sum(1), rtol=1e-5)
    np.testing.assert_array_equal(double, 2 * x)


def test_results_are_copies_not_views_of_pinned_buffers(backend: tb.TensorRTBackend) -> None:
    first = backend.run(np.ones((2, 2, 4, 4), np.float32))[1]
    backend.run(np.full((2, 2, 4, 4), 5, np.float32))
    assert (first == 2).all()


def test_buffers_are_reused_and_grow_only_when_needed(backend: tb.TensorRTBackend) -> None:
    memory: FakeMemory = backend.memory  # type: ignore[assignment]
    backend.run(np.ones((4, 2, 4, 4), np.float32))
    after_first = memory.mallocs
    for n in (1, 4, 2, 4):  # no bigger than the first: steady state allocates nothing
        backend.run(np.ones((n, 2, 4, 4), np.float32))
    assert memory.mallocs == after_first == 3
    backend.run(np.ones((8, 2, 4, 4), np.float32))
    assert memory.mallocs == 6 and len(memory.device) == 3  # grown and the old ones freed


def test_profile_is_switched_only_when_the_shape_needs_another(backend: tb.TensorRTBackend) -> None:
    context: FakeContext = backend.context  # type: ignore[assignment]
    backend.run(np.ones((2, 2, 4, 4), np.float32))
    backend.run(np.ones((1, 2, 8, 8), np.float32))
    backend.run(np.ones((2, 2, 8, 8), np.float32))
    backend.run(np.ones((1, 2, 4, 4), np.float32))
    assert context.profile_switches == [1, 0]


def test_shapes_outside_every_profile_are_refused(backend: tb.TensorRTBackend) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        backend.run(np.ones((9, 2, 4, 4), np.float32))


def test_float64_input_is_converted(backend: tb.TensorRTBackend) -> None:
    assert backend.run(np.ones((1, 2, 4, 4)))[1].dtype == np.float32


def test_close_frees_everything(backend: tb.TensorRTBackend) -> None:
    memory: FakeMemory = backend.memory  # type: ignore[assignment]
    backend.run(np.ones((2, 2, 4, 4), np.float32))
    backend.close()
    assert memory.device == {} and memory.host_live == 0 and memory.streams == set()
