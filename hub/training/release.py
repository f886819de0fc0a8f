"""A released model's files: versioned ONNX (FP32, INT8) and the gallery rebuilt with it, in one folder.

Nothing is signed here: the hub's artifact store (`hub/artifacts/store.py`) signs what it registers, the one place
that signs. The gallery names the model it belongs to; `write_release` refuses a gallery of another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from facefleet.gallery import Gallery
from models.artifacts import sha256_file


class ReleaseError(ValueError):
    """The model and the gallery of a release belong to different models."""


@dataclass(frozen=True)
class ReleaseFiles:
    """Where one released model's files are: `<directory>/<version>.onnx`, `.int8.onnx`, `.gallery.sqlite`."""

    version: str
    directory: Path
    model_fp32: Path
    model_int8: Path
    gallery: Path


def new_version(base_model: str, fp32_path: Path, now: datetime | None = None) -> str:
    """`<base>-ft-<UTC time>-<8 hex of the FP32 file>`: sortable and unique per trained file."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{base_model}-ft-{stamp}-{sha256_file(fp32_path)[:8]}"[:64]


def write_release(directory: Path, version: str, model_fp32: Path, model_int8: Path, gallery: Gallery) -> ReleaseFiles:
    """Write the gallery beside the model files; its `model_id` must be `version`."""
    if gallery.model_id != version:
        raise ReleaseError(f"gallery belongs to model {gallery.model_id!r}, not {version!r}")
    gallery_path = directory / f"{version}.gallery.sqlite"
    gallery.write(gallery_path)
    return ReleaseFiles(version, directory, model_fp32, model_int8, gallery_path)
