"""What the engine builders need to know about an ONNX file without running it: its input, whether it is
Q/DQ-quantized. Reads the graph only (no external weight files)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import onnx


@lru_cache(maxsize=32)
def _graph(path: Path, mtime_ns: int) -> onnx.GraphProto:
    return onnx.load(str(path), load_external_data=False).graph


def _load(path: Path) -> onnx.GraphProto:
    return _graph(path, path.stat().st_mtime_ns)


def single_input(path: Path) -> tuple[str, list[int | str]]:
    """(name, shape) of the one real input; symbolic or unknown dims come back as str."""
    graph = _load(path)
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ValueError(f"{path.name}: expected one input, found {[i.name for i in inputs]}")
    dims: list[int | str] = [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in inputs[0].type.tensor_type.shape.dim
    ]
    return inputs[0].name, dims


def has_qdq(path: Path) -> bool:
    """True when the graph carries QuantizeLinear nodes (explicit quantization)."""
    return any(node.op_type == "QuantizeLinear" for node in _load(path).node)
