"""Engine builds for TensorRT 8.5, 10.x and 11.x on the CPU: the plan (which ONNX, which typing, which INT8
source, which profiles), the flags and calls each API shape gets, and the engine cache lookup.

The tensorrt module is a stand-in with exactly the names each version has (trt_standins.py beside it); a
removed name touched on 11.x raises AttributeError there, as in the real bindings.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from models.engines.backend import TensorRTConfig
from models.engines.tensorrt.engine_cache import engine_path, store_engine
from models.engines.tensorrt.tensorrt_build import EngineBuildError, engine_key, load_or_build, plan_build
from models.engines.tensorrt.trt_api import has_fast_int8, network_flags, tensorrt_api
from models.engines.tensorrt.trt_profiles import Pyramid
from tests.models.engines.tensorrt.trt_standins import ApiShape, FakeMemory, make_tensorrt

PYRAMID = Pyramid(20, 0.709)


def _tiny_net(path: Path, qdq: bool, hw: tuple[int | str, int | str] = (24, 24)) -> Path:
    """A one-op network with our input layout; with qdq=True it carries a Q/DQ pair like a quantized model."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, *hw])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3, *hw])
    inits = [
        helper.make_tensor("s", TensorProto.FLOAT, [], [0.05]),
        helper.make_tensor("z", TensorProto.INT8, [], [0]),
    ]
    nodes = (
        [
            helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
            helper.make_node("Relu", ["dq"], ["out"]),
        ]
        if qdq
        else [helper.make_node("Relu", ["input"], ["out"])]
    )
    model = helper.make_model(
        helper.make_graph(nodes, "tiny", [x], [y], inits if qdq else []),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    onnx.save(model, str(path))
    return path


@pytest.fixture
def models(tmp_path: Path) -> Path:
    _tiny_net(tmp_path / "mtcnn-rnet.onnx", qdq=False)
    _tiny_net(tmp_path / "mtcnn-rnet.int8.onnx", qdq=True)
    _tiny_net(tmp_path / "mtcnn-pnet.onnx", qdq=False, hw=("H", "W"))
    return tmp_path


def _calib(dir_: Path) -> Path:
    dir_.mkdir(exist_ok=True)
    np.save(dir_ / "mtcnn-rnet.calib.npy", np.zeros((4, 3, 24, 24), np.float32))
    return dir_


def _api(shape: ApiShape):  # type: ignore[no-untyped-def]
    return tensorrt_api(make_tensorrt(shape, FakeMemory()))


@pytest.mark.parametrize(
    ("shape", "explicit_batch", "strongly_typed", "weak", "calibrator"),
    [
        ("8.5", True, False, True, True),  # JetPack 5: EXPLICIT_BATCH, builder flags, calibrator
        ("10", False, True, True, True),  # JetPack 6.1+: strong typing opt-in, weak typing still there
        ("11", False, True, False, False),  # pip on x86: strong typing only
    ],
)
def test_api_is_read_off_the_module(
    shape: ApiShape, explicit_batch: bool, strongly_typed: bool, weak: bool, calibrator: bool
) -> None:
    api = _api(shape)
    assert (api.explicit_batch_flag, api.strongly_typed, api.weak_typing, api.calibrator) == (
        explicit_batch,
        strongly_typed,
        weak,
        calibrator,
    )


def test_api_ignores_the_version_string() -> None:
    trt = make_tensorrt("11", FakeMemory())
    trt.__version__ = "8.5.2"  # type: ignore[attr-defined]  # a lying version string changes nothing
    assert not tensorrt_api(trt).weak_typing


@pytest.mark.parametrize(
    ("shape", "typing", "flags"),
    [
        ("8.5", "weak", 1 << 0),  # EXPLICIT_BATCH
        ("10", "strong", 1 << 1),  # STRONGLY_TYPED opted into; EXPLICIT_BATCH is ignored there, so not set
        ("10", "weak", 0),  # the calibrator path on 10: explicit batch is the only mode
        ("11", "strong", 0),  # strong typing is always on: no flag needed (STRONGLY_TYPED is deprecated)
    ],
)
def test_network_flags(shape: ApiShape, typing: str, flags: int) -> None:
    trt = make_tensorrt(shape, FakeMemory())
    assert network_flags(trt, tensorrt_api(trt), typing) == flags  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "precision", "file", "parsed", "typing", "int8_source"),
    [
        ("8.5", "fp16", "mtcnn-rnet.onnx", "mtcnn-rnet.onnx", "weak", ""),
        ("8.5", "int8", "mtcnn-rnet.int8.onnx", "mtcnn-rnet.int8.onnx", "weak", "qdq"),
        ("10", "fp32", "mtcnn-rnet.onnx", "mtcnn-rnet.onnx", "strong", ""),
        ("10", "fp16", "mtcnn-rnet.onnx", "mtcnn-rnet.fp16.", "strong", ""),  # the float16 copy
        ("10", "int8", "mtcnn-rnet.int8.onnx", "mtcnn-rnet.int8.onnx", "strong", "qdq"),
        ("11", "fp16", "mtcnn-rnet.onnx", "mtcnn-rnet.fp16.", "strong", ""),
        ("11", "int8", "mtcnn-rnet.int8.onnx", "mtcnn-rnet.int8.onnx", "strong", "qdq"),
    ],
)
def test_plan_per_api(
    models: Path, shape: ApiShape, precision: str, file: str, parsed: str, typing: str, int8_source: str
) -> None:
    config = TensorRTConfig(precision=precision, max_batch=64)  # type: ignore[arg-type]
    plan = plan_build(models / file, config, _api(shape), PYRAMID, models / "cache")
    assert plan.onnx_path.name.startswith(parsed) and (plan.typing, plan.int8_source) == (typing, int8_source)
    assert plan.input_name == "input" and plan.profiles[0].max == (64, 3, 24, 24)


