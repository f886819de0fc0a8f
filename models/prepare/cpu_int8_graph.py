"""FP32 graph forms that onnxruntime's x86 INT8 kernels run without leaving INT8, applied before quantizing the
CPU copy (`<id>.int8cpu.onnx`). The FP32 file and the TensorRT copy keep the converter's graph.

Profiled on SFace (onnxruntime 1.32, 2-core AVX-512 VNNI CPU, U8/S8 Q/DQ): the converter's PReLU,
`x + (slope - 1) * min(x, 0)` as Clip/Mul/Add, left a DequantizeLinear -> QuantizeLinear pair per PReLU in FP32
(onnxruntime folds the Clip(max=0) into a saturating QuantizeLinear, a requantization it runs through FP32):
54 of 81 element-wise passes, 16% of the INT8 time. Here each PReLU becomes `x + relu((slope - 1) * x)`,
exact for slope <= 1, the product a 1x1 depthwise Conv; onnxruntime runs that as two INT8 ops, QLinearConv
(the Relu becomes the saturation of its U8 output, zero point 0) and QLinearAdd. A channel with slope > 1 is
sign-flipped: its producer (Conv or BatchNormalization) computes -x and its readers (Conv) take the flip
back, since `-(-x + relu((slope - 1) * -x)) = prelu(x)` there. Where the neighbours cannot take a flip
(e.g. MaxPool), the PReLU keeps its Clip form. Also folded, exactly: a scalar Mul before a Conv into its
weights, and BatchNormalization before Flatten -> Gemm and after a Gemm into the Gemm (their parameters would
otherwise be quantized as weights and run in FP32 between Q/DQ pairs). MTCNN's nets, exported with the
multiplier first and Constant nodes, do not match and are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass
class _Graph:
    """Initializers by name and the nodes that produce and consume each tensor, of one graph."""

    graph: onnx.GraphProto

    def __post_init__(self) -> None:
        self.inits = {i.name: i for i in self.graph.initializer}
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def const(self, name: str) -> np.ndarray | None:
        """An initializer read by exactly one node (so it may be changed in place), else None."""
        ok = name in self.inits and len(self.consumers.get(name, [])) == 1
        return numpy_helper.to_array(self.inits[name]).astype(np.float32) if ok else None

    def value(self, name: str) -> np.ndarray | None:
        """An initializer's value, shared or not; None if `name` is no initializer."""
        return numpy_helper.to_array(self.inits[name]).astype(np.float32) if name in self.inits else None

    def put(self, name: str, value: np.ndarray) -> None:
        self.inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))

    def only_consumer(self, tensor: str) -> onnx.NodeProto | None:
        users = self.consumers.get(tensor, [])
        outputs = {o.name for o in self.graph.output}
        return users[0] if len(users) == 1 and tensor not in outputs else None


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _flip_producer(g: _Graph, node: onnx.NodeProto, sign: np.ndarray) -> bool:
    """Make a Conv or BatchNormalization output sign * itself per channel; False if it cannot."""
    if node.op_type == "BatchNormalization":
        params = [g.const(name) for name in node.input[1:3]]  # scale, bias
        names = node.input[1:3]
    elif node.op_type == "Conv":
        params = [g.const(name) for name in node.input[1:3]]  # weight, bias (optional)
        names = node.input[1:3]
    else:
        return False
    if any(p is None or p.shape[0] != sign.size for p in params):
        return False
    for name, value in zip(names, params, strict=True):
        assert value is not None
        g.put(name, value * sign.reshape((-1,) + (1,) * (value.ndim - 1)))
    return True


def _flip_consumer_weights(g: _Graph, node: onnx.NodeProto, sign: np.ndarray) -> np.ndarray | None:
    """The weights of a Conv reading a sign-flipped input, the flip taken back; None if not a Conv we can."""
    weight = g.const(node.input[1]) if node.op_type == "Conv" and node.input[0] != node.input[1] else None
    if weight is None:
        return None
    group = int(_attr(node, "group", 1))  # type: ignore[call-overload]
    flipped: np.ndarray | None = None
    if group == 1 and weight.shape[1] == sign.size:
        flipped = weight * sign.reshape(1, -1, 1, 1)
    elif group == sign.size == weight.shape[0] and weight.shape[1] == 1:  # depthwise: input c is output c
        flipped = weight * sign.reshape(-1, 1, 1, 1)
    return flipped


