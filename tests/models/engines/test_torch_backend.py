"""The torch backend (the hub's GPU path) computes the embeddings onnxruntime computes, on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.engines.backend import TorchConfig
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.imageio import load_image
from models.pipeline import FacePipeline, PipelineConfig


@pytest.fixture(scope="module")
def real_crops(pipeline, shared_data: Path) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Aligned crops of every face in the photos of clips/people and the two-people photo."""
    paths = sorted((shared_data / "clips" / "people").glob("*/*")) + [shared_data / "clips" / "two_people.jpg"]
    crops = [pipeline.analyze(load_image(p)).crops_rgb for p in paths]
    out = np.concatenate([c for c in crops if len(c)])
    assert len(out) >= 12
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos: np.ndarray = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return cos


def test_pipeline_with_torch_embedder_agrees_with_onnxruntime(pipeline, real_crops: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    on_torch = FacePipeline.from_config(PipelineConfig(embedder_backend=TorchConfig(device="cpu")))
    assert on_torch.embedder.backend.name.startswith("sface.onnx[torch cpu")
    cos = _cosines(on_torch.embedder.embed(real_crops), pipeline.embedder.embed(real_crops))
    assert cos.min() >= 0.999


def test_torch_backend_batches_match_onnxruntime(sface_file: Path) -> None:
    blob = np.random.default_rng(0).uniform(-1, 1, (3, 3, 112, 112)).astype(np.float32)
    torch_out = open_backend(sface_file, TorchConfig(device="cpu")).run(blob)
    ort_out = open_backend(sface_file, OnnxRuntimeConfig()).run(blob)
    assert len(torch_out) == 1 and torch_out[0].shape == ort_out[0].shape == (3, 128)
    assert torch_out[0].dtype == np.float32 and _cosines(torch_out[0], ort_out[0]).min() >= 0.999


def test_cuda_without_a_gpu_says_so(sface_file: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        open_backend(sface_file, TorchConfig(device="cuda"))


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_embeddings_agree_with_onnxruntime(real_crops: np.ndarray, precision: str) -> None:  # type: ignore[no-untyped-def]
    import torch

    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    ref = FacePipeline.from_config(PipelineConfig())
    gpu = FacePipeline.from_config(PipelineConfig(embedder_backend=TorchConfig(device="cuda", precision=precision)))  # type: ignore[arg-type]
    assert _cosines(gpu.embedder.embed(real_crops), ref.embedder.embed(real_crops)).min() >= 0.999


@pytest.fixture(scope="module")
def sface_file() -> Path:
    from models.artifacts import verified_model_path
    from models.registry import default_model_dir

    return verified_model_path(default_model_dir(), "sface")
