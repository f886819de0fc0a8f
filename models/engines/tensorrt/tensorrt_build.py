"""Build TensorRT engines from the ONNX artifacts on the device itself, and cache them.

Written for the three API shapes in the field (8.5/8.6, 10.x, 11.x; `models.engines.tensorrt.trt_api` tells
them apart by the names the module has): explicit batch, optimization profiles for every dynamic input,
`set_memory_pool_limit` for the workspace, a timing cache shared by all builds on one GPU. Where strongly
typed networks exist (10.x, 11.x) they are used: INT8 from the symmetric Q/DQ ONNX, FP16 from a float16 copy
of the ONNX
(`models.engines.tensorrt.onnx_fp16`). Weak typing (`BuilderFlag.FP16`/`INT8`) and the entropy calibrator are
used only where the module still has them: every build on 8.x, and calibrator builds on 10.x. The plan
(which ONNX, which typing, which INT8 source, which profiles) is decided by pure code that the CPU tests
cover; only `build_engine` touches TensorRT.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.artifacts import sha256_file
from models.engines.backend import TensorRTConfig
from models.engines.cuda_memory import CudaMemory
from models.engines.onnx_info import has_qdq, single_input
from models.engines.tensorrt.calibration import make_entropy_calibrator, open_calibration
from models.engines.tensorrt.engine_cache import (
    EngineKey,
    default_engine_dir,
    engine_path,
    load_engine,
    store_engine,
    timing_cache_path,
    write_atomic,
)
from models.engines.tensorrt.onnx_fp16 import Fp16ConversionError, fp16_onnx
from models.engines.tensorrt.trt_api import TensorRTApi, Typing, network_flags, precision_for_device, tensorrt_api
from models.engines.tensorrt.trt_profiles import Pyramid, ShapeRange, profiles_for_input

log = logging.getLogger(__name__)


class EngineBuildError(RuntimeError):
    """TensorRT could not parse or build the network; the message carries TensorRT's own errors."""


@dataclass(frozen=True)
class BuildPlan:
    """What to build: the ONNX file TensorRT parses, the precision and typing, where INT8 scales come from,
    the input's profiles."""

    onnx_path: Path
    precision: str
    int8_source: str
    input_name: str
    profiles: tuple[ShapeRange, ...]
    calibration_npy: Path | None = None
    typing: Typing = "weak"


def fp32_sibling(path: Path) -> Path:
    """`sface.int8.onnx` -> `sface.onnx` (the calibrator and FP16 paths start from the FP32 graph)."""
    return path.with_name(path.name.replace(".int8.onnx", ".onnx"))


def calibration_file(path: Path, config: TensorRTConfig) -> Path | None:
    if config.calibration_dir is None:
        return None
    candidate = config.calibration_dir / f"{fp32_sibling(path).stem}.calib.npy"
    return candidate if candidate.exists() else None


def _int8_source(
    path: Path, config: TensorRTConfig, api: TensorRTApi, force_calibrator: bool
) -> tuple[Path, str, Path | None]:
    """(ONNX to parse, "qdq" or "calibrator", calibration data) for an INT8 build of `path`."""
    qdq = has_qdq(path)
    if config.int8_source == "qdq" and not qdq:
        raise EngineBuildError(f"{path.name} has no Q/DQ nodes; run `facefleet models quantize`")
    if not (config.int8_source == "calibrator" or force_calibrator or not qdq):
        return path, "qdq", None
    if not api.calibrator:
        raise EngineBuildError(
            f"{path.name}: this TensorRT has no implicit INT8 calibration (removed in 11.x); "
            "INT8 needs the Q/DQ ONNX from `facefleet models quantize`"
        )
    calib = calibration_file(path, config)
    if calib is None:
        raise EngineBuildError(
            f"INT8 for {path.name} needs a Q/DQ ONNX or calibration data "
            f"<calibration_dir>/{fp32_sibling(path).stem}.calib.npy"
        )
    return fp32_sibling(path), "calibrator", calib


