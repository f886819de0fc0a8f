"""The two INT8 copies: what each engine wants in the graph, and outputs still close to FP32."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from models.artifacts import record_artifact, verified_model_path
from models.prepare.quantize import CPU_RECIPE, TENSORRT_RECIPE, Int8Recipe, quantize_model, stale_int8
from models.registry import default_model_dir


def _zero_points(path: Path) -> dict[str, list[np.ndarray]]:
    """Zero points of activation (QuantizeLinear) and conv weight (DequantizeLinear into a Conv) nodes."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    conv_weights = {node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    out: dict[str, list[np.ndarray]] = {"activations": [], "weights": []}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) > 2:
            out["activations"].append(inits[node.input[2]])
        if node.op_type == "DequantizeLinear" and node.output[0] in conv_weights:
            out["weights"].append(inits[node.input[2]])
    return out


@pytest.mark.parametrize(
    ("recipe", "activation_dtype", "symmetric"),
    [
        (TENSORRT_RECIPE, np.int8, True),  # explicit quantization for TensorRT: S8, zero point 0
        (CPU_RECIPE, np.uint8, False),  # onnxruntime x86: U8 activations with a real zero point
    ],
)
def test_recipes(tmp_path: Path, recipe: Int8Recipe, activation_dtype: type, symmetric: bool) -> None:
    fp32 = verified_model_path(default_model_dir(), "mtcnn-rnet")
    rng = np.random.default_rng(0)
    batches = [rng.uniform(-1, 1, (16, 3, 24, 24)).astype(np.float32) for _ in range(4)]
    out = quantize_model(fp32, tmp_path / "rnet.q.onnx", batches, recipe)
    zero = _zero_points(out)
    assert zero["activations"] and all(z.dtype == activation_dtype for z in zero["activations"])
    assert all((z == 0).all() for z in zero["activations"]) is symmetric
    # S8 weights, symmetric, one scale per output channel
    assert zero["weights"] and all(z.dtype == np.int8 and (z == 0).all() and z.size > 1 for z in zero["weights"])
    x = batches[0]
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"input": x})[1]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[1]
    assert np.abs(ref - got).max() < 0.1  # face probabilities of the same crops stay close


def test_stale_int8_lists_missing_and_old_recipes(tmp_path: Path) -> None:
    expected = [
        "mtcnn-onet.int8.onnx",
        "mtcnn-onet.int8cpu.onnx",
        "mtcnn-pnet.int8.onnx",
        "mtcnn-rnet.int8.onnx",
        "mtcnn-rnet.int8cpu.onnx",
        "sface.int8.onnx",
        "sface.int8cpu.onnx",
    ]  # no CPU copy of P-Net
    assert stale_int8(tmp_path) == expected
    for name in expected:
        (tmp_path / name).write_bytes(name.encode())
        recipe = CPU_RECIPE if ".int8cpu." in name else TENSORRT_RECIPE
        record_artifact(tmp_path, name, recipe=recipe.tag)
    assert stale_int8(tmp_path) == []
    record_artifact(tmp_path, "sface.int8cpu.onnx", recipe="u8s8-qdq/1")  # made by an older CPU recipe
    assert stale_int8(tmp_path) == ["sface.int8cpu.onnx"]
    (tmp_path / "mtcnn-rnet.int8.onnx").unlink()
    assert stale_int8(tmp_path) == ["mtcnn-rnet.int8.onnx", "sface.int8cpu.onnx"]
