"""A released model: versioned ONNX files (FP32, INT8) and the gallery rebuilt with it, each with a signed
manifest. The gallery names the model it belongs to; `load_release` refuses a mismatched pair."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facefleet.gallery import Gallery
from facefleet.signing import sign_manifest, verify_manifest
from facefleet.wire import ArtifactKind, ArtifactManifest, SignedManifest
from models.artifacts import sha256_file

MANIFEST_SUFFIX = ".manifest.json"


class ReleaseError(ValueError):
    """A release's files do not match their manifests, or the model and gallery belong to different models."""


@dataclass(frozen=True)
class Release:
    version: str
    directory: Path
    model_fp32: Path
    model_int8: Path
    gallery: Path

    def manifest_path(self, artifact: Path) -> Path:
        return artifact.with_name(artifact.name + MANIFEST_SUFFIX)


def new_version(base_model: str, fp32_path: Path, now: datetime | None = None) -> str:
    """`<base>-ft-<UTC time>-<8 hex of the FP32 file>`: sortable and unique per trained file."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{base_model}-ft-{stamp}-{sha256_file(fp32_path)[:8]}"[:64]


def sign_artifact(path: Path, kind: ArtifactKind, version: str, model_id: str, embedding_dim: int,
                  key: Ed25519PrivateKey, key_id: str = "", base_model: str = "") -> SignedManifest:
    """Sign `path`'s manifest and write it beside the file as `<name>.manifest.json`."""
    manifest = ArtifactManifest(kind=kind, version=version, model_id=model_id, sha256=sha256_file(path),
                                size=path.stat().st_size, created=datetime.now(timezone.utc),
                                file_name=path.name, embedding_dim=embedding_dim, base_model=base_model)
    signed = sign_manifest(key, manifest, key_id)
    path.with_name(path.name + MANIFEST_SUFFIX).write_text(signed.model_dump_json(indent=2), encoding="utf-8")
    return signed


def publish_release(directory: Path, version: str, model_fp32: Path, model_int8: Path, gallery: Gallery,
                    key: Ed25519PrivateKey, key_id: str, base_model: str) -> Release:
    """Write the gallery (its `model_id` must be `version`) and sign all three artifacts."""
    if gallery.model_id != version:
        raise ReleaseError(f"gallery belongs to model {gallery.model_id!r}, not {version!r}")
    gallery_path = directory / f"{version}.gallery.sqlite"
    gallery.write(gallery_path)
    for path in (model_fp32, model_int8):
        sign_artifact(path, "model", version, version, gallery.dim, key, key_id, base_model)
    sign_artifact(gallery_path, "gallery", gallery.version, version, gallery.dim, key, key_id)
    return Release(version, directory, model_fp32, model_int8, gallery_path)


def verified_artifact(path: Path, public_key: Ed25519PublicKey) -> ArtifactManifest:
    """The manifest of `path` after checking its signature, file name and sha256."""
    signed = SignedManifest.model_validate_json(path.with_name(path.name + MANIFEST_SUFFIX).read_text("utf-8"))
    manifest = verify_manifest(public_key, signed)
    if manifest.file_name != path.name or manifest.sha256 != sha256_file(path):
        raise ReleaseError(f"{path.name} is not the file its signed manifest describes")
    return manifest


def check_pair(model: ArtifactManifest, gallery_manifest: ArtifactManifest, gallery: Gallery) -> None:
    """Embeddings of different models must never meet: the gallery must name this model."""
    if model.kind != "model" or gallery_manifest.kind != "gallery":
        raise ReleaseError("expected a model and a gallery manifest")
    if not (model.model_id == gallery_manifest.model_id == gallery.model_id):
        raise ReleaseError(f"gallery of model {gallery.model_id!r} (manifest {gallery_manifest.model_id!r}) "
                           f"cannot be used with model {model.model_id!r}")
    if gallery.dim != model.embedding_dim:
        raise ReleaseError(f"gallery dim {gallery.dim} != model dim {model.embedding_dim}")


def load_release(model_path: Path, gallery_path: Path, public_key: Ed25519PublicKey
                 ) -> tuple[ArtifactManifest, Gallery]:
    """What a device does before swapping: verify both artifacts, then refuse a mismatched pair."""
    model = verified_artifact(model_path, public_key)
    gallery_manifest = verified_artifact(gallery_path, public_key)
    gallery = Gallery.load(gallery_path)
    check_pair(model, gallery_manifest, gallery)
    return model, gallery


def release_files(directory: Path, version: str, precision: Literal["fp32", "int8"]) -> tuple[Path, Path]:
    """(model, gallery) paths of a release for one precision."""
    model = directory / (f"{version}.onnx" if precision == "fp32" else f"{version}.int8.onnx")
    return model, directory / f"{version}.gallery.sqlite"
