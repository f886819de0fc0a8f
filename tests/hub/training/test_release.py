"""A release's files: the version names the base model and the FP32 file; a gallery of another model is refused.

Signing is the artifact store's (tests/hub/training/test_training_api.py downloads and verifies a released pair)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from facefleet.gallery import Gallery
from hub.training.release import ReleaseError, new_version, write_release


def _gallery(model_id: str) -> Gallery:
    vectors = np.eye(2, 128, dtype=np.float32)
    return Gallery(model_id, model_id, ("p1", "p2"), ("One", "Two"), np.array([0, 1]), vectors)


def test_version_names_base_time_and_file(tmp_path: Path) -> None:
    fp32 = tmp_path / "model.onnx"
    fp32.write_bytes(b"fp32 model bytes")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    version = new_version("sface", fp32, when)
    assert version.startswith("sface-ft-20260102T030405Z-") and len(version.rsplit("-", 1)[1]) == 8
    fp32.write_bytes(b"other bytes")
    assert new_version("sface", fp32, when) != version  # another trained file, another version


def test_release_files_and_gallery(tmp_path: Path) -> None:
    fp32, int8 = tmp_path / "v1.onnx", tmp_path / "v1.int8.onnx"
    release = write_release(tmp_path, "v1", fp32, int8, _gallery("v1"))
    assert release.gallery == tmp_path / "v1.gallery.sqlite"
    assert Gallery.load(release.gallery).model_id == "v1" and release.model_fp32 == fp32


def test_gallery_must_name_the_model(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="belongs to model"):
        write_release(tmp_path, "v1", tmp_path / "m.onnx", tmp_path / "m.int8.onnx", _gallery("sface"))
    assert not (tmp_path / "v1.gallery.sqlite").exists()
