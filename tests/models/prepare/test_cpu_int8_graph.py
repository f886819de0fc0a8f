"""The CPU INT8 graph forms: the same values as the converter's graph, and INT8 end to end in onnxruntime."""

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.artifacts import verified_model_path
from models.prepare.convert_onnx import fast_prelu
from models.prepare.cpu_int8_graph import cpu_int8_forms
from models.prepare.quantize import CPU_RECIPE, quantize_model
from models.registry import default_model_dir

C = 4


def _net(second_slope: np.ndarray) -> onnx.ModelProto:
    """input -> Mul(scalar) -> Conv -> BN -> PRelu(slopes < 0, in (0, 1) and > 1) -> depthwise Conv
    -> PRelu(second_slope) -> MaxPool -> BN -> Flatten -> Gemm -> BN, PReLUs in the converter's Clip form."""
    rng = np.random.default_rng(0)

    def init(name: str, value: np.ndarray) -> TensorProto:
        return numpy_helper.from_array(value.astype(np.float32), name)

    def bn(prefix: str, size: int) -> list[TensorProto]:
        return [
            init(f"{prefix}_{p}", v)
            for p, v in (
                ("g", rng.uniform(0.5, 2, size)),
                ("b", rng.normal(0, 1, size)),
                ("m", rng.normal(0, 1, size)),
                ("v", rng.uniform(0.5, 2, size)),
            )
        ]

    inits = [
        init("s", np.array([0.5])),
        init("w1", rng.normal(0, 1, (C, 3, 3, 3))),
        init("b1", rng.normal(0, 1, C)),
        *bn("bn1", C),
        init("a1", np.array([-0.3, 0.4, 1.5, 0.9]).reshape(C, 1, 1)),
        init("w2", rng.normal(0, 1, (C, 1, 3, 3))),
        init("a2", second_slope.reshape(C, 1, 1)),
        *bn("bn2", C),
        init("wg", rng.normal(0, 1, (5, C * 9))),
        init("bg", rng.normal(0, 1, 5)),
        *bn("bn3", 5),
    ]
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["xs"]),
        helper.make_node("Conv", ["xs", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1_g", "bn1_b", "bn1_m", "bn1_v"], ["n1"]),
        helper.make_node("PRelu", ["n1", "a1"], ["p1"]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], group=C, pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c2", "a2"], ["p2"]),
        helper.make_node("MaxPool", ["p2"], ["m2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["m2", "bn2_g", "bn2_b", "bn2_m", "bn2_v"], ["n2"]),
        helper.make_node("Flatten", ["n2"], ["f"]),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["g"], transB=1),
        helper.make_node("BatchNormalization", ["g", "bn3_g", "bn3_b", "bn3_m", "bn3_v"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {session.get_inputs()[0].name: x})[0]
    return out


@pytest.mark.parametrize(
    ("second_slope", "prelus"),
    [
        (np.array([0.2, -0.5, 0.0, 1.0]), 2),  # slopes <= 1 before a MaxPool: no flip needed
        (np.array([0.2, 1.3, 0.1, 0.5]), 1),  # a slope > 1 before a MaxPool, which cannot take the flip: kept
    ],
)
def test_forms_keep_the_values(second_slope: np.ndarray, prelus: int) -> None:
    reference = _net(second_slope)
    model = _net(second_slope)
    assert fast_prelu(model.graph) == 2
    counts = cpu_int8_forms(model.graph)
    onnx.checker.check_model(model, full_check=True)
    assert counts == {"prelu": prelus, "input_scale": 1, "gemm_batchnorm": 2}
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["Clip"] == 2 - prelus and ops["Relu"] == prelus and ops["BatchNormalization"] == 1
    assert ops["Mul"] == 2 - prelus and ops["Conv"] == 2 + prelus  # the products are 1x1 depthwise convs
    x = np.random.default_rng(1).normal(0, 2, (3, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(_run(model, x), _run(reference, x), rtol=1e-4, atol=1e-4)


def test_sface_forms_agree_and_run_int8_end_to_end(tmp_path: Path) -> None:
    fp32 = verified_model_path(default_model_dir(), "sface")
    model = onnx.load(str(fp32))
    assert cpu_int8_forms(model.graph) == {"prelu": 27, "input_scale": 1, "gemm_batchnorm": 2}
    ops = Counter(n.op_type for n in model.graph.node)
    assert "Clip" not in ops and "Mul" not in ops and ops["Relu"] == 27
    assert ops["BatchNormalization"] == 27  # those after a Conv are left to onnxruntime to fold; 29 before
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 112, 112)).astype(np.float32)
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"data": x})[0]
    np.testing.assert_allclose(_run(model, x), ref, atol=1e-4)

    out = quantize_model(fp32, tmp_path / "sface.int8cpu.onnx", [x], CPU_RECIPE)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # QDQ fusions, no NCHWc
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)
    # 54 convs (27 of them the PReLU products), 27 PReLU adds, one Gemm, all INT8: only the input's Q and
    # the embedding's DQ are left; before the rewrite 54 Q/DQ nodes ran in FP32 around the PReLUs.
    assert ops["QLinearConv"] == 54 and ops["QLinearAdd"] == 27 and ops["QGemm"] == 1
    assert ops["QuantizeLinear"] + ops["DequantizeLinear"] <= 2, ops
    assert not {"Conv", "Add", "Mul", "Clip", "Relu", "BatchNormalization"} & set(ops), ops
