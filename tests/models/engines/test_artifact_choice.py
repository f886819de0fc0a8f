"""Which model file each backend runs: FP32, the TensorRT Q/DQ copy, or the onnxruntime CPU INT8 copy."""

from pathlib import Path

import pytest

from models.engines.backend import TensorRTConfig
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.pipeline import artifact_kind, runs_on_cpu
from models.registry import artifact_name, load_registry

CPU = OnnxRuntimeConfig(precision="int8")
CUDA_FIRST = OnnxRuntimeConfig(precision="int8", providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("model_id", "backend", "kind"),
    [
        ("sface", OnnxRuntimeConfig(), "fp32"),  # FP32 asked for
        ("sface", CPU, "int8cpu"),  # INT8 on the CPU: U8 activations, S8 weights
        ("mtcnn-rnet", CPU, "int8cpu"),
        ("mtcnn-pnet", CPU, "fp32"),  # its CPU INT8 copy was slower than FP32 (registry: cpu_int8 false)
        ("sface", TensorRTConfig(precision="int8"), "int8"),  # TensorRT builds from the symmetric Q/DQ copy
        ("mtcnn-pnet", TensorRTConfig(precision="int8"), "int8"),
        ("sface", TensorRTConfig(precision="fp16"), "fp32"),
    ],
)
def test_artifact_kind(model_id: str, backend: OnnxRuntimeConfig | TensorRTConfig, kind: str) -> None:
    assert artifact_kind(load_registry().model(model_id), backend) == kind


def test_gpu_providers_missing_from_this_build_fall_back_to_the_cpu() -> None:
    import onnxruntime as ort

    has_gpu = bool({"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get_available_providers()))
    assert runs_on_cpu(CUDA_FIRST) is not has_gpu
    assert runs_on_cpu(CPU)
    assert not runs_on_cpu(TensorRTConfig())


@pytest.mark.parametrize(
    ("kind", "name"), [("fp32", "sface.onnx"), ("int8", "sface.int8.onnx"), ("int8cpu", "sface.int8cpu.onnx")]
)
def test_artifact_names(kind: str, name: str) -> None:
    assert artifact_name("sface", kind) == name  # type: ignore[arg-type]


def test_a_backend_type_without_an_engine_is_refused_by_name(tmp_path: Path) -> None:
    """The factory maps each `type` to its engine; a config that names another is an error, not TensorRT."""
    config = OnnxRuntimeConfig().model_copy(update={"type": "openvino"})
    with pytest.raises(ValueError, match="unknown backend type 'openvino': one of onnxruntime, tensorrt, torch"):
        open_backend(tmp_path / "model.onnx", config)