def _sign_flip(g: _Graph, clip: onnx.NodeProto, add: onnx.NodeProto, sign: np.ndarray) -> bool:
    """Flip channels of the PReLU's input (in its producer) and take the flip back in every reader of its
    output; all or nothing. Only where the PReLU is the input's sole reader."""
    x, out = clip.input[0], add.output[0]
    producer, readers = g.producer.get(x), g.consumers.get(out, [])
    if (
        producer is None
        or not readers
        or out in {o.name for o in g.graph.output}
        or len(g.consumers[x]) != 2
        or x in {o.name for o in g.graph.output}
    ):
        return False
    weights = [_flip_consumer_weights(g, node, sign) for node in readers]
    if any(w is None for w in weights) or not _flip_producer(g, producer, sign):
        return False
    for node, weight in zip(readers, weights, strict=True):
        assert weight is not None
        g.put(node.input[1], weight)
    return True


def _prelu_triples(g: _Graph) -> list[tuple[onnx.NodeProto, onnx.NodeProto, onnx.NodeProto]]:
    """(Clip, Mul, Add) of each PReLU as `models.prepare.convert_onnx.fast_prelu` writes it."""
    triples = []
    for clip in (n for n in g.graph.node if n.op_type == "Clip" and len(n.input) == 3 and not n.input[1]):
        mul = g.only_consumer(clip.output[0])
        if mul is None or mul.op_type != "Mul" or mul.input[0] != clip.output[0]:
            continue
        add = g.only_consumer(mul.output[0])
        if add is not None and add.op_type == "Add" and set(add.input) == {clip.input[0], mul.output[0]}:
            triples.append((clip, mul, add))
    return triples


def _as_depthwise_conv(g: _Graph, mul: onnx.NodeProto, per_channel: np.ndarray) -> None:
    """Mul(x, c) with c of shape (C, 1, 1) becomes a 1x1 depthwise Conv with weight c: the same values, and
    onnxruntime's INT8 depthwise kernel ran it 1.17x faster (whole SFace, interleaved) than its QLinearMul,
    whose per-channel broadcast in NHWC is a loop over pixels."""
    g.put(mul.input[1], per_channel.reshape(-1, 1, 1, 1))
    mul.op_type = "Conv"
    mul.attribute.extend(
        [helper.make_attribute("group", per_channel.shape[0]), helper.make_attribute("kernel_shape", [1, 1])]
    )


def relu_prelu(graph: onnx.GraphProto) -> int:
    """Rewrite each Clip/Mul/Add PReLU as Mul(slope - 1) -> Relu -> Add(x), flipping channels with slope > 1
    (see the module docstring). Returns how many were rewritten; the others keep their form."""
    g = _Graph(graph)
    rewritten = 0
    for clip, mul, add in _prelu_triples(g):
        x, slope_m1, high = clip.input[0], g.const(mul.input[1]), g.value(clip.input[2])
        if slope_m1 is None or high is None or high.size != 1 or float(high.reshape(-1)[0]) != 0.0:
            continue
        sign = np.where(slope_m1.reshape(-1) > 0, -1.0, 1.0).astype(np.float32)
        if (sign < 0).any() and not _sign_flip(g, clip, add, sign):
            continue
        relu_out = f"{mul.output[0]}_relu"
        mul.input[0] = x
        if slope_m1.ndim == 3 and slope_m1.shape[1:] == (1, 1):  # per channel of (N, C, H, W): 1x1 depthwise
            _as_depthwise_conv(g, mul, slope_m1)
        clip.op_type = "Relu"
        del clip.input[:], clip.output[:]
        clip.input.append(mul.output[0])
        clip.output.append(relu_out)
        add.input[:] = [x, relu_out]
        rewritten += 1
    _topological_sort(graph)
    return rewritten


def fold_scalar_mul_into_conv(graph: onnx.GraphProto) -> int:
    """Mul(x, scalar) -> Conv becomes Conv with scalar * weight (exact, zero padding included). Returns the
    number folded: SFace's input scaling, which otherwise runs as a QLinearMul on the whole image."""
    g = _Graph(graph)
    folded = 0
    for mul in [n for n in graph.node if n.op_type == "Mul"]:
        scalar, conv = g.value(mul.input[1]), g.only_consumer(mul.output[0])
        weight = g.const(conv.input[1]) if conv is not None and conv.op_type == "Conv" else None
        if scalar is None or scalar.size != 1 or weight is None or conv is None or conv.input[0] != mul.output[0]:
            continue
        g.put(conv.input[1], weight * float(scalar.reshape(-1)[0]))
        conv.input[0] = mul.input[0]
        graph.node.remove(mul)
        folded += 1
    return folded


