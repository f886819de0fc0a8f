"""Deleting a person as a versioned, audited fact.

One transaction removes the person's rows and samples, revokes every gallery that holds them
(hub.revocations) and appends a row to `person_deletions`: who deleted (token id and name), whom (id and
name), when, how many samples, which galleries were revoked. Its `seq` is the version: an upload takes the
last `seq` when it starts (`Library.begin_upload`) and its storing transaction fails if the person was
deleted after it, so a delete that lands during an upload is never undone by it. The same transaction
removes the tracks agents named the person in and their suggested samples (`VisitorStore.remove_person`).
After the commit the person's sample crops, those tracks' crops and the revoked gallery files are removed
from disk, the library's followers forget the person (the 1:N index, the live view, Home Assistant), and
SQLite's write-ahead log is checkpointed and truncated, so the deleted bytes do not wait there for the next
automatic checkpoint.

Deleting a visitor is the same kind of fact: its tracks and templates go, every gallery that carries it as
an ignore entry (or carries a visitor whose tracks were merged or re-clustered into it,
`hub.artifacts.revocations.carry_holders`) is revoked, and a row is appended to `visitor_deletions`, so a
gallery built while the deletion landed is refused (`revokes_for_new_gallery`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hub.artifacts.revocations import purge_revoked_files, revoke_galleries_of
from hub.db import HubDb, now_iso
from hub.library.library import Library
from hub.records import Record
from hub.tokens import TokenInfo
from hub.visitors.store import VisitorStore


class Deletion(Record):
    seq: int = Field(description="the deletion's version: uploads begun before it fail for this person")
    person_id: str
    person_name: str
    samples: int
    token_id: str = Field(description="the API token that deleted")
    token_name: str
    deleted_at: str
    revoked_galleries: tuple[str, ...]


class Deletions:
    def __init__(self, hub_db: HubDb, library: Library, artifacts_root: Path, visitor_store: VisitorStore) -> None:
        self.hub_db = hub_db
        self.library = library
        self.artifacts_root = artifacts_root
        self.visitor_store = visitor_store

    def delete_person(self, person_id: str, actor: TokenInfo) -> Deletion:
        """Delete a person with all samples, revoke the galleries holding them, and record who did it."""
        when = now_iso()
        with self.hub_db.transaction() as db:
            person = self.library.remove_person(db, person_id)
            track_crops = self.visitor_store.remove_person(db, person_id)
            revoked = revoke_galleries_of(db, person_id, when)
            seq = db.execute(
                "INSERT INTO person_deletions (person_id, person_name, samples, token_id, token_name, deleted_at, "
                "revoked_galleries) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                [person.id, person.name, person.samples, actor.id, actor.name, when, " ".join(revoked)],
            ).fetchone()[0]
        self.library.remove_person_files(person_id)
        for crop_file in track_crops:
            self.visitor_store.unlink(crop_file)
        purge_revoked_files(self.hub_db, self.artifacts_root)
        self.hub_db.checkpoint()
        return Deletion(
            seq=int(seq or 0),
            person_id=person.id,
            person_name=person.name,
            samples=person.samples,
            token_id=actor.id,
            token_name=actor.name,
            deleted_at=when,
            revoked_galleries=tuple(revoked),
        )

    def delete_visitor(self, visitor_id: str) -> int:
        """Delete a visitor with its tracks and crops, revoke the galleries carrying it; the tracks deleted."""
        when = now_iso()
        with self.hub_db.transaction() as db:
            tracks, crop_files = self.visitor_store.remove(db, visitor_id)
            revoked = revoke_galleries_of(db, visitor_id, when)
            db.execute(
                "INSERT INTO visitor_deletions (visitor_id, tracks, deleted_at, revoked_galleries) VALUES (?, ?, ?, ?)",
                [visitor_id, tracks, when, " ".join(revoked)],
            )
        for crop_file in crop_files:
            self.visitor_store.unlink(crop_file)
        purge_revoked_files(self.hub_db, self.artifacts_root)
        self.hub_db.checkpoint()
        return tracks

    def recorded(self) -> list[Deletion]:
        """Every deletion, oldest first."""
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM person_deletions ORDER BY seq"))
        return [Deletion.model_validate({**r, "revoked_galleries": r["revoked_galleries"].split()}) for r in rows]