def test_fp16_copy_keeps_float32_inputs_and_outputs(models: Path) -> None:
    plan = plan_build(models / "mtcnn-rnet.onnx", TensorRTConfig(precision="fp16"), _api("11"), None, models)
    graph = onnx.load(str(plan.onnx_path)).graph
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(n.op_type == "Cast" for n in graph.node)  # float16 inside


@pytest.mark.parametrize("shape", ["8.5", "10"])
@pytest.mark.parametrize(
    "file",
    [
        "mtcnn-rnet.onnx",  # no Q/DQ copy: calibrate the FP32 graph
        "mtcnn-rnet.int8.onnx",  # calibrator asked for: the FP32 sibling is calibrated, not the Q/DQ graph
    ],
)
def test_calibrator_path_where_the_api_has_it(models: Path, shape: ApiShape, file: str) -> None:
    config = TensorRTConfig(precision="int8", int8_source="calibrator", calibration_dir=_calib(models / "calib"))
    plan = plan_build(models / file, config, _api(shape), PYRAMID)
    assert plan.onnx_path.name == "mtcnn-rnet.onnx" and plan.int8_source == "calibrator"
    assert plan.typing == "weak" and plan.calibration_npy == models / "calib" / "mtcnn-rnet.calib.npy"


def test_calibrator_on_11_fails_clearly(models: Path) -> None:
    config = TensorRTConfig(precision="int8", int8_source="calibrator", calibration_dir=_calib(models / "calib"))
    with pytest.raises(EngineBuildError, match="Q/DQ"):
        plan_build(models / "mtcnn-rnet.onnx", config, _api("11"), PYRAMID)


@pytest.mark.parametrize(
    ("file", "int8_source", "message"),
    [
        ("mtcnn-rnet.onnx", "auto", "calibration data"),  # neither Q/DQ nor calibration data
        ("mtcnn-rnet.onnx", "qdq", "no Q/DQ"),  # Q/DQ demanded from a float graph
    ],
)
def test_int8_without_a_source_fails_clearly(models: Path, file: str, int8_source: str, message: str) -> None:
    config = TensorRTConfig(precision="int8", int8_source=int8_source)  # type: ignore[arg-type]
    with pytest.raises(EngineBuildError, match=message):
        plan_build(models / file, config, _api("10"), PYRAMID)


def test_pnet_plan_has_the_detector_pyramid(models: Path) -> None:
    config = TensorRTConfig(precision="fp32", pnet={"resolution_wh": (640, 480), "mode": "per_scale"})  # type: ignore[arg-type]
    plan = plan_build(models / "mtcnn-pnet.onnx", config, _api("10"), PYRAMID)
    assert plan.profiles[0].opt == (1, 3, 289, 385) and len(plan.profiles) > 5
    larger_faces = plan_build(models / "mtcnn-pnet.onnx", config, _api("10"), Pyramid(40, 0.709))
    assert larger_faces.profiles[0].opt == (1, 3, 145, 193) and len(larger_faces.profiles) < len(plan.profiles)


def _build(trt: types.ModuleType, memory: FakeMemory, path: Path, config: TensorRTConfig) -> dict[str, object]:
    built = load_or_build(trt, path, config, memory, PYRAMID)
    assert not built.from_cache and built.path.exists() and built.path.with_suffix(".json").exists()
    engine: dict[str, object] = json.loads(built.engine_bytes)
    return engine


