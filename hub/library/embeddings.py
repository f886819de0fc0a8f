"""Sample embeddings per model, and which model is the hub's active one.

Every sample has an embedding of the active model (enrollment writes it, a switch requires it); samples may
also have embeddings of other models: the one being re-embedded into, the previous active model, and models
devices still run. `switch` makes another model active in the transaction it is given, after checking that
no sample lacks an embedding of it, and prunes the embeddings nobody needs any more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from hub.db import HubDb, now_iso
from hub.store import Store


class ModelChangedError(RuntimeError):
    """Embeddings of a model that stopped being the active one while the request ran (send it again)."""


@dataclass(frozen=True)
class ActiveModel:
    """model_id: what the library's active embeddings are of; version: the `model` artifact it runs
    ('' for the configured registry model); previous_model_id: the model it replaced ('' at first)."""

    model_id: str
    version: str
    previous_model_id: str


@dataclass(frozen=True)
class SampleEmbeddings:
    """Embeddings of one model: sample ids (K,), owning person id of each (K,), unit vectors (K, D)."""

    model_id: str
    sample_ids: tuple[str, ...]
    person_ids: np.ndarray
    vectors: np.ndarray


class EmbeddingStore:
    def __init__(self, hub_db: HubDb) -> None:
        self.hub_db = hub_db

    def ensure_active(self, model_id: str) -> ActiveModel:
        """The active model; on a fresh database (or one from before models could switch) `model_id`."""
        with self.hub_db.transaction() as db:
            db.execute(
                "INSERT INTO active_model VALUES (1, ?, '', '', ?) ON CONFLICT DO NOTHING", [model_id, now_iso()]
            )
            return self.active(db)

    def active(self, db: Store | None = None) -> ActiveModel:
        if db is None:
            with self.hub_db.read() as read:
                return self.active(read)
        row = db.execute("SELECT model_id, version, previous_model_id FROM active_model").fetchone()
        if row is None:
            raise RuntimeError("no active model recorded (EmbeddingStore.ensure_active runs at start)")
        return ActiveModel(*row)

    def of_model(self, model_id: str, person_id: str | None = None) -> SampleEmbeddings:
        sql = """SELECT s.id, s.person_id, e.embedding FROM samples s JOIN sample_embeddings e
                 ON e.sample_id = s.id AND e.model_id = ?"""
        args = [model_id]
        if person_id:
            sql, args = sql + " WHERE s.person_id = ?", [*args, person_id]
        with self.hub_db.read() as db:
            rows = db.execute(sql + " ORDER BY s.created, s.id", args).fetchall()
        vectors = [np.frombuffer(r[2], "<f4") for r in rows]
        return SampleEmbeddings(
            model_id,
            tuple(r[0] for r in rows),
            np.array([r[1] for r in rows], object),
            np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32),
        )

    def missing(self, model_id: str, limit: int, db: Store | None = None) -> list[str]:
        """Up to `limit` ids of samples without an embedding of `model_id`, oldest first."""
        sql = """SELECT id FROM samples WHERE id NOT IN (SELECT sample_id FROM sample_embeddings
                 WHERE model_id = ?) ORDER BY created, id LIMIT ?"""
        if db is not None:
            return [r[0] for r in db.execute(sql, [model_id, limit]).fetchall()]
        with self.hub_db.read() as read:
            return [r[0] for r in read.execute(sql, [model_id, limit]).fetchall()]

    def count(self, model_id: str, db: Store) -> int:
        """How many samples have an embedding of `model_id`."""
        return int(
            db.execute(
                """SELECT COUNT(*) FROM sample_embeddings e JOIN samples s ON s.id = e.sample_id
                                 WHERE e.model_id = ?""",
                [model_id],
            ).fetchone()[0]
        )

    def add(self, db: Store, model_id: str, sample_ids: Iterable[str], vectors: np.ndarray) -> None:
        """Insert (inside the caller's transaction); samples deleted meanwhile are skipped."""
        db.executemany(
            """INSERT INTO sample_embeddings SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM samples WHERE id = ?)
               ON CONFLICT (sample_id, model_id) DO UPDATE SET embedding = excluded.embedding""",
            [(i, model_id, v.astype("<f4").tobytes(), i) for i, v in zip(sample_ids, vectors, strict=True)],
        )

    def store(self, model_id: str, sample_ids: list[str], vectors: np.ndarray) -> None:
        with self.hub_db.transaction() as db:
            self.add(db, model_id, sample_ids, vectors)

    def switch(self, db: Store, model_id: str, version: str, keep: set[str]) -> bool:
        """Make `model_id` active in `db`'s transaction unless a sample still lacks its embedding (False).

        Embeddings of models other than the new one, the one it replaces and `keep` are deleted.
        """
        if self.missing(model_id, 1, db):
            return False
        old = self.active(db)
        db.execute(
            "UPDATE active_model SET model_id = ?, version = ?, previous_model_id = ?, updated = ?",
            [model_id, version, old.model_id, now_iso()],
        )
        kept = sorted(keep | {model_id, old.model_id})
        db.execute(f"DELETE FROM sample_embeddings WHERE model_id NOT IN ({', '.join('?' * len(kept))})", kept)
        return True

    def models(self) -> dict[str, int]:
        """Model id -> how many samples have an embedding of it."""
        with self.hub_db.read() as db:
            rows = db.execute("SELECT model_id, COUNT(*) FROM sample_embeddings GROUP BY model_id").fetchall()
        return {str(m): int(n) for m, n in rows}
