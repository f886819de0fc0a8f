"""The PostgreSQL store's pool (`hub.pg_pool`) against a real server that is restarted and whose backends are
killed: what was committed stays, the same store serves again without being reopened, and a statement whose
connection died is raised (`StoreUnavailable`), re-run only when it reads."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from hub.db import HubDb
from hub.pg_pool import StoreUnavailable
from hub.store import PostgresStore
from tests.postgres import PostgresServer


@pytest.fixture
def hub_db(own_postgres: PostgresServer) -> Iterator[HubDb]:
    url = own_postgres.new_database()
    hub_db = HubDb(url, connect_timeout_s=30)
    hub_db.migrate()
    yield hub_db
    hub_db.close()
    own_postgres.drop_database(url)


def reconnects(hub_db: HubDb) -> int:
    assert isinstance(hub_db.db, PostgresStore)
    return hub_db.db.pool.counts.reconnects


def people(hub_db: HubDb) -> list[str]:
    with hub_db.read() as db:
        return [row[0] for row in db.execute("SELECT id FROM people ORDER BY id").fetchall()]


def add_person(hub_db: HubDb, person_id: str) -> None:
    with hub_db.transaction() as db:
        db.execute("INSERT INTO people VALUES (?, ?, '2026', ?)", [person_id, person_id.upper(), person_id])


def test_a_server_restart_keeps_what_was_committed_and_the_same_store_serves_again(
    hub_db: HubDb, own_postgres: PostgresServer
) -> None:
    add_person(hub_db, "p1")
    own_postgres.stop_server()
    own_postgres.start_server()
    assert people(hub_db) == ["p1"]  # the idle connection failed its check and was replaced
    add_person(hub_db, "p2")
    assert people(hub_db) == ["p1", "p2"]
    assert reconnects(hub_db) == 1


def test_a_server_that_stays_away_fails_the_work_after_the_timeout_and_is_used_again_when_back(
    own_postgres: PostgresServer,
) -> None:
    url = own_postgres.new_database()
    hub_db = HubDb(url, connect_timeout_s=0.5)
    hub_db.migrate()
    own_postgres.stop_server()
    try:
        with pytest.raises(StoreUnavailable, match="unreachable"):
            add_person(hub_db, "p1")
    finally:
        own_postgres.start_server()
    add_person(hub_db, "p2")
    assert people(hub_db) == ["p2"]
    assert isinstance(hub_db.db, PostgresStore) and hub_db.db.pool.counts.unavailable == 1
    hub_db.close()
    own_postgres.drop_database(url)


def test_a_connection_killed_inside_a_transaction_raises_and_leaves_nothing(
    hub_db: HubDb, own_postgres: PostgresServer
) -> None:
    with pytest.raises(StoreUnavailable, match="outcome is unknown"), hub_db.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p1', 'P1', '2026', 'p1')")
        pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(own_postgres.url("postgres"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        db.execute("INSERT INTO people VALUES ('p2', 'P2', '2026', 'p2')")
    assert people(hub_db) == []  # the server rolled the transaction back with its session
    add_person(hub_db, "p3")
    assert people(hub_db) == ["p3"]


@pytest.mark.parametrize(
    ("sql", "tries"),
    [
        # a read outside a transaction: run again once on a new connection (which it kills too)
        ("SELECT pg_terminate_backend(pg_backend_pid())", 2),
        # a write outside a transaction: never run again (it may have been committed)
        ("INSERT INTO people SELECT 'p9', 'P9', '2026', 'p9' WHERE pg_terminate_backend(pg_backend_pid())", 1),
    ],
)
def test_a_statement_whose_connection_dies_is_retried_only_when_it_reads(hub_db: HubDb, sql: str, tries: int) -> None:
    before = reconnects(hub_db)
    with pytest.raises(StoreUnavailable), hub_db.read() as db:
        db.execute(sql)
    assert people(hub_db) == []
    assert reconnects(hub_db) - before == tries  # one new connection per try, made by the try after it
