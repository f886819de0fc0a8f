"""Versioned, signed artifacts: galleries built from the library, and embedding models registered by hand.

Each artifact lives in `<artifacts>/<kind>/<version>/` as its file plus `manifest.json` (a SignedManifest).
A build writes into a temporary folder, signs, records the row, and renames the folder into place.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field

from facefleet.gallery import MAX_TEMPLATES, IgnoreEntries, build_gallery
from facefleet.signing import public_pem, sign_manifest
from facefleet.wire import ArtifactKind, ArtifactManifest, SignedManifest
from hub.artifacts.revocations import (
    MANIFEST_NAME,
    RevokedError,
    gallery_holder_ids,
    index_gallery_people,
    index_unindexed_galleries,
    purge_revoked_files,
    revokes_for_new_gallery,
)
from hub.db import HubDb, utc_now
from hub.errors import NotFoundError
from hub.library.embeddings import SampleEmbeddings
from hub.records import Record
from models.artifacts import sha256_file


class ArtifactRecord(Record):
    kind: ArtifactKind
    version: str
    model_id: str
    sha256: str
    size: int
    created: str
    people: int
    templates: int
    revoked: str = Field(description="when a deletion revoked it ('' while it can be rolled out and downloaded)")


class ModelFileError(ValueError):
    """An uploaded model file is not a loadable ONNX graph."""


def check_onnx(path: Path) -> None:
    """Refuse files that are not ONNX models before they are signed and offered to devices."""
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except (onnx.checker.ValidationError, OSError, ValueError) as exc:
        raise ModelFileError(f"not a valid ONNX model: {str(exc).splitlines()[0][:200]}") from exc
    except Exception as exc:  # protobuf decode errors have no common public base class
        raise ModelFileError(f"not a valid ONNX model ({exc.__class__.__name__})") from exc


@dataclass(frozen=True)
class ArtifactUrls:
    """Where devices download an artifact: its signed manifest and its file, under the hub's base URL."""

    base_url: str

    def __call__(self, kind: ArtifactKind, version: str) -> tuple[str, str]:
        base = f"{self.base_url}/api/artifacts/{kind}/{version}"
        return f"{base}/manifest", f"{base}/file"


