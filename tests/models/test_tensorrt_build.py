"""Build planning (which ONNX, which INT8 source, which profiles) and the engine cache lookup, on the CPU."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from models.backend import TensorRTConfig
from models.engine_cache import engine_path, store_engine
from models.tensorrt_build import EngineBuildError, engine_key, load_or_build, network_flags, plan_build


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


def test_fp16_builds_the_given_file(models: Path) -> None:
    plan = plan_build(models / "mtcnn-rnet.onnx", TensorRTConfig(precision="fp16", max_batch=64))
    assert plan.onnx_path.name == "mtcnn-rnet.onnx" and plan.int8_source == ""
    assert plan.input_name == "input" and plan.profiles[0].max == (64, 3, 24, 24)


def test_int8_prefers_the_qdq_graph(models: Path) -> None:
    plan = plan_build(models / "mtcnn-rnet.int8.onnx", TensorRTConfig(precision="int8"))
    assert (plan.onnx_path.name, plan.int8_source, plan.calibration_npy) == (
        "mtcnn-rnet.int8.onnx",
        "qdq",
        None,
    )


@pytest.mark.parametrize(
    ("file", "int8_source"),
    [
        ("mtcnn-rnet.onnx", "auto"),  # no Q/DQ copy: calibrate the FP32 graph
        (
            "mtcnn-rnet.int8.onnx",
            "calibrator",
        ),  # asked for: the FP32 sibling is calibrated, not the Q/DQ graph
    ],
)
def test_calibrator_path(models: Path, file: str, int8_source: str) -> None:
    config = TensorRTConfig(
        precision="int8", int8_source=int8_source, calibration_dir=_calib(models / "calib")
    )  # type: ignore[arg-type]
    plan = plan_build(models / file, config)
    assert plan.onnx_path.name == "mtcnn-rnet.onnx" and plan.int8_source == "calibrator"
    assert plan.calibration_npy == models / "calib" / "mtcnn-rnet.calib.npy"


@pytest.mark.parametrize(
    ("file", "int8_source", "message"),
    [
        ("mtcnn-rnet.onnx", "auto", "calibration data"),  # neither Q/DQ nor calibration data
        ("mtcnn-rnet.onnx", "qdq", "no Q/DQ"),  # Q/DQ demanded from a float graph
    ],
)
def test_int8_without_a_source_fails_clearly(models: Path, file: str, int8_source: str, message: str) -> None:
    with pytest.raises(EngineBuildError, match=message):
        plan_build(models / file, TensorRTConfig(precision="int8", int8_source=int8_source))  # type: ignore[arg-type]


def test_pnet_plan_has_the_pyramid_profile(models: Path) -> None:
    config = TensorRTConfig(precision="fp16", pnet={"resolution_wh": (640, 480), "mode": "per_scale"})  # type: ignore[arg-type]
    plan = plan_build(models / "mtcnn-pnet.onnx", config)
    assert plan.profiles[0].opt == (1, 3, 289, 385) and len(plan.profiles) > 5


@pytest.mark.parametrize(("version", "flags"), [("8.5.2.2", 1), ("8.6.2", 1), ("10.3.0", 0), ("11.4.0", 0)])
def test_network_flags(version: str, flags: int) -> None:
    trt = types.SimpleNamespace(
        __version__=version, NetworkDefinitionCreationFlag=types.SimpleNamespace(EXPLICIT_BATCH=0)
    )
    assert network_flags(trt) == flags


class _NoGpuMemory:
    library = "fake"

    def device_info(self) -> tuple[str, tuple[int, int]]:
        return "Orin", (8, 7)


def test_cached_engine_is_used_without_building(models: Path) -> None:
    config = TensorRTConfig(precision="int8", engine_cache_dir=models / "engines")
    trt = types.SimpleNamespace(__version__="10.3.0")  # no Builder: a build attempt would fail loudly
    plan = plan_build(models / "mtcnn-rnet.int8.onnx", config)
    key = engine_key(plan, "10.3.0", "Orin", (8, 7))
    store_engine(engine_path(models / "engines", "mtcnn-rnet.int8.onnx", key), b"cached", key)
    built = load_or_build(trt, models / "mtcnn-rnet.int8.onnx", config, _NoGpuMemory())  # type: ignore[arg-type]
    assert built.from_cache and built.engine_bytes == b"cached"


def test_calibration_data_is_part_of_the_key(models: Path) -> None:
    config = TensorRTConfig(precision="int8", calibration_dir=_calib(models / "calib"))
    plan = plan_build(models / "mtcnn-rnet.onnx", config)
    before = engine_key(plan, "8.5.2", "Xavier", (7, 2)).digest()
    np.save(models / "calib" / "mtcnn-rnet.calib.npy", np.ones((4, 3, 24, 24), np.float32))
    assert engine_key(plan, "8.5.2", "Xavier", (7, 2)).digest() != before