def plan_build(
    path: Path,
    config: TensorRTConfig,
    api: TensorRTApi,
    pyramid: Pyramid | None = None,
    cache_dir: Path | None = None,
    force_calibrator: bool = False,
) -> BuildPlan:
    """Decide the build for `path` (the artifact the pipeline chose: `<id>.int8.onnx` for INT8).

    Strongly typed where the module can (10.x, 11.x), except calibrator builds, which need weak typing.
    FP16 on a strongly typed TensorRT parses a float16 copy of the ONNX, made in `cache_dir`.
    """
    source, int8_source, calib = path, "", None
    typing: Typing = "strong" if api.strongly_typed else "weak"
    if config.precision == "int8":
        source, int8_source, calib = _int8_source(path, config, api, force_calibrator)
        typing = "weak" if int8_source == "calibrator" else typing
    elif config.precision == "fp16" and typing == "strong":
        try:
            source = fp16_onnx(fp32_sibling(path), cache_dir or default_engine_dir())
        except Fp16ConversionError as exc:
            raise EngineBuildError(str(exc)) from exc
    else:
        source = fp32_sibling(path)
    name, shape = single_input(source)
    profiles = tuple(profiles_for_input(shape, config.profiles(), pyramid))
    return BuildPlan(source, config.precision, int8_source, name, profiles, calib, typing)


def engine_key(plan: BuildPlan, tensorrt_version: str, gpu_name: str, cc: tuple[int, int]) -> EngineKey:
    calib_sha = sha256_file(plan.calibration_npy) if plan.calibration_npy else ""
    return EngineKey(
        sha256_file(plan.onnx_path),
        tensorrt_version,
        gpu_name,
        cc,
        plan.precision,
        plan.profiles,
        plan.int8_source,
        calib_sha,
        plan.typing,
    )


def make_logger(trt: Any) -> Any:
    """A TensorRT logger that forwards to Python logging (warnings and up), so build errors reach the log."""

    class _Logger(trt.ILogger):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if int(severity) <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(msg)
                log.error("TensorRT: %s", msg)
            elif int(severity) == int(trt.ILogger.Severity.WARNING):
                log.warning("TensorRT: %s", msg)

    return _Logger()


def _set_flag(trt: Any, builder_config: Any, name: str) -> None:
    flag = getattr(trt.BuilderFlag, name, None)
    if flag is None:
        raise EngineBuildError(f"TensorRT {trt.__version__} has no BuilderFlag.{name}")
    builder_config.set_flag(flag)


def _apply_precision(trt: Any, builder_config: Any, plan: BuildPlan) -> None:
    """Weak typing only: a strongly typed network takes its precision from the graph and has no such flags."""
    if plan.typing == "strong":
        return
    if plan.precision in ("fp16", "int8"):
        _set_flag(trt, builder_config, "FP16")  # INT8 engines run unquantized layers in FP16, not FP32
    if plan.precision == "int8":
        _set_flag(trt, builder_config, "INT8")


def _add_profiles(builder: Any, builder_config: Any, plan: BuildPlan) -> None:
    for shapes in plan.profiles:
        profile = builder.create_optimization_profile()
        profile.set_shape(plan.input_name, shapes.min, shapes.opt, shapes.max)
        builder_config.add_optimization_profile(profile)


def build_engine(trt: Any, plan: BuildPlan, config: TensorRTConfig, timing_cache: Path, memory: CudaMemory) -> bytes:
    """Parse, configure and build; returns the serialized engine. Updates the timing cache file."""
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, tensorrt_api(trt), plan.typing))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT could not parse {plan.onnx_path.name}: {'; '.join(errors)}")
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mib << 20)
    _apply_precision(trt, builder_config, plan)
    _add_profiles(builder, builder_config, plan)
    cache = builder_config.create_timing_cache(timing_cache.read_bytes() if timing_cache.exists() else b"")
    builder_config.set_timing_cache(cache, False)
    calibrator = _attach_calibrator(trt, builder, builder_config, plan, config, memory)
    try:
        serialized = builder.build_serialized_network(network, builder_config)
    finally:
        if calibrator is not None:
            calibrator.release()
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT failed to build {plan.onnx_path.name} ({plan.precision}): " + "; ".join(logger.errors[-5:])
        )
    write_atomic(timing_cache, bytes(memoryview(builder_config.get_timing_cache().serialize())))
    return bytes(memoryview(serialized))


