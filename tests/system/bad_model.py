"""A "bad model": a valid ONNX embedder (same input and output shapes as SFace) that outputs NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write_nan_embedder(path: Path, embedding_dim: int = 128, size: int = 112) -> Path:
    """(N, 3, size, size) float -> (N, embedding_dim) of NaN: passes `onnx.checker`, fails any health check."""
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["head"]),
        helper.make_node("Mul", ["head", "nan"], ["embedding"]),
    ]
    constants = [
        numpy_helper.from_array(np.array([0], np.int64), "starts"),
        numpy_helper.from_array(np.array([embedding_dim], np.int64), "ends"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array(np.nan, np.float32), "nan"),
    ]
    graph = helper.make_graph(
        nodes,
        "nan_embedder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", embedding_dim])],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
