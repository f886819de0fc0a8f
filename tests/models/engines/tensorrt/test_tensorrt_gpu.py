"""TensorRT engines against onnxruntime FP32 on a real GPU. Skipped with a reason on CPU-only machines.

Uses the converted models from $FACEFLEET_MODEL_DIR (or the cache); `python -m scripts.gpucheck run` is
the fuller check (LFW accuracy, INT8, throughput) and prints a table.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from models.engines.backend import TensorRTConfig
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.engines.tensorrt.trt_profiles import Pyramid
from models.registry import default_model_dir

pytestmark = pytest.mark.gpu


def _cuda_memory():  # type: ignore[no-untyped-def]
    from models.engines.cuda_memory import open_cuda_memory

    try:
        memory = open_cuda_memory()
        memory.device_info()
        return memory
    except Exception as exc:  # noqa: BLE001 - any failure means no usable GPU here
        pytest.skip(f"no usable CUDA device: {exc}")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("tensorrt is not importable (no GPU stack on this machine)")
    _cuda_memory()
    path = default_model_dir()
    if not (path / "sface.onnx").exists():
        pytest.skip(f"converted models missing in {path}: run `facefleet models fetch`")
    return path


def _ort(path: Path):  # type: ignore[no-untyped-def]
    return open_backend(path, OnnxRuntimeConfig())


def test_cuda_memory_round_trip() -> None:
    memory = _cuda_memory()
    data = np.arange(1 << 16, dtype=np.float32)
    host, device, stream = memory.host_empty(data.nbytes), memory.malloc(data.nbytes), memory.create_stream()
    back = memory.host_empty(data.nbytes)
    host[:] = data.view(np.uint8)
    memory.copy_to_device_async(device, host, stream)
    memory.copy_to_host_async(back, device, stream)
    memory.synchronize(stream)
    assert np.array_equal(back.view(np.float32), data)
    memory.free(device)
    memory.free_host(host)
    memory.free_host(back)
    memory.destroy_stream(stream)


@pytest.mark.parametrize("batch", [1, 5, 32])
def test_sface_fp16_matches_onnxruntime(model_dir: Path, tmp_path_factory: pytest.TempPathFactory, batch: int) -> None:
    engines = tmp_path_factory.getbasetemp() / "engines"
    config = TensorRTConfig(precision="fp16", max_batch=32, engine_cache_dir=engines)
    x = np.random.default_rng(batch).uniform(0, 255, (batch, 3, 112, 112)).astype(np.float32)
    with open_backend(model_dir / "sface.onnx", config) as trt_backend:  # type: ignore[attr-defined]
        got = trt_backend.run(x)[0]
    want = _ort(model_dir / "sface.onnx").run(x)[0]
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert got.shape == want.shape == (batch, 128) and cos.min() >= 0.99


def test_engine_is_cached_and_reused(model_dir: Path, tmp_path: Path) -> None:
    config = TensorRTConfig(precision="fp32", max_batch=8, engine_cache_dir=tmp_path)
    with open_backend(model_dir / "mtcnn-rnet.onnx", config) as first:  # type: ignore[attr-defined]
        path = first.engine_path
    before = path.stat().st_mtime_ns
    with open_backend(model_dir / "mtcnn-rnet.onnx", config) as second:  # type: ignore[attr-defined]
        assert second.engine_path == path
    assert path.stat().st_mtime_ns == before and list(tmp_path.glob("timing.*.cache"))


@pytest.mark.parametrize("mode", ["range", "per_scale"])
def test_pnet_over_the_pyramid_matches_onnxruntime(model_dir: Path, tmp_path: Path, mode: str) -> None:
    from models.engines.tensorrt.trt_profiles import pnet_level_hw

    config = TensorRTConfig(precision="fp32", engine_cache_dir=tmp_path, pnet={"mode": mode})  # type: ignore[arg-type]
    ort = _ort(model_dir / "mtcnn-pnet.onnx")
    rng = np.random.default_rng(0)
    pyramid = Pyramid(20, 0.709)
    with open_backend(model_dir / "mtcnn-pnet.onnx", config, pyramid) as trt_backend:  # type: ignore[attr-defined]
        for h, w in pnet_level_hw((1280, 720), 20, 0.709):
            x = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
            for got, want in zip(trt_backend.run(x), ort.run(x), strict=True):
                np.testing.assert_allclose(got, want, atol=2e-3)


def test_batches_beyond_the_profile_are_refused(model_dir: Path, tmp_path: Path) -> None:
    config = TensorRTConfig(precision="fp16", max_batch=4, engine_cache_dir=tmp_path)
    with open_backend(model_dir / "mtcnn-onet.onnx", config) as backend:  # type: ignore[attr-defined]
        assert [o.shape for o in backend.run(np.zeros((4, 3, 48, 48), np.float32))] == [
            (4, 4),
            (4, 10),
            (4, 2),
        ]
        with pytest.raises(ValueError, match="max_batch"):
            backend.run(np.zeros((5, 3, 48, 48), np.float32))
