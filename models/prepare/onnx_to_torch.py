"""An ONNX embedder as a trainable PyTorch module, and back to ONNX.

A small interpreter instead of a general converter: each supported ONNX node becomes a torch module with the
ONNX weights copied in, and `forward` runs them in graph order. The embedders in the registry are plain
CNNs (Conv, BatchNormalization, PRelu, Gemm, ...); an unsupported op is refused by name rather than guessed.
The converted artifacts write PRelu as Clip(max=0) -> Mul(slope - 1) -> Add(x)
(`models.prepare.convert_onnx.fast_prelu`, faster on onnxruntime's CPU kernels); that pattern is read back as
one PRelu, so training sees the same layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn


class UnsupportedGraphError(ValueError):
    """The ONNX graph uses an op or an attribute this converter does not implement."""


class _BatchNormAnyRank(nn.modules.batchnorm._BatchNorm):
    """BatchNormalization of ONNX: (N, C) or (N, C, H, W) alike."""

    def _check_input_dim(self, input: torch.Tensor) -> None:  # noqa: A002 (torch's signature)
        if input.dim() < 2:
            raise ValueError(f"BatchNorm needs (N, C, ...), got {tuple(input.shape)}")


class _ConstantOp(nn.Module):
    """Sub or Mul with a constant (the normalisation at the graph input)."""

    value: torch.Tensor

    def __init__(self, op: str, value: np.ndarray, constant_first: bool) -> None:
        super().__init__()
        self.op, self.constant_first = op, constant_first
        self.register_buffer("value", torch.from_numpy(np.array(value, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = (self.value, x) if self.constant_first else (x, self.value)
        return a - b if self.op == "Sub" else a * b


class _Flatten(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, self.axis)


class _Reshape(nn.Module):
    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(self.shape)])


def _pair(values: Any) -> tuple[int, int]:
    first, second = (int(v) for v in values)
    return first, second


@dataclass(frozen=True)
class _Step:
    module_key: str
    input_name: str
    output_name: str


def fold_fast_prelu(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """Nodes with each Clip(x, max=0) -> Mul(constant) -> Add(x, .) triple replaced by PRelu(x, constant + 1)
    (the slope added to `weights`); other nodes unchanged, in order."""
    producer = {out: node for node in nodes for out in node.output}
    consumers: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    folded: dict[str, onnx.NodeProto] = {}  # Add's output -> its PRelu
    skip: set[int] = set()
    for node in nodes:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        x, scaled = node.input
        mul = producer.get(scaled)
        if mul is None or mul.op_type != "Mul" or mul.input[1] not in weights or consumers.get(scaled) != 1:
            continue
        clip = producer.get(mul.input[0])
        if (
            clip is None
            or clip.op_type != "Clip"
            or clip.input[0] != x
            or consumers.get(mul.input[0]) != 1
            or len(clip.input) < 3
            or clip.input[1]
            or float(np.asarray(weights.get(clip.input[2], 1.0))) != 0
        ):
            continue
        slope = f"{node.output[0]}_prelu_slope"
        weights[slope] = np.asarray(weights[mul.input[1]], np.float32) + 1
        folded[node.output[0]] = onnx.helper.make_node("PRelu", [x, slope], [node.output[0]], name=node.name)
        skip.update((id(clip), id(mul)))
    return [folded.get(n.output[0], n) if n.op_type == "Add" else n for n in nodes if id(n) not in skip]


class OnnxEmbedder(nn.Module):
    """The network of an ONNX file: input `input_name` (N, 3, S, S) -> output `output_name` (N, D), unnormalised."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise UnsupportedGraphError("an embedder has one input and one output")
        self.input_name, self.output_name = graph.input[0].name, graph.output[0].name
        self.weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.layers = nn.ModuleDict()
        self.steps: list[_Step] = []
        for node in graph.node:
            if node.op_type == "Constant":
                self.weights[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        nodes = fold_fast_prelu([n for n in graph.node if n.op_type != "Constant"], self.weights)
        for index, node in enumerate(nodes):
            key = f"{index:03d}_{re.sub(r'[^0-9A-Za-z_]', '_', node.output[0])}"
            data_inputs = [i for i in node.input if i and i not in self.weights]
            if len(data_inputs) != 1:
                raise UnsupportedGraphError(f"{node.op_type} {node.name!r}: expected one data input")
            self.layers[key] = self._module(node)
            self.steps.append(_Step(key, data_inputs[0], node.output[0]))
        del self.weights  # copied into the modules; keep the state dict the only owner

    def _w(self, name: str) -> torch.Tensor:
        return torch.from_numpy(np.array(self.weights[name], np.float32))

    def _module(self, node: onnx.NodeProto) -> nn.Module:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op == "Conv":
            return self._conv(node, attrs)
        if op == "BatchNormalization":
            gamma, beta, mean, var = (self._w(n) for n in node.input[1:5])
            bn = _BatchNormAnyRank(
                len(gamma), eps=float(attrs.get("epsilon", 1e-5)), momentum=1.0 - float(attrs.get("momentum", 0.9))
            )
            with torch.no_grad():
                bn.weight.copy_(gamma)
                bn.bias.copy_(beta)
                for buffer, value in ((bn.running_mean, mean), (bn.running_var, var)):
                    assert buffer is not None  # track_running_stats is on
                    buffer.copy_(value)
            return bn
        if op == "PRelu":
            slope = self._w(node.input[1]).flatten()
            prelu = nn.PReLU(len(slope))
            with torch.no_grad():
                prelu.weight.copy_(slope)
            return prelu
        if op in ("Sub", "Mul"):
            constant_first = node.input[0] in self.weights
            constant = self.weights[node.input[0] if constant_first else node.input[1]]
            return _ConstantOp(op, constant, constant_first)
        if op == "Gemm":
            return self._gemm(node, attrs)
        if op == "Flatten":
            return _Flatten(int(attrs.get("axis", 1)))
        if op == "Reshape":
            return _Reshape([int(v) for v in self.weights[node.input[1]]])
        if op in ("Dropout", "Identity"):
            return nn.Identity()  # inference behaviour; the small fine-tuning sets do not need dropout
        raise UnsupportedGraphError(f"ONNX op {op} ({node.name!r}) is not supported")

    def _conv(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> nn.Conv2d:
        weight = self._w(node.input[1])
        pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
        if pads[:2] != pads[2:] or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedGraphError(f"Conv {node.name!r}: asymmetric or automatic padding")
        groups = int(attrs.get("group", 1))
        conv = nn.Conv2d(
            weight.shape[1] * groups,
            weight.shape[0],
            _pair(weight.shape[2:]),
            stride=_pair(attrs.get("strides", [1, 1])),
            padding=_pair(pads[:2]),
            dilation=_pair(attrs.get("dilations", [1, 1])),
            groups=groups,
            bias=len(node.input) > 2 and bool(node.input[2]),
        )
        with torch.no_grad():
            conv.weight.copy_(weight)
            if conv.bias is not None:
                conv.bias.copy_(self._w(node.input[2]))
        return conv

    def _gemm(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> nn.Linear:
        if attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1.0 or float(attrs.get("beta", 1.0)) != 1.0:
            raise UnsupportedGraphError(f"Gemm {node.name!r}: only y = x W^T + b (or x W + b)")
        weight = self._w(node.input[1])
        weight = weight if attrs.get("transB", 0) else weight.T
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=len(node.input) > 2)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if linear.bias is not None:
                linear.bias.copy_(self._w(node.input[2]))
        return linear

    def forward(self, x: torch.Tensor, start: str | None = None) -> torch.Tensor:
        """Run the graph; with `start`, x is the tensor of that name and only the nodes after it run."""
        values = {start or self.input_name: x}
        for step in self.steps[self._first_step(start) :]:
            values[step.output_name] = self.layers[step.module_key](values[step.input_name])
        return values[self.output_name]

    @torch.no_grad()
    def forward_until(self, x: torch.Tensor, stop: str) -> torch.Tensor:
        """The tensor `stop` for input x (the frozen trunk's features), without gradients."""
        values = {self.input_name: x}
        for step in self.steps[: self._first_step(stop)]:
            values[step.output_name] = self.layers[step.module_key](values[step.input_name])
        return values[stop]

    def _first_step(self, start: str | None) -> int:
        if start is None or start == self.input_name:
            return 0
        for index, step in enumerate(self.steps):
            if step.output_name == start:
                return index + 1
        raise KeyError(f"no tensor {start!r} in the graph")

    def split_tensor(self, trainable_layers: int) -> str:
        """The tensor feeding the `trainable_layers`-th last Conv/Gemm: the trunk's output, the tail's input."""
        weighted = [s for s in self.steps if isinstance(self.layers[s.module_key], nn.Conv2d | nn.Linear)]
        return weighted[-min(trainable_layers, len(weighted))].input_name

    def tail_parameters(self, start: str) -> list[nn.Parameter]:
        """Parameters of the nodes after tensor `start` (the part that is fine-tuned)."""
        return [p for s in self.steps[self._first_step(start) :] for p in self.layers[s.module_key].parameters()]

    def freeze_batchnorm_statistics(self) -> None:
        """Put every BN layer in eval mode (running statistics used and kept); call after `train()`."""
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def load_onnx_embedder(path: Path) -> OnnxEmbedder:
    return OnnxEmbedder(onnx.load(str(path)))


def extract_trunk(onnx_path: Path, out_path: Path, tensor: str) -> Path:
    """The ONNX subgraph from the input up to `tensor` (the frozen trunk, run by onnxruntime)."""
    model = onnx.load(str(onnx_path))
    onnx.utils.extract_model(str(onnx_path), str(out_path), [model.graph.input[0].name], [tensor])
    return out_path


def export_onnx(module: OnnxEmbedder, path: Path, input_size: int = 112, opset: int = 17) -> Path:
    """FP32 ONNX with a dynamic batch and the original input/output names (so the registry spec applies)."""
    module = module.to("cpu").eval()
    dummy = torch.zeros(2, 3, input_size, input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        module,
        (dummy,),
        str(path),
        input_names=[module.input_name],
        output_names=[module.output_name],
        opset_version=opset,
        dynamo=False,
        dynamic_axes={module.input_name: {0: "N"}, module.output_name: {0: "N"}},
    )
    onnx.checker.check_model(str(path))
    return path
