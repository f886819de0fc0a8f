"""Stand-ins for the tensorrt module in its three API shapes (8.5, 10.x, 11.x) and for CUDA memory.

No TensorRT can be installed on these machines, so the build and run paths are exercised against modules
that have exactly the names each version has (taken from NVIDIA's API references and migration guides):

| name | 8.5 | 10.x | 11.x |
| --- | --- | --- | --- |
| NetworkDefinitionCreationFlag.EXPLICIT_BATCH | yes | yes (ignored) | - |
| NetworkDefinitionCreationFlag.STRONGLY_TYPED | - | yes | yes (ignored) |
| BuilderFlag.FP16 / INT8 | yes | yes | - |
| IBuilderConfig.int8_calibrator / set_calibration_profile | yes | yes | - |
| IInt8EntropyCalibrator2 | yes | yes | - |
| Builder.platform_has_fast_int8 | yes | yes | - |

A name a version lacks raises AttributeError like the real bindings (a removed name touched on 11 fails the
build). The builder records what was asked of it; its "serialized engine" is JSON naming the parsed ONNX and
the profiles, and the runtime turns it into an engine that computes with onnxruntime on the CPU and enforces
its optimization profiles as TensorRT does: `set_input_shape` returns False for a shape outside [min, max] of
the selected profile.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.engines.tensorrt.trt_profiles import ShapeRange

ApiShape = Literal["8.5", "10", "11"]
VERSIONS: dict[ApiShape, str] = {"8.5": "8.5.2.2", "10": "10.3.0", "11": "11.4.0"}


class FakeMemory:
    """CUDA memory as a dict of byte arrays; pointers are ints, one stream id."""

    library = "fake"

    def __init__(self, capability: tuple[int, int] = (8, 7), gpu_name: str = "Orin") -> None:
        self.device: dict[int, np.ndarray] = {}
        self.next_ptr = 0x1000
        self.mallocs = 0
        self.host_live = 0
        self.streams: set[int] = set()
        self.capability, self.gpu_name = capability, gpu_name

    def malloc(self, nbytes: int) -> int:
        self.next_ptr += 0x1000
        self.device[self.next_ptr] = np.zeros(max(nbytes, 1), np.uint8)
        self.mallocs += 1
        return self.next_ptr

    def free(self, ptr: int) -> None:
        del self.device[ptr]

    def host_empty(self, nbytes: int) -> np.ndarray:
        self.host_live += 1
        return np.zeros(max(nbytes, 1), np.uint8)

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
        self.device[dst][: src.nbytes] = src.reshape(-1).view(np.uint8)

    def copy_to_host_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        dst[:] = self.device[src][: dst.nbytes]

    def copy_to_device(self, dst: int, src: np.ndarray) -> None:
        src = np.ascontiguousarray(src)
        self.device[dst][: src.nbytes] = src.reshape(-1).view(np.uint8)

    def device_info(self) -> tuple[str, tuple[int, int]]:
        return self.gpu_name, self.capability


@dataclass
class BuildRecord:
    """What the last builds asked of the stand-in."""

    network_flags: list[int] = field(default_factory=list)
    builder_flags: list[str] = field(default_factory=list)
    parsed: list[Path] = field(default_factory=list)
    calibrated_batches: int = 0
    refused_shapes: list[tuple[int, ...]] = field(default_factory=list)
    run_batches: dict[str, list[int]] = field(default_factory=dict)


def _enum(**members: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(**members)


def make_tensorrt(shape: ApiShape, memory: FakeMemory) -> types.ModuleType:
    """A tensorrt stand-in with the names of API shape `shape`; `trt.record` holds what it was asked."""
    trt = types.ModuleType("tensorrt")
    record = BuildRecord()
    weak = shape in ("8.5", "10")
    creation: dict[str, int] = {}
    if shape in ("8.5", "10"):
        creation["EXPLICIT_BATCH"] = 0
    if shape in ("10", "11"):
        creation["STRONGLY_TYPED"] = 1 if shape == "10" else 0
    builder_flags = {"REFIT": 5, "TF32": 7} | ({"FP16": 0, "INT8": 1} if weak else {})
    flag_names = {v: k for k, v in builder_flags.items()}

    class ILogger:
        Severity = _enum(INTERNAL_ERROR=0, ERROR=1, WARNING=2, INFO=3, VERBOSE=4)

        def __init__(self) -> None:
            pass

    class TimingCache:
        def serialize(self) -> bytes:
            return b"timing"

    class _ConfigBase:
        __slots__ = ("profiles", "timing")  # no __dict__: a removed attribute cannot be set on 11

        def __init__(self) -> None:
            self.profiles: list[dict[str, Any]] = []
            self.timing = TimingCache()

        def set_memory_pool_limit(self, pool: int, size: int) -> None:
            assert pool == 0 and size > 0

        def set_flag(self, flag: int) -> None:
            record.builder_flags.append(flag_names[flag])

        def add_optimization_profile(self, profile: Any) -> int:
            self.profiles.append(profile.shapes)
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return self.timing

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.timing

    class IBuilderConfigWeak(_ConfigBase):
        int8_calibrator: Any = None

        def set_calibration_profile(self, profile: Any) -> None:
            self.calibration_profile = profile

    config_class = IBuilderConfigWeak if weak else _ConfigBase

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, Any] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes = {"name": name, "min": list(lo), "opt": list(opt), "max": list(hi)}

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.onnx: Path | None = None

    class Builder:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def create_network(self, flags: int) -> Network:
            record.network_flags.append(flags)
            return Network(flags)

        def create_builder_config(self) -> Any:
            return config_class()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Any) -> bytes:
            calibrator = getattr(config, "int8_calibrator", None)
            while calibrator is not None and calibrator.get_batch(["input"]) is not None:
                record.calibrated_batches += 1
            return json.dumps({"onnx": str(network.onnx), "profiles": config.profiles}).encode()

    if weak:
        Builder.platform_has_fast_int8 = True  # type: ignore[attr-defined]
        Builder.platform_has_fast_fp16 = True  # type: ignore[attr-defined]

    class OnnxParser:
        num_errors = 0

        def __init__(self, network: Network, logger: Any) -> None:
            self.network = network

        def parse_from_file(self, path: str) -> bool:
            record.parsed.append(Path(path))
            self.network.onnx = Path(path)
            return Path(path).exists()

    class Runtime:
        def __init__(self, logger: Any) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> OrtEngine:
            return OrtEngine(json.loads(bytes(data)), memory, record)

    trt.__version__ = VERSIONS[shape]  # type: ignore[attr-defined]
    trt.record = record  # type: ignore[attr-defined]
    trt.NetworkDefinitionCreationFlag = _enum(**creation)  # type: ignore[attr-defined]
    trt.BuilderFlag = _enum(**builder_flags)  # type: ignore[attr-defined]
    trt.MemoryPoolType = _enum(WORKSPACE=0)  # type: ignore[attr-defined]
    trt.TensorIOMode = _enum(NONE=0, INPUT=1, OUTPUT=2)  # type: ignore[attr-defined]
    trt.ILogger = ILogger  # type: ignore[attr-defined]
    trt.IBuilderConfig = config_class  # type: ignore[attr-defined]
    trt.Builder = Builder  # type: ignore[attr-defined]
    trt.OnnxParser = OnnxParser  # type: ignore[attr-defined]
    trt.Runtime = Runtime  # type: ignore[attr-defined]
    trt.nptype = lambda dtype: np.float32  # type: ignore[attr-defined]
    if weak:

        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2  # type: ignore[attr-defined]
    return trt


class OrtEngine:
    """A built engine: computes with onnxruntime, enforces its optimization profiles like TensorRT."""

    def __init__(self, data: dict[str, Any], memory: FakeMemory, record: BuildRecord) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(data["onnx"], providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.names = [self.input_name] + [o.name for o in self.session.get_outputs()]
        self.profiles = [ShapeRange(tuple(p["min"]), tuple(p["opt"]), tuple(p["max"])) for p in data["profiles"]]
        self.memory, self.record = memory, record
        self.label = Path(data["onnx"]).name
        self.num_io_tensors = len(self.names)
        self.num_optimization_profiles = len(self.profiles)

    def get_tensor_name(self, i: int) -> str:
        return self.names[i]

    def get_tensor_mode(self, name: str) -> int:
        return 1 if name == self.input_name else 2

    def get_tensor_dtype(self, name: str) -> str:
        return "float"

    def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
        p = self.profiles[index]
        return [p.min, p.opt, p.max]

    def create_execution_context(self) -> OrtContext:
        return OrtContext(self)


class OrtContext:
    def __init__(self, engine: OrtEngine) -> None:
        self.engine = engine
        self.profile = 0
        self.shape: tuple[int, ...] | None = None
        self.addresses: dict[str, int] = {}
        self._output_shapes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}

    def set_optimization_profile_async(self, index: int, stream: int) -> bool:
        assert 0 <= index < self.engine.num_optimization_profiles
        self.profile = index
        return True

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        """TensorRT's rule: a shape outside the selected profile's [min, max] is refused (False)."""
        shape = tuple(int(d) for d in shape)
        if name != self.engine.input_name or not self.engine.profiles[self.profile].contains(shape):
            self.engine.record.refused_shapes.append(shape)
            return False
        self.shape = shape
        if shape not in self._output_shapes:
            outs = self.engine.session.run(None, {name: np.zeros(shape, np.float32)})
            self._output_shapes[shape] = [tuple(o.shape) for o in outs]
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        assert self.shape is not None, "output shape asked before the input shape was set"
        return self._output_shapes[self.shape][self.engine.names.index(name) - 1]

    def set_tensor_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = ptr

    def execute_async_v3(self, stream: int) -> bool:
        assert self.shape is not None
        device = self.engine.memory.device
        count = int(np.prod(self.shape))
        x = device[self.addresses[self.engine.input_name]][: count * 4].view(np.float32).reshape(self.shape)
        outs = self.engine.session.run(None, {self.engine.input_name: x.copy()})
        for name, out in zip(self.engine.names[1:], outs, strict=True):
            flat = np.ascontiguousarray(out, np.float32).reshape(-1).view(np.uint8)
            device[self.addresses[name]][: flat.nbytes] = flat
        self.engine.record.run_batches.setdefault(self.engine.label, []).append(self.shape[0])
        return True
