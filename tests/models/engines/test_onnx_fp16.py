"""The float16 copies strongly typed TensorRT builds parse: float32 at the edges, cached, faithful on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from models.artifacts import verified_model_path
from models.embed.embedder import Embedder
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.engines.tensorrt.onnx_fp16 import fp16_onnx
from models.imageio import load_image
from models.registry import default_model_dir, load_registry


@pytest.fixture(scope="module")
def sface_fp16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fp16_onnx(verified_model_path(default_model_dir(), "sface"), tmp_path_factory.mktemp("fp16"))


def test_io_stays_float32_and_weights_are_float16(sface_fp16: Path) -> None:
    model = onnx.load(str(sface_fp16))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    kinds = {init.data_type for init in model.graph.initializer if len(init.dims) >= 2}
    assert kinds == {TensorProto.FLOAT16}


def test_copy_is_cached_by_content(sface_fp16: Path) -> None:
    before = sface_fp16.stat().st_mtime_ns
    again = fp16_onnx(verified_model_path(default_model_dir(), "sface"), sface_fp16.parents[1])
    assert again == sface_fp16 and again.stat().st_mtime_ns == before


def test_fp16_embeddings_agree_with_fp32_on_real_faces(pipeline, shared_data: Path, sface_fp16: Path) -> None:  # type: ignore[no-untyped-def]
    crops = np.concatenate(
        [pipeline.analyze(load_image(p)).crops_rgb for p in sorted((shared_data / "clips" / "people").glob("*/*"))]
    )
    spec = load_registry().model("sface")
    assert spec.preprocess is not None
    half = Embedder(open_backend(sface_fp16, OnnxRuntimeConfig()), spec.preprocess, 128).embed(crops)
    full = pipeline.embedder.embed(crops)
    assert len(crops) >= 10 and float((half * full).sum(1).min()) >= 0.999
