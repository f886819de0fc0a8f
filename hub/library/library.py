"""The sample library: people, their aligned face crops on disk, and embeddings in SQLite (per model:
`hub.library.embeddings`).

Writes are all-or-nothing per request: crops go to a staging folder, the rows are inserted in one
transaction, and only after the commit are the files renamed into place. `recover()` at startup finishes
or discards whatever a crash left in staging and removes files no row points at.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from hub.db import HubDb, now_iso
from hub.errors import ConflictError, NotFoundError
from hub.library.coverage import Coverage, CoverageCache, person_coverage
from hub.library.embeddings import EmbeddingStore, ModelChangedError, SampleEmbeddings
from hub.library.enroll import SampleCandidate
from hub.library.names import skeleton
from hub.library.optimize import samples_to_drop
from hub.library.upload_keys import StoredUpload, claim, stored_upload
from hub.records import Record
from hub.store import Store

STAGING = ".staging"
JPEG_QUALITY = 92
CROP_PX = 112


class PersonDeletedError(ConflictError):
    """The person an upload was for was deleted while it was analyzed; nothing was stored (HTTP 409)."""


@dataclass(frozen=True)
class UploadTicket:
    """Taken when an upload starts: its label, the person it adds to ('' for a new one), and the last
    deletion then, which the storing transaction checks against."""

    label: str
    person_id: str
    deletion_mark: int
    upload_key: str = ""
    """The client's key for this upload ('' for none): claimed when it stores (hub.library.upload_keys)."""


class Person(Record):
    id: str
    name: str
    created: str
    samples: int


class Sample(Record):
    id: str
    person_id: str
    source: str
    face_px: float
    sharpness: float
    quality: float
    created: str


def _person(row: tuple[Any, ...]) -> Person:
    """A person from (id, name, created, sample count)."""
    return Person(id=row[0], name=row[1], created=row[2], samples=row[3])


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


class LibraryFollower(Protocol):
    """What follows the library (the hub's 1:N index, Home Assistant): told after each committed write, in
    the writer's thread, whichever path made it."""

    def person_changed(self, person_id: str) -> None:
        """Created, renamed or given samples."""

    def samples_removed(self, sample_ids: list[str]) -> None:
        """Deleted samples (one at a time, by optimizing, by "not this person")."""

    def person_removed(self, person_id: str) -> None:
        """Deleted with all samples."""


