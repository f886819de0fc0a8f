"""Conversion checks: the exported MTCNN matches PyTorch; the cleaned SFace matches the shipped graph."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models.registry import default_cache_dir, load_registry


@pytest.mark.parametrize(
    ("role", "shape"),
    [
        ("pnet", (1, 3, 37, 53)),  # fully convolutional: any frame size; softmax folded into a sigmoid
        ("rnet", (7, 3, 24, 24)),
        ("onet", (3, 3, 48, 48)),
    ],
)
def test_mtcnn_export_matches_torch(tmp_path, role: str, shape: tuple[int, ...]) -> None:
    pytest.importorskip("torch", reason="conversion needs the convert extra")
    from models.prepare.convert_mtcnn import export_mtcnn_net

    raw = default_cache_dir() / "raw" / f"mtcnn-{role}" / f"{role}.pt"
    worst = export_mtcnn_net(role, raw, tmp_path / f"{role}.onnx")  # compared with nn.PReLU / nn.Softmax
    assert worst < 1e-4
    model = onnx.load(str(tmp_path / f"{role}.onnx"))
    assert "PRelu" not in {n.op_type for n in model.graph.node}  # the slow kernel is gone
    session = ort.InferenceSession(str(tmp_path / f"{role}.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    prob = session.run(None, {"input": x})[-1]
    assert prob.shape[:2] == (shape[0], 2)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)


def test_cleaned_embedder_is_fp32_dynamic_and_agrees(tmp_path) -> None:
    from models.prepare.convert_onnx import clean_embedder

    spec = load_registry().model("sface")
    raw = default_cache_dir() / "raw" / "sface" / spec.source.member.rsplit("/", 1)[1]
    shipped = onnx.load(str(raw))
    assert len(shipped.graph.input) > 100  # every weight listed as a graph input, as shipped
    clean_embedder(raw, tmp_path / "sface.onnx", "data")
    model = onnx.load(str(tmp_path / "sface.onnx"))
    assert {n.op_type for n in model.graph.node}.isdisjoint({"DequantizeLinear", "QuantizeLinear", "PRelu"})
    assert [i.name for i in model.graph.input] == ["data"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    session = ort.InferenceSession(str(tmp_path / "sface.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"data": np.zeros((5, 3, 112, 112), np.float32)})[0].shape == (5, 128)
