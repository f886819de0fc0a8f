"""Engine cache keys and files: every input of a build changes the key; writes are atomic."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from models.engines.tensorrt.engine_cache import EngineKey, engine_path, load_engine, store_engine, timing_cache_path
from models.engines.tensorrt.trt_profiles import ShapeRange

PROFILE = ShapeRange((1, 3, 112, 112), (8, 3, 112, 112), (32, 3, 112, 112))
BASE = EngineKey("a" * 64, "10.3.0", "Orin", (8, 7), "int8", (PROFILE,), "qdq")


def test_digest_is_stable_and_short() -> None:
    assert BASE.digest() == dataclasses.replace(BASE).digest()
    assert len(BASE.digest()) == 20


@pytest.mark.parametrize(
    "change",
    [
        {"model_sha256": "b" * 64},  # retrained or re-converted model
        {"tensorrt_version": "8.6.2"},  # JetPack upgrade
        {"gpu_name": "Xavier"},  # engine copied to another board
        {"compute_capability": (7, 2)},
        {"precision": "fp16"},
        {"profiles": (ShapeRange((1, 3, 112, 112), (8, 3, 112, 112), (64, 3, 112, 112)),)},  # max_batch raised
        {"int8_source": "calibrator"},
        {"calibration_sha256": "c" * 64},  # new calibration data
    ],
)
def test_every_field_changes_the_digest(change: dict[str, object]) -> None:
    assert dataclasses.replace(BASE, **change).digest() != BASE.digest()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model_file", "prefix"),
    [
        ("sface.onnx", "sface.int8."),
        ("sface.int8.onnx", "sface.int8."),
        ("mtcnn-pnet.onnx", "mtcnn-pnet.int8."),
    ],
)
def test_engine_path_names(tmp_path: Path, model_file: str, prefix: str) -> None:
    path = engine_path(tmp_path, model_file, BASE)
    assert path.parent == tmp_path and path.name.startswith(prefix) and path.name.endswith(".engine")


def test_timing_cache_path_is_per_version_and_gpu(tmp_path: Path) -> None:
    path = timing_cache_path(tmp_path, "10.3.0", "NVIDIA H100 80GB HBM3", (9, 0))
    assert path.name == "timing.trt10.3.0.nvidia-h100-80gb-hbm3.sm90.cache"


def test_store_and_load(tmp_path: Path) -> None:
    path = engine_path(tmp_path / "engines", "sface.int8.onnx", BASE)
    assert load_engine(path) is None
    store_engine(path, b"engine-bytes", BASE)
    assert load_engine(path) == b"engine-bytes"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["gpu_name"] == "Orin" and sidecar["profiles"] == [
        [[1, 3, 112, 112], [8, 3, 112, 112], [32, 3, 112, 112]]
    ]
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_empty_engine_file_counts_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "x.engine"
    path.write_bytes(b"")
    assert load_engine(path) is None