class Library:
    def __init__(self, hub_db: HubDb, samples_dir: Path, embedding_store: EmbeddingStore) -> None:
        self.hub_db = hub_db
        self.samples_dir = samples_dir
        self.embedding_store = embedding_store
        self.followers: list[LibraryFollower] = []
        self._coverages = CoverageCache()
        samples_dir.mkdir(parents=True, exist_ok=True)

    @property
    def model_id(self) -> str:
        """The active model: what `embeddings()` returns and what new samples must be embedded by."""
        return self.embedding_store.active().model_id

    # people -------------------------------------------------------------------------------------------
    def create_person(self, name: str) -> Person:
        with self.hub_db.transaction() as db:
            person = self._create_person(db, name)
        for follower in self.followers:
            follower.person_changed(person.id)
        return person

    def _create_person(self, db: Store, name: str) -> Person:
        self._check_unique(db, name, "")
        person = Person(id=_new_id(), name=name, created=now_iso(), samples=0)
        db.insert("people", {"id": person.id, "name": name, "created": person.created, "skeleton": skeleton(name)})
        return person

    @staticmethod
    def _check_unique(db: Store, name: str, person_id: str) -> None:
        """Refuse a name that another person has, or one that looks the same (equal skeletons)."""
        clash = db.execute(
            "SELECT name FROM people WHERE (name = ? OR skeleton = ?) AND id != ?", [name, skeleton(name), person_id]
        ).fetchone()
        if clash and clash[0] == name:
            raise ConflictError(f"a person named {name!r} exists already")
        if clash:
            raise ConflictError(f"{name!r} looks like the existing person {clash[0]!r}; use that name or another")

    def people(self) -> list[Person]:
        with self.hub_db.read() as db:
            rows = db.execute("""SELECT p.id, p.name, p.created, COUNT(s.id) FROM people p
                                 LEFT JOIN samples s ON s.person_id = p.id GROUP BY p.id ORDER BY p.name""")
            return [_person(row) for row in rows.fetchall()]

    def person(self, person_id: str) -> Person:
        with self.hub_db.read() as db:
            row = db.execute(
                """SELECT p.id, p.name, p.created, COUNT(s.id) FROM people p
                                LEFT JOIN samples s ON s.person_id = p.id WHERE p.id = ? GROUP BY p.id""",
                [person_id],
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no person {person_id}")
        return _person(row)

    def rename_person(self, person_id: str, name: str) -> Person:
        with self.hub_db.transaction() as db:
            self.person(person_id)
            self._check_unique(db, name, person_id)
            db.execute("UPDATE people SET name = ?, skeleton = ? WHERE id = ?", [name, skeleton(name), person_id])
        for follower in self.followers:
            follower.person_changed(person_id)
        return self.person(person_id)

    def remove_person(self, db: Store, person_id: str) -> Person:
        """Delete a person's rows and samples inside the caller's transaction (hub.deletions records the
        fact); `remove_person_files` removes the crops once that has committed. The samples' embeddings of
        every model go too (named here rather than left to the foreign key's cascade)."""
        person = self.person(person_id)
        db.execute(
            "DELETE FROM sample_embeddings WHERE sample_id IN (SELECT id FROM samples WHERE person_id = ?)", [person_id]
        )
        db.execute("DELETE FROM samples WHERE person_id = ?", [person_id])
        db.execute("DELETE FROM people WHERE id = ?", [person_id])
        return person

    def remove_person_files(self, person_id: str) -> None:
        """After `remove_person` committed: the crops go, and the followers are told."""
        shutil.rmtree(self.samples_dir / person_id, ignore_errors=True)
        for follower in self.followers:
            follower.person_removed(person_id)

    # samples ------------------------------------------------------------------------------------------
    def begin_upload(self, label: str, upload_key: str = "") -> UploadTicket:
        """What an upload for `label` must still hold when it stores its samples (see add_samples)."""
        with self.hub_db.read() as db:
            found = db.execute("SELECT id FROM people WHERE name = ?", [label]).fetchone()
            mark = db.execute("SELECT COALESCE(MAX(seq), 0) FROM person_deletions").fetchone()[0]
        return UploadTicket(label, found[0] if found else "", int(mark), upload_key)

    def stored_upload(self, upload_key: str) -> StoredUpload | None:
        """What the upload named `upload_key` stored, or None when no stored upload has that key."""
        with self.hub_db.read() as db:
            return stored_upload(db, upload_key)

    def add_samples(
        self, ticket: UploadTicket, candidates: list[SampleCandidate], model_id: str, max_per_person: int
    ) -> tuple[Person, list[Sample]]:
        """Store candidates embedded by `model_id` under the person named `ticket.label` (created if new), all
        or nothing.

        Refused (nothing stored) when that person (by id or name) was deleted after the ticket was taken
        (PersonDeletedError: a delete that lands during an upload wins, and the upload does not re-create the
        person), when `model_id` is no longer the active model (ModelChangedError), or when the person would
        hold more than `max_per_person` samples (ConflictError). An upload whose ticket names a key that another
        upload claimed first stores nothing (UploadAlreadyStored, which carries what that one stored).
        """
        staging = self.samples_dir / STAGING / _new_id()
        staging.mkdir(parents=True)
        try:
            rows = [self._stage(staging, c) for c in candidates]
            with self.hub_db.transaction() as db:
                self._check_not_deleted(db, ticket)
                if (active := self.embedding_store.active(db).model_id) != model_id:
                    raise ModelChangedError(
                        f"the hub switched to model {active} while this upload was analysed "
                        f"with {model_id}; nothing was stored, send it again"
                    )
                found = db.execute("SELECT id FROM people WHERE name = ?", [ticket.label]).fetchone()
                person_id = found[0] if found else self._create_person(db, ticket.label).id
                if ticket.upload_key:  # before the room check: a retry whose first try filled the room is a replay
                    claim(db, ticket.upload_key, ticket.label, person_id, [r["id"] for r in rows])
                self._check_room(db, person_id, len(rows), max_per_person)
                for row in rows:
                    row["person_id"] = person_id
                self._insert_samples(db, rows)
                self.embedding_store.add(
                    db, model_id, [r["id"] for r in rows], np.stack([c.embedding for c in candidates])
                )
            self._move_into_place(staging, person_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for follower in self.followers:
            follower.person_changed(person_id)
        return self.person(person_id), [self._sample(r) for r in rows]

    @staticmethod
    def _check_not_deleted(db: Store, ticket: UploadTicket) -> None:
        deleted = db.execute(
            "SELECT person_name FROM person_deletions WHERE seq > ? AND (person_name = ? OR person_id = ?)",
            [ticket.deletion_mark, ticket.label, ticket.person_id],
        ).fetchone()
        if deleted:
            raise PersonDeletedError(f"{deleted[0]!r} was deleted while this upload was analyzed; nothing was stored")

    @staticmethod
    def _check_room(db: Store, person_id: str, adding: int, max_per_person: int) -> None:
        count = db.execute("SELECT COUNT(*) FROM samples WHERE person_id = ?", [person_id]).fetchone()[0]
        if count + adding > max_per_person:
            raise ConflictError(
                f"the person has {count} samples; {adding} more would pass "
                f"max_samples_per_person ({max_per_person}); nothing was stored"
            )

    def _stage(self, staging: Path, candidate: SampleCandidate) -> dict[str, Any]:
        sample_id = _new_id()
        ok, jpeg = cv2.imencode(
            ".jpg",
            cv2.cvtColor(candidate.crop_rgb, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
        )
        if not ok:
            raise RuntimeError("JPEG encoding of a crop failed")
        (staging / f"{sample_id}.jpg").write_bytes(jpeg.tobytes())
        return {
            "id": sample_id,
            "file_name": f"{sample_id}.jpg",
            "source": candidate.source[:200],
            "face_px": candidate.face_px,
            "detector_score": candidate.detector_score,
            "sharpness": candidate.sharpness,
            "quality": candidate.quality,
            "created": now_iso(),
        }

    def _insert_samples(self, db: Store, rows: list[dict[str, Any]]) -> None:
        db.insert_all("samples", rows)

    def _move_into_place(self, staging: Path, person_id: str) -> None:
        target = self.samples_dir / person_id
        target.mkdir(parents=True, exist_ok=True)
        for path in staging.iterdir():
            path.replace(target / path.name)

    @staticmethod
    def _sample(row: dict[str, Any]) -> Sample:
        return Sample.model_validate(row)

    def samples(self, person_id: str | None = None) -> list[Sample]:
        sql = "SELECT * FROM samples" + (" WHERE person_id = ?" if person_id else "") + " ORDER BY created, id"
        with self.hub_db.read() as db:
            return [self._sample(r) for r in db.query(sql, [person_id] if person_id else [])]

    def sample_path(self, sample_id: str) -> Path:
        with self.hub_db.read() as db:
            row = db.execute("SELECT person_id, file_name FROM samples WHERE id = ?", [sample_id]).fetchone()
        path = (self.samples_dir / str(row[0]) / str(row[1])).resolve() if row is not None else None
        if path is None or path.parent.parent != self.samples_dir.resolve():  # names are the hub's: never elsewhere
            raise NotFoundError(f"no sample {sample_id}")
        return path

    def crop_rgb(self, sample_id: str) -> np.ndarray | None:
        """The stored aligned crop as (112, 112, 3) RGB uint8, or None when its file is unreadable."""
        image = cv2.imread(str(self.sample_path(sample_id)))
        if image is None:
            return None
        if image.shape[:2] != (CROP_PX, CROP_PX):
            image = cv2.resize(image, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def delete_samples(self, sample_ids: list[str]) -> int:
        """Delete the given samples (unknown ids are an error, and then nothing is deleted)."""
        paths = [self.sample_path(i) for i in sample_ids]
        with self.hub_db.transaction() as db:
            for sample_id in sample_ids:
                db.execute("DELETE FROM samples WHERE id = ?", [sample_id])
        for path in paths:
            path.unlink(missing_ok=True)
        for follower in self.followers:
            follower.samples_removed(sample_ids)
        return len(paths)

    def embeddings(self, person_id: str | None = None, model_id: str | None = None) -> SampleEmbeddings:
        """Embeddings of `model_id` (default: the active model), of one person or of everyone."""
        return self.embedding_store.of_model(model_id or self.model_id, person_id)

    def coverage(self, person_id: str) -> Coverage:
        """How well one person's samples cover them, from their embeddings of the active model
        (`hub.library.coverage`)."""
        return person_coverage(self.embeddings(person_id).vectors)

    def coverages(self) -> dict[str, Coverage]:
        """Every person's coverage from one read of the active model's embeddings (worked out again only for
        people whose samples changed since the last call); people without a sample are absent."""
        return self._coverages.of_everyone(self.embeddings())

    def optimize(self, max_per_person: int, person_id: str | None = None) -> int:
        """Keep at most `max_per_person` samples per person; near-duplicates and low quality go first."""
        dropped: list[str] = []
        for person in [self.person(person_id)] if person_id else self.people():
            if person.samples <= max_per_person:
                continue
            found = self.embeddings(person.id)
            with self.hub_db.read() as db:
                quality = dict(db.execute("SELECT id, quality FROM samples WHERE person_id = ?", [person.id]))
            scores = np.array([quality[i] for i in found.sample_ids], np.float32)
            dropped += [found.sample_ids[i] for i in samples_to_drop(found.vectors, scores, max_per_person)]
        return self.delete_samples(dropped) if dropped else 0

    # crash recovery -----------------------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Finish committed-but-unmoved uploads and delete orphans. Returns (files moved, files removed)."""
        with self.hub_db.read() as db:
            known = {r[0]: r[1] for r in db.execute("SELECT file_name, person_id FROM samples").fetchall()}
        moved = removed = 0
        staging_root = self.samples_dir / STAGING
        for path in sorted(staging_root.glob("*/*")):
            if path.name in known and not (self.samples_dir / known[path.name] / path.name).exists():
                (self.samples_dir / known[path.name]).mkdir(parents=True, exist_ok=True)
                path.replace(self.samples_dir / known[path.name] / path.name)
                moved += 1
        shutil.rmtree(staging_root, ignore_errors=True)
        for path in self.samples_dir.glob("*/*.jpg"):
            if known.get(path.name) != path.parent.name:
                path.unlink()
                removed += 1
        return moved, removed
