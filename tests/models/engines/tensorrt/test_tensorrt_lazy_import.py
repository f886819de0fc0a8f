"""TensorRT and CUDA stay out of every import path a CPU-only machine takes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from models.engines.backend import TensorRTConfig
from models.engines.factory import open_backend

ROOT = Path(__file__).resolve().parents[4]


def test_pipeline_import_does_not_load_tensorrt_cuda_or_torch() -> None:
    code = (
        "import sys, models.pipeline, models.engines.tensorrt.tensorrt_build, models.engines.cuda_memory, "
        "models.engines.ort_providers, "
        "models.engines.torch_backend, models.engines.tensorrt.onnx_fp16, models.engines.tensorrt.trt_api; "
        "bad = [m for m in ('tensorrt', 'pycuda', 'cuda', 'torch', 'onnxconverter_common') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_backend_without_tensorrt_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match="system-site-packages"):
        open_backend(tmp_path / "sface.onnx", TensorRTConfig())
