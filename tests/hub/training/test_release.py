"""Signed model and gallery artifacts: verified on load, tampering and mismatched pairs refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facefleet.gallery import Gallery
from facefleet.signing import SignatureError, generate_key
from hub.training.release import ReleaseError, load_release, new_version, publish_release, release_files


def _gallery(model_id: str) -> Gallery:
    vectors = np.eye(2, 128, dtype=np.float32)
    return Gallery(model_id, model_id, ("p1", "p2"), ("One", "Two"), np.array([0, 1]), vectors)


@pytest.fixture
def release(tmp_path: Path):  # type: ignore[no-untyped-def]
    key = generate_key(tmp_path / "keys" / "hub.pem")
    fp32, int8 = tmp_path / "model.onnx", tmp_path / "model.int8.onnx"
    fp32.write_bytes(b"fp32 model bytes")
    version = new_version("sface", fp32)
    fp32, int8 = fp32.rename(tmp_path / f"{version}.onnx"), tmp_path / f"{version}.int8.onnx"
    int8.write_bytes(b"int8 model bytes")
    return publish_release(tmp_path, version, fp32, int8, _gallery(version), key, "hub-1", "sface"), key


def test_roundtrip(release) -> None:  # type: ignore[no-untyped-def]
    published, key = release
    assert published.version.startswith("sface-ft-")
    for precision in ("fp32", "int8"):
        model_path, gallery_path = release_files(published.directory, published.version, precision)
        manifest, gallery = load_release(model_path, gallery_path, key.public_key())
        assert manifest.kind == "model" and manifest.model_id == published.version == gallery.model_id
        assert manifest.base_model == "sface" and manifest.embedding_dim == 128


def test_altered_model_file_is_refused(release) -> None:  # type: ignore[no-untyped-def]
    published, key = release
    published.model_fp32.write_bytes(b"something else")
    with pytest.raises(ReleaseError, match="not the file"):
        load_release(published.model_fp32, published.gallery, key.public_key())


def test_other_key_is_refused(release, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    published, _key = release
    stranger = generate_key(tmp_path / "other.pem")
    with pytest.raises(SignatureError):
        load_release(published.model_fp32, published.gallery, stranger.public_key())


def test_gallery_of_another_model_is_refused(release, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    published, key = release
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    fp32 = other_dir / "m.onnx"
    fp32.write_bytes(b"another model")
    version = new_version("sface", fp32)
    other = publish_release(other_dir, version, fp32, fp32, _gallery(version), key, "", "sface")
    with pytest.raises(ReleaseError, match="cannot be used with model"):
        load_release(published.model_fp32, other.gallery, key.public_key())


def test_gallery_must_name_the_model(tmp_path: Path) -> None:
    key = generate_key(tmp_path / "k.pem")
    fp32 = tmp_path / "m.onnx"
    fp32.write_bytes(b"x")
    with pytest.raises(ReleaseError, match="belongs to model"):
        publish_release(tmp_path, "v1", fp32, fp32, _gallery("sface"), key, "", "sface")