class ArtifactStore:
    def __init__(self, hub_db: HubDb, root: Path, key: Ed25519PrivateKey, key_id: str = "hub") -> None:
        self.hub_db = hub_db
        self.root = root
        self.key = key
        self.key_id = key_id
        self.public_key_pem = public_pem(key.public_key())  # what devices verify manifests with
        root.mkdir(parents=True, exist_ok=True)

    def next_version(self, kind: ArtifactKind) -> str:
        with self.hub_db.read() as db:
            count = db.execute("SELECT COUNT(*) FROM artifacts WHERE kind = ?", [kind]).fetchone()[0]
        return f"{utc_now():%Y%m%d}.{count + 1:04d}"

    def build_gallery(
        self,
        found: SampleEmbeddings,
        names: Mapping[str, str],
        dim: int,
        max_templates: int = MAX_TEMPLATES,
        ignores: IgnoreEntries | None = None,
        cohort: np.ndarray | None = None,
    ) -> ArtifactRecord:
        """A new gallery version of `found.model_id`: templates of every person with samples in `found`.

        names: person id -> display name; dim: the model's embedding size (for an empty library);
        ignores: ignore entries (ignored visitors) of the same model to carry; cohort: (K, D) impostor cohort
        embeddings of the same model to carry (`facefleet.openset`), or None.
        """
        person_ids = sorted(set(found.person_ids.tolist()))
        position = {p: i for i, p in enumerate(person_ids)}
        labels = np.array([position[p] for p in found.person_ids.tolist()], np.int64)
        vectors = found.vectors if len(found.vectors) else np.zeros((0, dim), np.float32)
        version = self.next_version("gallery")
        gallery = build_gallery(
            version,
            found.model_id,
            person_ids,
            [names[p] for p in person_ids],
            vectors,
            labels,
            max_templates,
            ignores,
            cohort,
        )
        tmp = self._tmp_dir()
        gallery.write(tmp / f"gallery-{version}.sqlite")
        return self._register(tmp, "gallery", version, found.model_id, dim, len(person_ids), len(gallery.templates))

    def add_model(self, source: Path, model_id: str, embedding_dim: int, base_model: str = "") -> ArtifactRecord:
        """Register an embedding model file (ONNX) as a signed `model` artifact."""
        version = self.next_version("model")
        tmp = self._tmp_dir()
        shutil.copyfile(source, tmp / f"model-{version}.onnx")
        return self._register(tmp, "model", version, model_id, embedding_dim, 0, 0, base_model)

    def add_gallery_file(
        self, source: Path, version: str, model_id: str, embedding_dim: int, people: int, templates: int
    ) -> ArtifactRecord:
        """Register a gallery file made elsewhere (a retraining release) under the version it carries."""
        tmp = self._tmp_dir()
        shutil.copyfile(source, tmp / f"gallery-{version}.sqlite")
        return self._register(tmp, "gallery", version, model_id, embedding_dim, people, templates)

    def _tmp_dir(self) -> Path:
        tmp = self.root / ".tmp" / uuid.uuid4().hex
        tmp.mkdir(parents=True)
        return tmp

    def _register(
        self,
        tmp: Path,
        kind: ArtifactKind,
        version: str,
        model_id: str,
        dim: int,
        people: int,
        templates: int,
        base_model: str = "",
    ) -> ArtifactRecord:
        try:
            (file,) = [p for p in tmp.iterdir() if p.name != MANIFEST_NAME]
            sha256, size = sha256_file(file), file.stat().st_size
            holds = gallery_holder_ids(file) if kind == "gallery" else ()
            target = self.root / kind / version
            target.parent.mkdir(parents=True, exist_ok=True)
            # Revocations are read, signed into the manifest and committed with the row as one step, so a
            # deletion cannot land between them.
            with self.hub_db.transaction() as db:
                revokes = revokes_for_new_gallery(db, holds) if kind == "gallery" else []
                manifest = ArtifactManifest(
                    kind=kind,
                    version=version,
                    model_id=model_id,
                    sha256=sha256,
                    size=size,
                    created=utc_now(),
                    file_name=file.name,
                    embedding_dim=dim,
                    base_model=base_model,
                    revokes=revokes,
                )
                signed = sign_manifest(self.key, manifest, self.key_id)
                (tmp / MANIFEST_NAME).write_text(signed.model_dump_json(indent=2))
                record = ArtifactRecord(
                    kind=kind,
                    version=version,
                    model_id=model_id,
                    sha256=sha256,
                    size=size,
                    created=manifest.created.isoformat(),
                    people=people,
                    templates=templates,
                    revoked="",
                )
                db.insert("artifacts", record.model_dump())
                index_gallery_people(db, version, holds)
                tmp.replace(target)
            return record
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def signed(self, kind: ArtifactKind | None = None) -> list[ArtifactRecord]:
        """Every artifact signed (of `kind`; revoked ones too), oldest first."""
        sql = "SELECT * FROM artifacts" + (" WHERE kind = ?" if kind else "") + " ORDER BY created"
        with self.hub_db.read() as db:
            return [ArtifactRecord.model_validate(row) for row in db.query(sql, [kind] if kind else [])]

    def get(self, kind: ArtifactKind, version: str) -> ArtifactRecord:
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM artifacts WHERE kind = ? AND version = ?", [kind, version]))
        if not rows:
            raise NotFoundError(f"no {kind} artifact {version}")
        return ArtifactRecord.model_validate(rows[0])

    def servable(self, kind: ArtifactKind, version: str) -> ArtifactRecord:
        """The record of an artifact that may be rolled out and downloaded (RevokedError, 410, if revoked)."""
        record = self.get(kind, version)
        if record.revoked:
            raise RevokedError(f"{kind} {version} was revoked at {record.revoked} (it held a deleted person)")
        return record

    def manifest(self, kind: ArtifactKind, version: str) -> SignedManifest:
        self.servable(kind, version)
        return SignedManifest.model_validate_json((self.root / kind / version / MANIFEST_NAME).read_text())

    def file_path(self, kind: ArtifactKind, version: str) -> Path:
        return self.root / kind / version / self.manifest(kind, version).manifest.file_name

    def clean_tmp(self) -> int:
        """Remove half-built artifacts after a crash: the staging folder, and version folders without a
        database row (moved into place, but the process died before the commit). Returns folders removed.
        Also finishes revocations (files of revoked galleries) and indexes galleries' people where a hub
        before the index registered them."""
        shutil.rmtree(self.root / ".tmp", ignore_errors=True)
        index_unindexed_galleries(self.hub_db, self.root)
        purge_revoked_files(self.hub_db, self.root)
        with self.hub_db.read() as db:
            known = {(kind, version) for kind, version in db.execute("SELECT kind, version FROM artifacts")}
        orphans = [
            p
            for kind in ("gallery", "model")
            if (self.root / kind).is_dir()
            for p in (self.root / kind).iterdir()
            if (kind, p.name) not in known
        ]
        for path in orphans:
            shutil.rmtree(path, ignore_errors=True)
        return len(orphans)
