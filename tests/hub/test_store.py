"""The store's common ground on the engine the run uses (`--hub-db`): transactions and savepoints roll
back whole, conflict clauses, RETURNING, JSON-array parameters, the column types the migrations make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.db import HubDb
from hub.store import PostgresStore, SqliteStore, open_store


@pytest.fixture
def hub_db(db_target: Path | str) -> HubDb:
    hub_db = HubDb(db_target)
    hub_db.migrate()
    return hub_db


def test_the_store_is_the_engine_asked_for(db_target: Path | str, request: pytest.FixtureRequest) -> None:
    store = open_store(db_target)
    wanted = PostgresStore if request.config.getoption("--hub-db") == "postgresql" else SqliteStore
    assert isinstance(store, wanted)
    store.close()


def test_a_failed_transaction_leaves_nothing_and_a_failed_savepoint_only_its_part(hub_db: HubDb) -> None:
    with pytest.raises(RuntimeError), hub_db.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p1', 'Ann', '2026', 'ann')")
        raise RuntimeError("upload failed")
    with hub_db.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p2', 'Bob', '2026', 'bob')")
        with pytest.raises(RuntimeError), hub_db.transaction() as inner:
            inner.execute("INSERT INTO people VALUES ('p3', 'Cy', '2026', 'cy')")
            raise RuntimeError("nested part failed")
    with hub_db.read() as db:
        assert db.execute("SELECT id FROM people ORDER BY id").fetchall() == [("p2",)]


def test_a_refused_statement_rolls_the_transaction_back(hub_db: HubDb) -> None:
    """A unique name taken twice fails on both engines and the row before it in the block goes too."""
    with hub_db.transaction() as db:
        db.insert("people", {"id": "p1", "name": "Ann", "created": "2026", "skeleton": "ann"})
    with pytest.raises(Exception, match="(?i)unique"), hub_db.transaction() as db:
        db.insert("people", {"id": "p2", "name": "Bob", "created": "2026", "skeleton": "bob"})
        db.insert("people", {"id": "p3", "name": "Ann", "created": "2026", "skeleton": "ann"})
    with hub_db.read() as db:
        assert [r["id"] for r in db.query("SELECT id FROM people")] == ["p1"]


def test_conflict_clauses_returning_and_json_lists(hub_db: HubDb) -> None:
    with hub_db.transaction() as db:
        db.insert_all("gallery_people", [{"version": "v1", "person_id": "a"}, {"version": "v1", "person_id": "b"}])
        db.insert("gallery_people", {"version": "v1", "person_id": "a"}, ignore=True)
        db.upsert("devices", _device("online"), pk="id")
        db.upsert("devices", _device("offline"), pk="id")
        seq = [
            db.execute(
                "INSERT INTO visitor_deletions (visitor_id, tracks, deleted_at, revoked_galleries) "
                "VALUES (?, ?, ?, '') RETURNING seq",
                [f"v{i}", i, "2026"],
            ).fetchone()[0]
            for i in (1, 2)
        ]
        held = db.execute(
            f"SELECT person_id FROM gallery_people WHERE person_id IN ({db.json_values}) ORDER BY person_id",
            [json.dumps(["b", "z"])],
        ).fetchall()
    assert held == [("b",)]
    assert seq[1] == seq[0] + 1
    with hub_db.read() as db:
        assert db.execute("SELECT state FROM devices").fetchall() == [("offline",)]
        assert db.execute("SELECT COUNT(*) FROM gallery_people").fetchone() == (2,)


def test_blobs_floats_and_flags_come_back_as_stored(hub_db: HubDb) -> None:
    """Embeddings are bytes, qualities 64-bit floats (PostgreSQL's REAL would round them), flags 0/1."""
    embedding = bytes(range(256)) * 2
    with hub_db.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p1', 'Ann', '2026', 'ann')")
        db.execute("INSERT INTO samples VALUES ('s1', 'p1', 's1.jpg', 'photo', 80.5, 0.1234567890123, 30, 0.9, '2026')")
        db.execute("INSERT INTO sample_embeddings VALUES ('s1', 'sface', ?)", [embedding])
        db.insert("visitors", {"id": "v1", "model_id": "sface", "ignored": True, "pinned": False, "created": "x"})
    with hub_db.read() as db:
        assert db.execute("SELECT embedding FROM sample_embeddings").fetchone() == (embedding,)
        assert db.execute("SELECT detector_score FROM samples").fetchone() == (0.1234567890123,)
        assert next(db.query("SELECT ignored, pinned FROM visitors")) == {"ignored": 1, "pinned": 0}


def _device(state: str) -> dict[str, str]:
    return {
        "id": "door-1",
        "state": state,
        "device_group": "default",
        "agent_version": "1",
        "model_id": "sface",
        "model_version": "",
        "gallery_version": "",
        "cameras": "[]",
        "last_seen": "2026",
    }
