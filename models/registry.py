"""The model registry (`registry.yaml`) and where converted models live on disk."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")
MODEL_DIR_ENV = "FACEFLEET_MODEL_DIR"
CACHE_DIR_ENV = "FACEFLEET_CACHE_DIR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourcePackage(_Strict):
    version: str
    wheel: str
    wheel_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SourceFile(_Strict):
    package: str
    member: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class TensorSpec(_Strict):
    name: str
    shape: list[int | str]
    dtype: Literal["float32", "uint8"] = "float32"
    note: str = ""


class Preprocess(_Strict):
    """How an embedder wants its 112x112 aligned crop: pixel = (x - mean) / std, in this channel order."""

    size: int = Field(112, ge=32, le=512)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["RGB", "BGR"] = "RGB"
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class ModelSpec(_Strict):
    role: Literal["pnet", "rnet", "onet", "embedder"]
    source: SourceFile
    license: str
    converter: Literal["mtcnn_torch", "onnx_embedder"]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    embedding_dim: int | None = Field(None, ge=16, le=4096)
    preprocess: Preprocess | None = None
    cpu_int8: bool = Field(True, description="an onnxruntime CPU INT8 copy pays; if not, INT8 on a CPU runs FP32")

    @model_validator(mode="after")
    def _embedder_fields(self) -> ModelSpec:
        if self.role == "embedder" and (self.embedding_dim is None or self.preprocess is None):
            raise ValueError("an embedder needs embedding_dim and preprocess")
        return self


class Registry(_Strict):
    schema_: int = Field(alias="schema")
    sources: dict[str, SourcePackage]
    models: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _sources_known(self) -> Registry:
        for model_id, spec in self.models.items():
            if spec.source.package not in self.sources:
                raise ValueError(f"model {model_id}: unknown source package {spec.source.package}")
        return self

    def model(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            raise KeyError(f"unknown model {model_id!r}; registry has {sorted(self.models)}") from None


@lru_cache(maxsize=4)
def load_registry(path: Path = REGISTRY_PATH) -> Registry:
    with open(path, encoding="utf-8") as fh:
        return Registry.model_validate(yaml.safe_load(fh))


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "facefleet")


def default_model_dir() -> Path:
    """Converted ONNX models: $FACEFLEET_MODEL_DIR, else <cache>/models."""
    return Path(os.environ.get(MODEL_DIR_ENV) or default_cache_dir() / "models")


ArtifactKind = Literal["fp32", "int8", "int8cpu"]


def artifact_name(model_id: str, kind: ArtifactKind = "fp32") -> str:
    """File name of one converted model: `<id>.onnx` (FP32), `<id>.int8.onnx` (symmetric S8/S8 Q/DQ, what
    TensorRT builds INT8 engines from) or `<id>.int8cpu.onnx` (U8 activations, S8 per-channel weights, what
    onnxruntime's x86 INT8 kernels run fast)."""
    return f"{model_id}.onnx" if kind == "fp32" else f"{model_id}.{kind}.onnx"
