"""Where built TensorRT engines and timing caches live, and the key that says when one may be reused.

An engine is only valid for the exact network, TensorRT version and GPU it was built with, and for the
profiles and precision it was built for; loading a stale one fails at best and gives wrong numbers at worst.
So the file name carries a digest of all of them (model sha256, TensorRT version, GPU name and compute
capability, precision, INT8 source, typing, profile shapes), and a JSON sidecar spells the fields out for people.
Timing caches are shared by every engine of one TensorRT version on one GPU: they only speed up builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from models.engines.tensorrt.trt_profiles import ShapeRange
from models.registry import default_cache_dir

KEY_SCHEMA = 2  # 2: the network's typing (strong/weak) joined the key


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on. `int8_source` is "qdq", "calibrator" or "" (not INT8); `typing` is
    "strong" or "weak" (how the network was created); `model_sha256` is of the file TensorRT parsed."""

    model_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    profiles: tuple[ShapeRange, ...]
    int8_source: str = ""
    calibration_sha256: str = ""
    typing: str = "weak"

    def fields(self) -> dict[str, object]:
        data = asdict(self)
        data["profiles"] = [[list(p.min), list(p.opt), list(p.max)] for p in self.profiles]
        data["compute_capability"] = list(self.compute_capability)
        data["schema"] = KEY_SCHEMA
        return data

    def digest(self) -> str:
        canonical = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def default_engine_dir() -> Path:
    return default_cache_dir() / "engines"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "unknown"


def engine_path(cache_dir: Path, model_file: str, key: EngineKey) -> Path:
    """<cache>/<model stem>.<precision>.<digest>.engine, e.g. sface.int8.3f2a....engine."""
    stem = re.sub(r"(\.int8|\.fp16\.[0-9a-f]+)?\.onnx$", "", model_file)
    return cache_dir / f"{stem}.{key.precision}.{key.digest()}.engine"


def timing_cache_path(
    cache_dir: Path, tensorrt_version: str, gpu_name: str, compute_capability: tuple[int, int]
) -> Path:
    major, minor = compute_capability
    return cache_dir / f"timing.trt{_slug(tensorrt_version)}.{_slug(gpu_name)}.sm{major}{minor}.cache"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file and rename, so a crash mid-build never leaves a truncated engine behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def store_engine(path: Path, engine_bytes: bytes, key: EngineKey) -> None:
    write_atomic(path, engine_bytes)
    write_atomic(path.with_suffix(".json"), json.dumps(key.fields(), indent=2, sort_keys=True).encode())


def load_engine(path: Path) -> bytes | None:
    """The cached engine bytes, or None when there is none (or it is empty: an interrupted old write)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data or None
