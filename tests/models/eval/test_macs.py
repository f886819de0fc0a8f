"""MAC counts from ONNX graphs: a hand-made conv and gemm, and the project's nets at known shapes."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.artifacts import verified_model_path
from models.eval.macs import graph_macs
from models.registry import default_model_dir


def _tiny(tmp_path: Path) -> Path:
    """x (N,3,10,10) -> Conv 3x3, 4 out, pad 1 -> Flatten -> Gemm to 5."""
    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    g = numpy_helper.from_array(np.zeros((400, 5), np.float32), "g")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, g],
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize(("batch", "expected"), [(1, 4 * 100 * 27 + 5 * 400), (3, 3 * (4 * 100 * 27 + 5 * 400))])
def test_tiny_graph(tmp_path: Path, batch: int, expected: int) -> None:
    assert graph_macs(_tiny(tmp_path), (batch, 3, 10, 10)) == expected


@pytest.mark.parametrize(
    ("model_id", "shape", "mmac"),
    [
        ("mtcnn-pnet", (1, 3, 360, 640), 407),  # a whole 640x360 frame at scale 1
        ("mtcnn-rnet", (1, 3, 24, 24), 1.53),  # per candidate
        ("mtcnn-onet", (1, 3, 48, 48), 12.9),
        ("sface", (1, 3, 112, 112), 574),  # per face
    ],
)
def test_project_nets(model_id: str, shape: tuple[int, ...], mmac: float) -> None:
    path = verified_model_path(default_model_dir(), model_id)
    assert graph_macs(path, shape) / 1e6 == pytest.approx(mmac, rel=0.01)


def test_wrong_rank_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rank"):
        graph_macs(_tiny(tmp_path), (1, 3, 10))
