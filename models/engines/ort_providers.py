"""onnxruntime's config (the engine owns it), and its execution providers with their options: TensorRT,
CUDA, CPU, in the configured order.

The TensorRT provider needs explicit profile shapes for every dynamic input, and needs them again when it
loads an engine from its cache, so they are always derived from the model and the same `ProfileConfig` the
TensorRT backend uses. It takes one range per input, so per-scale P-Net profiles are merged into one.
A Q/DQ model gets `trt_int8_enable` but never a calibration table: its scales are in the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.engines.onnx_info import has_qdq, single_input
from models.engines.tensorrt.engine_cache import default_engine_dir
from models.engines.tensorrt.trt_profiles import ProfileConfig, Pyramid, ShapeRange, profiles_for_input, shape_string

ProviderSpec = tuple[str, dict[str, str]]


class OrtTensorRTOptions(BaseModel):
    """The onnxruntime TensorRT provider's own block (the second GPU path, and the fallback where the
    TensorRT Python API is missing). Shapes come from the same profiles as the TensorRT backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fp16: bool = True
    engine_cache_dir: Path | None = Field(None, description="default: <cache>/engines/ort")
    timing_cache: bool = True
    workspace_mib: int = Field(1024, ge=64, le=65536)
    profiles: ProfileConfig = ProfileConfig()


class OnnxRuntimeConfig(BaseModel):
    """onnxruntime. `providers` is a preference order; ones this onnxruntime build lacks are skipped, so one
    config runs on a Jetson (TensorRT, CUDA providers) and on a CPU-only hub.

    Session options, measured on a 2-core AVX-512 CPU shared with other work (MTCNN on 640x360 frames,
    interleaved): spinning intra-op threads made detection 3.6x slower in wall time and 3x in CPU time, since
    a spinning thread holds a core the camera reader, the other sessions or other processes need; so
    `allow_spinning` is off. Graph optimisation ORT_ENABLE_ALL (NCHWc layouts) beat BASIC and EXTENDED on
    every net (P-Net 5%, SFace 20%); the parallel execution mode was 0.9x (these graphs are chains), and
    turning off the memory arena or memory patterns changed nothing beyond noise, so both stay on.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["onnxruntime"] = "onnxruntime"
    precision: Literal["fp32", "int8"] = "fp32"
    intra_op_threads: int = Field(0, ge=0, le=256, description="0 lets onnxruntime pick (one per core)")
    allow_spinning: bool = Field(False, description="intra-op threads busy-wait between ops (see the class docstring)")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    device_id: int = Field(0, ge=0, le=64)
    tensorrt: OrtTensorRTOptions = OrtTensorRTOptions()


def union_profile(profiles: list[ShapeRange]) -> ShapeRange:
    """One range covering several: elementwise min of mins, max of maxes; opt of the first (largest level)."""
    mins = tuple(min(dims) for dims in zip(*(p.min for p in profiles), strict=True))
    maxs = tuple(max(dims) for dims in zip(*(p.max for p in profiles), strict=True))
    return ShapeRange(mins, profiles[0].opt, maxs)


def tensorrt_options(config: OnnxRuntimeConfig, model_path: Path, pyramid: Pyramid | None = None) -> dict[str, str]:
    """The provider's options; `pyramid` (the detector's) gives P-Net's shape range."""
    trt = config.tensorrt
    name, shape = single_input(model_path)
    profile = union_profile(profiles_for_input(shape, trt.profiles, pyramid))
    cache_dir = trt.engine_cache_dir or default_engine_dir() / "ort"
    options = {
        "device_id": str(config.device_id),
        "trt_max_workspace_size": str(trt.workspace_mib << 20),
        "trt_fp16_enable": str(trt.fp16),
        "trt_int8_enable": str(config.precision == "int8" and has_qdq(model_path)),
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": str(trt.timing_cache),
        "trt_timing_cache_path": str(cache_dir),
        "trt_profile_min_shapes": shape_string(name, profile.min),
        "trt_profile_opt_shapes": shape_string(name, profile.opt),
        "trt_profile_max_shapes": shape_string(name, profile.max),
    }
    return options


def session_providers(
    config: OnnxRuntimeConfig, model_path: Path, available: list[str], pyramid: Pyramid | None = None
) -> list[ProviderSpec]:
    """The configured providers this build has, with options; the CPU provider always closes the list so a
    node the GPU providers reject still runs."""
    specs: list[ProviderSpec] = []
    for provider in config.providers:
        if provider not in available or any(p == provider for p, _ in specs):
            continue
        if provider == "TensorrtExecutionProvider":
            specs.append((provider, tensorrt_options(config, model_path, pyramid)))
        elif provider == "CUDAExecutionProvider":
            specs.append((provider, {"device_id": str(config.device_id)}))
        else:
            specs.append((provider, {}))
    if not any(p == "CPUExecutionProvider" for p, _ in specs):
        specs.append(("CPUExecutionProvider", {}))
    return specs
