"""What the installed TensorRT offers, read off the module itself (never parsed from its version string).

One agent meets three API shapes in the field:

| | 8.5 / 8.6 (JetPack 5, 6.0) | 10.x (JetPack 6.1+, 7) | 11.x (`pip install tensorrt` on x86) |
| --- | --- | --- | --- |
| `NetworkDefinitionCreationFlag.EXPLICIT_BATCH` | required | ignored (deprecated) | removed |
| `NetworkDefinitionCreationFlag.STRONGLY_TYPED` | - | opt-in | always on (flag ignored) |
| `BuilderFlag.FP16` / `INT8` (weak typing) | yes | yes (deprecated 10.12) | removed |
| `IInt8EntropyCalibrator2`, `IBuilderConfig.int8_calibrator` | yes | deprecated 10.1 | removed |

So the build path is chosen from `hasattr` on these names. Strongly typed networks take their precision
from the ONNX itself: INT8 from Q/DQ nodes, FP16 from float16 tensors (`models.engines.tensorrt.onnx_fp16`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Typing = Literal["strong", "weak"]


@dataclass(frozen=True)
class TensorRTApi:
    """Capabilities of one tensorrt module."""

    explicit_batch_flag: bool  # implicit batch still exists: networks must be created EXPLICIT_BATCH (8.x)
    strongly_typed_flag: bool  # STRONGLY_TYPED exists (10.x opt-in; accepted and ignored on 11.x)
    weak_typing: bool  # BuilderFlag.FP16 and BuilderFlag.INT8 exist (8.x, 10.x)
    calibrator: bool  # implicit INT8 calibration exists (8.x, 10.x)

    @property
    def strongly_typed(self) -> bool:
        """Strongly typed networks can be built: opted into on 10.x, the only kind on 11.x."""
        return self.strongly_typed_flag or not self.weak_typing


def tensorrt_api(trt: Any) -> TensorRTApi:
    """Probe the module: each flag is true when the names it needs exist."""
    creation = trt.NetworkDefinitionCreationFlag
    builder_flags = trt.BuilderFlag
    strongly_typed = hasattr(creation, "STRONGLY_TYPED")
    weak = hasattr(builder_flags, "FP16") and hasattr(builder_flags, "INT8")
    calibrator = weak and hasattr(trt, "IInt8EntropyCalibrator2") and hasattr(trt.IBuilderConfig, "int8_calibrator")
    return TensorRTApi(
        explicit_batch_flag=hasattr(creation, "EXPLICIT_BATCH") and not strongly_typed,
        strongly_typed_flag=strongly_typed,
        weak_typing=weak,
        calibrator=calibrator,
    )


def network_flags(trt: Any, api: TensorRTApi, typing: Typing) -> int:
    """`create_network` flags: EXPLICIT_BATCH on 8.x; STRONGLY_TYPED where it is an opt-in (10.x)."""
    flags = 0
    if api.explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if typing == "strong" and api.weak_typing and api.strongly_typed_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def has_fast_int8(compute_capability: tuple[int, int]) -> bool:
    """INT8 tensor math: compute capability 6.1 (Pascal with DP4A) and 7.0 on (Xavier 7.2, Orin 8.7).

    The original Jetson Nano (5.3) and the TX2 (6.2) have none: FP16 is their fastest precision. TensorRT
    11 dropped `platform_has_fast_int8`, so the capability is the portable test.
    """
    return compute_capability == (6, 1) or compute_capability >= (7, 0)


def precision_for_device(precision: str, compute_capability: tuple[int, int]) -> str:
    """The precision to build: INT8 falls back to FP16 on a GPU without fast INT8 (e.g. the original Nano)."""
    if precision == "int8" and not has_fast_int8(compute_capability):
        return "fp16"
    return precision
