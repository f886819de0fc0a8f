"""Idempotent uploads: a client names an upload with a key of its choosing, and a retry of a stored upload
gets the first answer again instead of adding its samples twice.

A phone on a weak link sends a video, the hub stores its samples, and the answer is lost: the client cannot
tell a failure before the commit (nothing stored) from one after it (all stored), so it sends again with the
same key. The key is claimed in the transaction that stores the samples (`Library.add_samples`), so of two
requests with one key, however they interleave, exactly one stores; the other learns what was stored. Keys
are kept for `KEEP_S` (a client retries within minutes), then forgotten when a later upload claims one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from hub.db import now_iso, utc_now
from hub.store import Store

KEY_PATTERN = r"^[A-Za-z0-9_-]{8,100}$"
KEEP_S = 24 * 3600


@dataclass(frozen=True)
class StoredUpload:
    """What the upload that claimed a key stored: for which label, which person, which samples."""

    key: str
    label: str
    person_id: str
    sample_ids: tuple[str, ...]


class UploadAlreadyStored(Exception):
    """An upload with this key was stored already (by an earlier try, or by a concurrent one)."""

    def __init__(self, stored: StoredUpload) -> None:
        super().__init__(f"upload {stored.key} was stored already")
        self.stored = stored


def stored_upload(db: Store, key: str) -> StoredUpload | None:
    row = db.execute("SELECT label, person_id, sample_ids FROM upload_keys WHERE key = ?", [key]).fetchone()
    return StoredUpload(key, row[0], row[1], tuple(json.loads(row[2]))) if row else None


def claim(db: Store, key: str, label: str, person_id: str, sample_ids: list[str]) -> None:
    """Record in the caller's transaction that `key` stored these samples; UploadAlreadyStored (the caller's
    transaction must then roll back) when another upload claimed it first. Forgets keys older than KEEP_S."""
    db.execute("DELETE FROM upload_keys WHERE created < ?", [(utc_now() - timedelta(seconds=KEEP_S)).isoformat()])
    claimed = db.execute(
        "INSERT INTO upload_keys (key, label, person_id, sample_ids, created) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        [key, label, person_id, json.dumps(sample_ids), now_iso()],
    )
    if claimed.rowcount == 0:
        found = stored_upload(db, key)
        assert found is not None  # the conflicting row is there: this transaction sees it
        raise UploadAlreadyStored(found)
