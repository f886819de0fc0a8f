"""The torch copy of the ONNX embedder computes what the ONNX file computes, and exports back faithfully."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hub.training.dataset import to_pixels
from hub.training.retrain import max_abs_diff_to_onnx
from models.prepare.onnx_to_torch import OnnxEmbedder, UnsupportedGraphError, export_onnx, load_onnx_embedder


@pytest.fixture(scope="module")
def module(sface_path: Path) -> OnnxEmbedder:
    return load_onnx_embedder(sface_path).eval()


def test_conversion_reproduces_onnx(module: OnnxEmbedder, sface_path: Path, some_crops: np.ndarray) -> None:
    assert (module.input_name, module.output_name) == ("data", "fc1")
    assert max_abs_diff_to_onnx(module, sface_path, some_crops) < 1e-3


def test_tail_from_split_tensor_equals_full_forward(module: OnnxEmbedder, some_crops: np.ndarray) -> None:
    pixels = to_pixels(some_crops, torch.device("cpu"))
    for trainable in (1, 3, 1000):  # projection only; the last block; everything
        start = module.split_tensor(trainable)
        with torch.no_grad():
            full = module(pixels)
            tail = module(module.forward_until(pixels, start), start)
        assert torch.allclose(full, tail, atol=1e-5), trainable
        assert len(module.tail_parameters(start)) > 0


def test_export_reproduces_torch_with_dynamic_batch(
    module: OnnxEmbedder, some_crops: np.ndarray, tmp_path: Path
) -> None:
    path = export_onnx(module, tmp_path / "out.onnx")
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["data"]
    assert [o.name for o in session.get_outputs()] == ["fc1"]
    for n in (1, 5):  # batch sizes other than the export's dummy batch of 2
        assert max_abs_diff_to_onnx(module, path, some_crops[:n]) < 1e-3


def test_unsupported_op_is_named() -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Softmax", ["x"], ["y"])], "g", [x], [y])
    with pytest.raises(UnsupportedGraphError, match="Softmax"):
        OnnxEmbedder(onnx.helper.make_model(graph))
