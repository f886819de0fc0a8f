"""Multiply-accumulates of an ONNX graph at a given input shape, counted from the graph itself.

Conv: output elements x (input channels / groups) x kernel area; Gemm and MatMul: output elements x the
reduced dimension. Everything else (activations, pooling, normalisation) is left out: it is memory
traffic, not arithmetic, and the floor these figures give is the arithmetic one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


@lru_cache(maxsize=64)
def graph_macs(model_path: Path, input_shape: tuple[int, ...]) -> int:
    """MACs of one run of a single-input model on an input of `input_shape` (e.g. (1, 3, 216, 384))."""
    model = onnx.load(str(model_path))
    initializers = {init.name: init for init in model.graph.initializer}
    (graph_input,) = [i for i in model.graph.input if i.name not in initializers]
    dims = graph_input.type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        raise ValueError(f"{model_path.name}: input has rank {len(dims)}, shape {input_shape} given")
    for dim, size in zip(dims, input_shape, strict=True):
        dim.Clear()
        dim.dim_value = int(size)
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]
    }
    weights = {name: numpy_helper.to_array(init).shape for name, init in initializers.items()}
    return sum(_node_macs(node, shapes, weights) for node in inferred.graph.node)


def _node_macs(node: onnx.NodeProto, shapes: dict[str, list[int]], weights: dict[str, tuple[int, ...]]) -> int:
    out = shapes.get(node.output[0])
    if node.op_type not in ("Conv", "Gemm", "MatMul") or not out:
        return 0
    if node.op_type == "Conv":
        kernel = weights.get(node.input[1]) or tuple(shapes[node.input[1]])
        return int(np.prod(out)) * int(np.prod(kernel[1:]))
    a = shapes.get(node.input[0]) or list(weights[node.input[0]])
    trans_a = any(att.name == "transA" and att.i for att in node.attribute)
    reduced = a[-2] if trans_a else a[-1]
    return int(np.prod(out)) * int(reduced)