@pytest.mark.parametrize(
    ("shape", "precision", "file", "network_flags", "builder_flags"),
    [
        ("8.5", "fp32", "mtcnn-rnet.onnx", [1], []),
        ("8.5", "fp16", "mtcnn-rnet.onnx", [1], ["FP16"]),
        ("8.5", "int8", "mtcnn-rnet.int8.onnx", [1], ["FP16", "INT8"]),  # Q/DQ with weak typing
        ("10", "fp16", "mtcnn-rnet.onnx", [2], []),  # strongly typed: precision from the float16 graph
        ("10", "int8", "mtcnn-rnet.int8.onnx", [2], []),  # strongly typed Q/DQ
        ("11", "fp32", "mtcnn-rnet.onnx", [0], []),
        ("11", "fp16", "mtcnn-rnet.onnx", [0], []),
        ("11", "int8", "mtcnn-rnet.int8.onnx", [0], []),
    ],
)
def test_build_per_api(
    models: Path, shape: ApiShape, precision: str, file: str, network_flags: list[int], builder_flags: list[str]
) -> None:
    # On 11 the stand-in has no BuilderFlag.FP16/INT8, no int8_calibrator, no set_calibration_profile:
    # touching any of them would raise AttributeError and fail this build.
    memory = FakeMemory()
    trt = make_tensorrt(shape, memory)
    config = TensorRTConfig(precision=precision, max_batch=16, engine_cache_dir=models / "engines")  # type: ignore[arg-type]
    engine = _build(trt, memory, models / file, config)
    assert trt.record.network_flags == network_flags and trt.record.builder_flags == builder_flags
    assert engine["profiles"] == [
        {"name": "input", "min": [1, 3, 24, 24], "opt": [8, 3, 24, 24], "max": [16, 3, 24, 24]}
    ]
    assert list((models / "engines").glob("timing.trt*.cache"))


@pytest.mark.parametrize("shape", ["8.5", "10"])
def test_calibrator_build_on_weak_typing(models: Path, shape: ApiShape) -> None:
    memory = FakeMemory()
    trt = make_tensorrt(shape, memory)
    config = TensorRTConfig(
        precision="int8",
        int8_source="calibrator",
        calibration_dir=_calib(models / "calib"),
        engine_cache_dir=models / "engines",
        calibration_batch=2,
    )
    _build(trt, memory, models / "mtcnn-rnet.int8.onnx", config)
    assert trt.record.builder_flags == ["FP16", "INT8"] and trt.record.calibrated_batches == 2  # 4 items / 2
    assert trt.record.parsed[-1].name == "mtcnn-rnet.onnx" and trt.record.network_flags == [1 if shape == "8.5" else 0]
    assert memory.device == {}  # the calibrator's device buffer is freed


def test_removed_calibrator_attribute_really_raises_on_11() -> None:
    # The guard the build tests rely on: the 11 stand-in refuses the names TensorRT 11 removed.
    trt = make_tensorrt("11", FakeMemory())
    config = trt.Builder(None).create_builder_config()
    for name in ("FP16", "INT8"):
        with pytest.raises(AttributeError):
            getattr(trt.BuilderFlag, name)
    with pytest.raises(AttributeError):
        config.int8_calibrator = object()
    with pytest.raises(AttributeError):
        config.set_calibration_profile(None)
    assert not hasattr(trt, "IInt8EntropyCalibrator2") and not hasattr(trt.Builder, "platform_has_fast_int8")


@pytest.mark.parametrize(
    ("capability", "int8"),
    [((5, 3), False), ((6, 2), False), ((6, 1), True), ((7, 2), True), ((8, 7), True), ((9, 0), True)],
)
def test_fast_int8_by_compute_capability(capability: tuple[int, int], int8: bool) -> None:
    # 5.3 is the original Nano, 6.2 the TX2: no INT8; 7.2 Xavier, 8.7 Orin.
    assert has_fast_int8(capability) is int8


def test_int8_falls_back_to_fp16_without_fast_int8(models: Path) -> None:
    memory = FakeMemory(capability=(5, 3), gpu_name="NVIDIA Tegra X1")
    trt = make_tensorrt("8.5", memory)
    config = TensorRTConfig(precision="int8", engine_cache_dir=models / "engines")
    built = load_or_build(trt, models / "mtcnn-rnet.int8.onnx", config, memory, PYRAMID)
    assert built.plan.precision == "fp16" and built.plan.onnx_path.name == "mtcnn-rnet.onnx"
    assert trt.record.builder_flags == ["FP16"]


def test_cached_engine_is_used_without_building(models: Path) -> None:
    config = TensorRTConfig(precision="int8", engine_cache_dir=models / "engines")
    memory = FakeMemory()
    trt = make_tensorrt("10", memory)
    plan = plan_build(models / "mtcnn-rnet.int8.onnx", config, tensorrt_api(trt), PYRAMID)
    key = engine_key(plan, "10.3.0", "Orin", (8, 7))
    store_engine(engine_path(models / "engines", "mtcnn-rnet.int8.onnx", key), b"cached", key)
    built = load_or_build(trt, models / "mtcnn-rnet.int8.onnx", config, memory, PYRAMID)
    assert built.from_cache and built.engine_bytes == b"cached" and trt.record.network_flags == []


def test_calibration_data_is_part_of_the_key(models: Path) -> None:
    config = TensorRTConfig(precision="int8", calibration_dir=_calib(models / "calib"))
    plan = plan_build(models / "mtcnn-rnet.onnx", config, _api("8.5"), PYRAMID)
    before = engine_key(plan, "8.5.2", "Xavier", (7, 2)).digest()
    np.save(models / "calib" / "mtcnn-rnet.calib.npy", np.ones((4, 3, 24, 24), np.float32))
    assert engine_key(plan, "8.5.2", "Xavier", (7, 2)).digest() != before
