"""FP16 copies of ONNX graphs for strongly typed TensorRT builds (10.x opt-in, 11.x only).

A strongly typed network takes its precision from the graph: there is no `BuilderFlag.FP16` to ask for half
precision, the tensors must already be float16. onnxconverter-common's `float16.convert_float_to_float16`
(the converter onnxruntime's docs use; ModelOpt's AutoCast builds on it) rewrites weights and activations
to float16 and, with `keep_io_types`, keeps the graph's inputs and outputs float32 behind Cast nodes, so the
backend feeds and reads the same float32 buffers at every precision. Copies are cached by the source's
sha256: a new model gives a new file, a rebuild of the same model reuses it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from models.artifacts import sha256_file
from models.engines.tensorrt.engine_cache import write_atomic

log = logging.getLogger(__name__)


class Fp16ConversionError(RuntimeError):
    """The converter is missing or refused the graph."""


def fp16_copy_path(fp32_path: Path, cache_dir: Path) -> Path:
    """<cache_dir>/onnx-fp16/<stem>.fp16.<sha256[:16] of the source>.onnx"""
    return cache_dir / "onnx-fp16" / f"{fp32_path.stem}.fp16.{sha256_file(fp32_path)[:16]}.onnx"


def fp16_onnx(fp32_path: Path, cache_dir: Path) -> Path:
    """The float16 copy of `fp32_path` (float32 inputs and outputs), converted once and cached."""
    target = fp16_copy_path(fp32_path, cache_dir)
    if target.exists():
        return target
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError as exc:
        raise Fp16ConversionError(
            "FP16 engines on a strongly typed TensorRT need onnxconverter-common "
            "(`pip install onnxconverter-common`, part of the gpu extra)"
        ) from exc
    with warnings.catch_warnings():  # it warns once per weight it clips to the float16 range
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    write_atomic(target, converted.SerializeToString())
    log.info("converted %s to float16 (%s)", fp32_path.name, target.name)
    return target
