"""A crash between moving a built artifact into place and committing its row leaves a folder without a
row; the next start removes it, so the retried build can take the same version."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.artifacts.store import ArtifactStore
from hub.db import HubDb


def test_clean_tmp_removes_staging_and_folders_without_a_row(db_target: Path | str, tmp_path: Path) -> None:
    db = HubDb(db_target)
    db.migrate()
    store = ArtifactStore(db, tmp_path / "artifacts", Ed25519PrivateKey.generate())
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not checked here")
    kept = store.add_model(model, "sface", 128)
    orphan = tmp_path / "artifacts" / "gallery" / store.next_version("gallery")
    orphan.mkdir(parents=True)
    (orphan / "gallery.db").write_bytes(b"half")
    (tmp_path / "artifacts" / ".tmp" / "x").mkdir(parents=True)

    assert store.clean_tmp() == 1
    assert not orphan.exists() and not (tmp_path / "artifacts" / ".tmp").exists()
    assert store.file_path("model", kept.version).exists()
    db.close()
