"""onnxruntime providers and TensorRT-provider options, from the same profiles as the TensorRT backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.engines.ort_providers import (
    OnnxRuntimeConfig,
    OrtTensorRTOptions,
    session_providers,
    tensorrt_options,
    union_profile,
)
from models.engines.tensorrt.trt_profiles import PnetProfileConfig, ProfileConfig, Pyramid, ShapeRange
from tests.models.engines.tensorrt.test_tensorrt_build import _tiny_net

GPU = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("wanted", "available", "names"),
    [
        (GPU, GPU, GPU),  # a Jetson with onnxruntime-gpu
        (GPU, ["CPUExecutionProvider"], ["CPUExecutionProvider"]),  # the same config on a CPU-only hub
        (
            ["CUDAExecutionProvider"],
            GPU,
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),  # CPU closes the list
        (["CPUExecutionProvider", "CPUExecutionProvider"], GPU, ["CPUExecutionProvider"]),  # duplicates
    ],
)
def test_session_providers_order(tmp_path: Path, wanted: list[str], available: list[str], names: list[str]) -> None:
    model = _tiny_net(tmp_path / "m.onnx", qdq=False)
    specs = session_providers(OnnxRuntimeConfig(providers=wanted), model, available)
    assert [name for name, _ in specs] == names


def test_tensorrt_options_for_a_batched_net(tmp_path: Path) -> None:
    model = _tiny_net(tmp_path / "rnet.onnx", qdq=False)
    config = OnnxRuntimeConfig(
        providers=GPU,
        tensorrt=OrtTensorRTOptions(
            engine_cache_dir=tmp_path / "ort", profiles=ProfileConfig(max_batch=64, opt_batch=16)
        ),
    )
    options = tensorrt_options(config, model)
    assert options["trt_profile_min_shapes"] == "input:1x3x24x24"
    assert options["trt_profile_opt_shapes"] == "input:16x3x24x24"
    assert options["trt_profile_max_shapes"] == "input:64x3x24x24"
    assert options["trt_engine_cache_path"] == str(tmp_path / "ort") and options["trt_fp16_enable"] == "True"
    assert options["trt_int8_enable"] == "False"
    assert "trt_int8_calibration_table_name" not in options  # never for a Q/DQ model, unused otherwise


@pytest.mark.parametrize(
    ("qdq", "precision", "int8"), [(True, "int8", "True"), (False, "int8", "False"), (True, "fp32", "False")]
)
def test_int8_only_for_qdq_graphs(tmp_path: Path, qdq: bool, precision: str, int8: str) -> None:
    model = _tiny_net(tmp_path / "m.onnx", qdq=qdq)
    options = tensorrt_options(OnnxRuntimeConfig(providers=GPU, precision=precision), model)  # type: ignore[arg-type]
    assert options["trt_int8_enable"] == int8


def test_pnet_per_scale_profiles_merge_into_one_range(tmp_path: Path) -> None:
    model = _tiny_net(tmp_path / "pnet.onnx", qdq=False, hw=("H", "W"))
    profiles = ProfileConfig(pnet=PnetProfileConfig(mode="per_scale"))
    config = OnnxRuntimeConfig(tensorrt=OrtTensorRTOptions(profiles=profiles))
    options = tensorrt_options(config, model, Pyramid(20, 0.709))
    assert options["trt_profile_min_shapes"] == "input:1x3x14x25"
    assert options["trt_profile_max_shapes"] == "input:1x3x433x769"


def test_union_profile() -> None:
    merged = union_profile([ShapeRange((1, 5), (2, 6), (3, 9)), ShapeRange((2, 1), (2, 2), (8, 2))])
    assert merged == ShapeRange((1, 1), (2, 6), (8, 9))
