"""Converted model files on disk and their manifest (sha256 per file), checked before anything runs them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from models.registry import ArtifactKind, artifact_name

MANIFEST = "manifest.json"


class ModelIntegrityError(RuntimeError):
    """A model file is missing, unlisted, or not the file that was converted (wrong sha256)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(model_dir: Path) -> dict[str, dict[str, str]]:
    path = model_dir / MANIFEST
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        data: dict[str, dict[str, str]] = json.load(fh)
    return data


def record_artifact(model_dir: Path, file_name: str, **fields: str) -> None:
    """Add or replace one file's entry (sha256 computed now) in the manifest, atomically."""
    manifest = load_manifest(model_dir)
    manifest[file_name] = {"sha256": sha256_file(model_dir / file_name), **fields}
    tmp = model_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(model_dir / MANIFEST)


def verified_model_path(model_dir: Path, model_id: str, kind: ArtifactKind = "fp32") -> Path:
    """The path of a converted model after checking its sha256 against the manifest."""
    name = artifact_name(model_id, kind)
    path = model_dir / name
    hint = "run `facefleet models fetch`" + (" and `facefleet models quantize`" if kind != "fp32" else "")
    if not path.exists():
        raise ModelIntegrityError(f"model file {path} is missing: {hint}")
    entry = load_manifest(model_dir).get(name)
    if entry is None:
        raise ModelIntegrityError(f"{path} is not listed in {model_dir / MANIFEST}: {hint}")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ModelIntegrityError(
            f"{path}: sha256 {actual} does not match the manifest ({entry['sha256']}); "
            f"the file is corrupt or was altered: {hint}"
        )
    return path
