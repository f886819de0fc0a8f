"""Galleries revoked because a person they hold was deleted.

Every gallery's people, and the ignored visitors whose templates it carries as ignore entries, are indexed
(`gallery_people`) when it is registered. Deleting a person (or an ignored visitor) marks each gallery
holding them revoked in the same transaction (the artifact is answered with 410 from then on) and
removes its file from disk, keeping the manifest and the row as the record. The next gallery's signed
manifest lists every revoked gallery version (`ArtifactManifest.revokes`), and a device that installs it
deletes those versions from its slots, its `previous` (rollback) slot included: the purge is only ever
ordered by something the hub signed.
"""

from __future__ import annotations

import json
from pathlib import Path

from facefleet.gallery import Gallery
from hub.db import HubDb
from hub.errors import ConflictError
from hub.store import Store

MANIFEST_NAME = "manifest.json"


class RevokedError(ValueError):
    """An artifact revoked after a deletion: gone for good (HTTP 410)."""


def gallery_holder_ids(path: Path) -> tuple[str, ...]:
    """Whom a gallery file holds templates of: its people's ids, then its ignored visitors' ids."""
    gallery = Gallery.load(path)
    return gallery.person_ids + gallery.ignores.ids


def revokes_for_new_gallery(db: Store, holder_ids: tuple[str, ...]) -> list[str]:
    """The versions a new gallery's manifest must revoke; ConflictError if it holds a deleted person or
    visitor (a deletion that landed while it was built: build again)."""
    held = json.dumps(list(holder_ids))
    deleted = [
        row[0]
        for row in db.execute(
            f"SELECT DISTINCT person_name FROM person_deletions WHERE person_id IN ({db.json_values}) "
            "UNION SELECT 'visitor ' || visitor_id FROM visitor_deletions WHERE visitor_id IN "
            f"({db.json_values})",
            [held, held],
        )
    ]
    if deleted:
        raise ConflictError(
            f"the gallery holds {', '.join(map(repr, deleted))}, deleted while it was built; build it again"
        )
    rows = db.execute("SELECT version FROM artifacts WHERE kind = 'gallery' AND revoked != '' ORDER BY version")
    return [row[0] for row in rows]


def index_gallery_people(db: Store, version: str, person_ids: tuple[str, ...]) -> None:
    db.executemany(
        "INSERT INTO gallery_people VALUES (?, ?) ON CONFLICT DO NOTHING", [(version, p) for p in person_ids]
    )


def carry_holders(db: Store, moves: list[tuple[str, str]]) -> None:
    """(old id, new id) of visitors whose tracks moved to another (a merge, a re-clustering): galleries that
    hold the old id hold the new one too, so deleting the visitor the tracks went to revokes them."""
    db.executemany(
        "INSERT INTO gallery_people SELECT version, ? FROM gallery_people WHERE person_id = ? ON CONFLICT DO NOTHING",
        [(new, old) for old, new in moves if old != new],
    )


def revoke_galleries_of(db: Store, person_id: str, when: str) -> list[str]:
    """Mark every gallery that holds `person_id` (a person's or an ignored visitor's id) revoked (inside the
    deletion's transaction); their versions."""
    versions = [
        row[0]
        for row in db.execute(
            "SELECT a.version FROM artifacts a JOIN gallery_people g ON g.version = a.version "
            "WHERE a.kind = 'gallery' AND g.person_id = ? AND a.revoked = '' ORDER BY a.version",
            [person_id],
        )
    ]
    db.executemany(
        "UPDATE artifacts SET revoked = ? WHERE kind = 'gallery' AND version = ?", [(when, v) for v in versions]
    )
    return versions


def purge_revoked_files(hub_db: HubDb, root: Path) -> int:
    """Remove the files of revoked galleries (the manifest stays as the record). Returns files removed."""
    with hub_db.read() as db:
        versions = [r[0] for r in db.execute("SELECT version FROM artifacts WHERE kind = 'gallery' AND revoked != ''")]
    removed = 0
    for version in versions:
        for path in (root / "gallery" / version).glob("*"):
            if path.name != MANIFEST_NAME:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def index_unindexed_galleries(hub_db: HubDb, root: Path) -> int:
    """Index the people of galleries registered before the index existed. Returns galleries indexed."""
    with hub_db.read() as db:
        versions = [
            r[0]
            for r in db.execute(
                "SELECT version FROM artifacts WHERE kind = 'gallery' AND revoked = '' AND version NOT IN "
                "(SELECT DISTINCT version FROM gallery_people)"
            )
        ]
    for version in versions:
        files = [p for p in (root / "gallery" / version).glob("*") if p.name != MANIFEST_NAME]
        if files:
            with hub_db.transaction() as db:
                index_gallery_people(db, version, gallery_holder_ids(files[0]))
    return len(versions)