def _batchnorm_affine(g: _Graph, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) per channel of an inference BatchNormalization, y = scale * x + shift; None if its
    parameters are not constants read by it alone."""
    gamma, beta, mean, var = (g.const(name) for name in bn.input[1:5])
    if gamma is None or beta is None or mean is None or var is None:
        return None
    scale = gamma / np.sqrt(var + float(_attr(bn, "epsilon", 1e-5)))  # type: ignore[arg-type]
    return scale, beta - mean * scale


def _plain_gemm(g: _Graph, node: onnx.NodeProto | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(weight (out, in), bias (out,)) of a Gemm `x @ weight.T + bias` with constants read by it alone."""
    if node is None or node.op_type != "Gemm" or len(node.input) != 3:
        return None
    if (_attr(node, "alpha", 1.0), _attr(node, "beta", 1.0), _attr(node, "transA", 0), _attr(node, "transB", 0)) != (
        1.0,
        1.0,
        0,
        1,
    ):
        return None
    weight, bias = g.const(node.input[1]), g.const(node.input[2])
    return None if weight is None or bias is None or bias.ndim != 1 else (weight, bias)


def _fold_bn_before_gemm(g: _Graph, bn: onnx.NodeProto) -> bool:
    """BatchNormalization -> [Dropout] -> Flatten(axis 1) -> Gemm: the BN goes into the Gemm's weights."""
    nxt = g.only_consumer(bn.output[0])
    dropout = nxt if nxt is not None and nxt.op_type == "Dropout" and len(nxt.output) == 1 else None
    flatten = g.only_consumer(dropout.output[0]) if dropout is not None else nxt
    if flatten is None or flatten.op_type != "Flatten" or _attr(flatten, "axis", 1) != 1:
        return False
    gemm = g.only_consumer(flatten.output[0])
    affine, params = _batchnorm_affine(g, bn), _plain_gemm(g, gemm)
    if affine is None or params is None or gemm is None or params[0].shape[1] % affine[0].size:
        return False
    per_feature = params[0].shape[1] // affine[0].size  # Flatten of (N, C, H, W): channel-major features
    scale, shift = (np.repeat(v, per_feature) for v in affine)
    g.put(gemm.input[1], params[0] * scale)
    g.put(gemm.input[2], params[1] + params[0] @ shift)
    _bypass(g.graph, bn, dropout)
    return True


def _fold_bn_after_gemm(g: _Graph, bn: onnx.NodeProto) -> bool:
    """Gemm -> BatchNormalization on (N, features): the BN goes into the Gemm's weights and bias."""
    gemm = g.producer.get(bn.input[0])
    affine, params = _batchnorm_affine(g, bn), _plain_gemm(g, gemm)
    if (
        affine is None
        or params is None
        or gemm is None
        or g.only_consumer(gemm.output[0]) is not bn
        or affine[0].size != params[0].shape[0]
    ):
        return False
    scale, shift = affine
    g.put(gemm.input[1], params[0] * scale[:, None])
    g.put(gemm.input[2], params[1] * scale + shift)
    gemm.output[0] = bn.output[0]
    g.graph.node.remove(bn)
    return True


def _bypass(graph: onnx.GraphProto, *nodes: onnx.NodeProto | None) -> None:
    """Remove a chain of one-input nodes, its readers reading its input instead."""
    chain = [n for n in nodes if n is not None]
    source, sink = chain[0].input[0], chain[-1].output[0]
    for node in graph.node:
        node.input[:] = [source if name == sink else name for name in node.input]
    for node in chain:
        graph.node.remove(node)


def fold_gemm_batchnorms(graph: onnx.GraphProto) -> int:
    """Fold BatchNormalizations next to a Gemm into it (before it through Flatten, or after it). Returns the
    number folded."""
    folded = 0
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        g = _Graph(graph)
        folded += _fold_bn_before_gemm(g, bn) or _fold_bn_after_gemm(g, bn)
    return folded


def cpu_int8_forms(graph: onnx.GraphProto) -> dict[str, int]:
    """All of the rewrites above, in place, initializers and Constant nodes no longer read dropped; returns
    how many of each rewrite were made."""
    counts = {
        "prelu": relu_prelu(graph),
        "input_scale": fold_scalar_mul_into_conv(graph),
        "gemm_batchnorm": fold_gemm_batchnorms(graph),
    }
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    constants = [n for n in graph.node if n.op_type == "Constant" and n.output[0] not in read]  # Dropout's ratio
    for node in constants:
        graph.node.remove(node)
    kept = [init for init in graph.initializer if init.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return counts


def _topological_sort(graph: onnx.GraphProto) -> None:
    """Order the nodes so that each comes after the producers of its inputs (Kahn's algorithm)."""
    nodes = list(graph.node)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    waiting = [sum(1 for name in n.input if name in producer) for n in nodes]
    readers: dict[int, list[int]] = {}
    for i, n in enumerate(nodes):
        for name in n.input:
            if name in producer:
                readers.setdefault(producer[name], []).append(i)
    ready, order = [i for i, w in enumerate(waiting) if w == 0], []
    while ready:
        i = ready.pop(0)
        order.append(nodes[i])
        for j in readers.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    if len(order) != len(nodes):
        raise ValueError("graph has a cycle")
    del graph.node[:]
    graph.node.extend(order)