def _attach_calibrator(
    trt: Any, builder: Any, builder_config: Any, plan: BuildPlan, config: TensorRTConfig, memory: CudaMemory
) -> Any:
    """The entropy calibrator of a calibrator plan (weak typing: 8.x and 10.x only), attached; else None."""
    if plan.int8_source != "calibrator" or plan.calibration_npy is None:
        return None
    item_shape = plan.profiles[0].opt[1:]
    data = open_calibration(plan.calibration_npy, item_shape)
    batch = min(config.calibration_batch, plan.profiles[0].max[0], len(data))
    calibrator = make_entropy_calibrator(trt, data, batch, plan.calibration_npy.with_suffix(".table"), memory)
    calib_profile = builder.create_optimization_profile()
    fixed = (batch, *item_shape)
    calib_profile.set_shape(plan.input_name, fixed, fixed, fixed)
    builder_config.set_calibration_profile(calib_profile)
    builder_config.int8_calibrator = calibrator
    return calibrator


@dataclass(frozen=True)
class BuiltEngine:
    engine_bytes: bytes
    plan: BuildPlan
    path: Path
    from_cache: bool


def load_or_build(
    trt: Any, path: Path, config: TensorRTConfig, memory: CudaMemory, pyramid: Pyramid | None = None
) -> BuiltEngine:
    """The cached engine for this model/GPU/TensorRT/precision/profiles, else a fresh build (then cached).

    INT8 on a GPU without fast INT8 (the original Nano, the TX2) builds FP16 instead. A Q/DQ graph TensorRT
    refuses falls back to the entropy calibrator when calibration data exists and the module still has it.
    """
    cache_dir = config.engine_cache_dir or default_engine_dir()
    gpu_name, cc = memory.device_info()
    precision = precision_for_device(config.precision, cc)
    if precision != config.precision:
        log.warning("%s (sm%d%d) has no fast INT8: building %s as FP16", gpu_name, *cc, path.name)
        config, path = config.model_copy(update={"precision": precision}), fp32_sibling(path)
    timing = timing_cache_path(cache_dir, trt.__version__, gpu_name, cc)
    api = tensorrt_api(trt)
    plan = plan_build(path, config, api, pyramid, cache_dir)
    try:
        return _load_or_build_plan(trt, plan, config, memory, cache_dir, timing, gpu_name, cc)
    except EngineBuildError as exc:
        if plan.int8_source != "qdq" or not api.calibrator or calibration_file(path, config) is None:
            raise
        log.warning("Q/DQ build of %s failed (%s); falling back to the entropy calibrator", path.name, exc)
        plan = plan_build(path, config, api, pyramid, cache_dir, force_calibrator=True)
        return _load_or_build_plan(trt, plan, config, memory, cache_dir, timing, gpu_name, cc)


def _load_or_build_plan(
    trt: Any,
    plan: BuildPlan,
    config: TensorRTConfig,
    memory: CudaMemory,
    cache_dir: Path,
    timing: Path,
    gpu_name: str,
    cc: tuple[int, int],
) -> BuiltEngine:
    key = engine_key(plan, trt.__version__, gpu_name, cc)
    target = engine_path(cache_dir, plan.onnx_path.name, key)
    cached = load_engine(target)
    if cached is not None:
        return BuiltEngine(cached, plan, target, True)
    log.info(
        "building TensorRT engine %s (%s, %s, %s typing, INT8 from %s) on %s; this takes a while once",
        target.name,
        plan.onnx_path.name,
        plan.precision,
        plan.typing,
        plan.int8_source or "-",
        gpu_name,
    )
    started = time.monotonic()
    engine_bytes = build_engine(trt, plan, config, timing, memory)
    store_engine(target, engine_bytes, key)
    log.info("built %s in %.1f s", target.name, time.monotonic() - started)
    return BuiltEngine(engine_bytes, plan, target, False)
