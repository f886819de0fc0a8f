"""`facefleet-hub migrate`: the SQLite library of a hub copied into PostgreSQL, then checked row for row.

Both stores are brought to the same schema by the hub's own migrations (`hub.db.MIGRATIONS`), so the copy is
table by table and column by column, parents before the tables whose foreign keys name them, in ONE
transaction on the target: a copy that fails or does not verify leaves the target as it was. The check reads
every table back from both sides in that transaction and compares its row count and a digest of its rows
(`table_digest`), so a value that PostgreSQL would have stored differently (a float in an integer column,
rounded) is caught before anything is committed.

Files are not moved: sample crops, artifacts and track crops stay in `data_dir`, which the hub on PostgreSQL
keeps using; the rows name them relative to it. The SQLite file is left as it was (a way back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.db import HubDb
from hub.store import Store

BATCH_ROWS = 500
SKIPPED_TABLES = ("_migrations",)  # each store records its own migrations; the names are compared instead


class MoveRefused(ValueError):
    """The copy was not made (or not committed): the target holds rows, the schemas differ, or it did not
    verify. Says what to do."""


@dataclass(frozen=True)
class TableCopy:
    """One table as copied: rows, and the sha256 of its rows in a canonical order (equal on both sides)."""

    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class MoveReport:
    tables: tuple[TableCopy, ...]

    def lines(self) -> list[str]:
        total = sum(t.rows for t in self.tables)
        return [
            *(f"{t.name:<20} {t.rows:>9} rows  sha256 {t.sha256[:16]}  verified" for t in self.tables),
            f"{len(self.tables)} tables, {total} rows copied and verified (counts and row digests)",
        ]


def move_library(
    sqlite_path: Path, target_url: str, replace: bool = False, connect_timeout_s: float = 10.0
) -> MoveReport:
    """Copy the library in `sqlite_path` into the PostgreSQL database at `target_url`.

    replace: empty a target that holds rows first (otherwise such a target is refused, untouched).
    Raises `MoveRefused` with the reason; `StoreUnavailable` when the server cannot be reached.
    """
    if not sqlite_path.is_file():
        raise MoveRefused(f"no SQLite library at {sqlite_path} (data_dir of the config)")
    source, target = HubDb(sqlite_path), HubDb(target_url, connect_timeout_s)
    try:
        source.migrate()  # as the hub does at its start: both sides on the same schema
        target.migrate()
        with source.transaction() as src, target.transaction() as dst:  # one snapshot read, one commit
            tables = _tables_in_order(src)
            _check_schemas(src, dst, tables)
            _empty(dst, tables, replace)
            for table, columns in tables.items():
                _copy_table(src, dst, table, columns)
            _advance_identities(dst, tables)
            return MoveReport(tuple(_verify(src, dst, table, columns) for table, columns in tables.items()))
    finally:
        source.close()
        target.close()


def _tables_in_order(src: Store) -> dict[str, list[str]]:
    """Every table of the SQLite store with its columns, each after the tables its foreign keys name."""
    names = [
        r[0]
        for r in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]
    parents = {n: {r[2] for r in src.execute(f"PRAGMA foreign_key_list({n})")} - {n} for n in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise MoveRefused(f"foreign keys form a cycle among {sorted(set(names) - set(ordered))}")
        ordered += ready
    return {n: [r[1] for r in src.execute(f"PRAGMA table_info({n})")] for n in ordered if n not in SKIPPED_TABLES}


def _check_schemas(src: Store, dst: Store, tables: dict[str, list[str]]) -> None:
    """The same migrations applied, and every table with the same columns on both sides."""
    applied = {r[0] for r in src.execute("SELECT name FROM _migrations")}
    if applied != {r[0] for r in dst.execute("SELECT name FROM _migrations")}:
        raise MoveRefused("the two stores have different migrations applied: run the same hub version on both")
    for table, columns in tables.items():
        found = [
            r[0]
            for r in dst.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ?",
                [table],
            )
        ]
        if sorted(found) != sorted(columns):
            raise MoveRefused(f"table {table}: columns {sorted(columns)} in SQLite, {sorted(found)} in PostgreSQL")


def _empty(dst: Store, tables: dict[str, list[str]], replace: bool) -> None:
    held = {t: dst.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    held = {t: n for t, n in held.items() if n}
    if held and not replace:
        listed = ", ".join(f"{t} {n}" for t, n in held.items())
        raise MoveRefused(
            f"the target database holds rows ({listed}): nothing copied; pass --replace to empty "
            "it first, or name an empty database"
        )
    for table in reversed(list(tables)):  # children before the parents their foreign keys name
        dst.execute(f"DELETE FROM {table}")


def _copy_table(src: Store, dst: Store, table: str, columns: list[str]) -> None:
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for batch in _batches(src, table, columns):
        dst.executemany(insert, batch)


def _batches(src: Store, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a SQLite table in rowid order, BATCH_ROWS at a time (a large library is not read whole)."""
    last = -(2**63)
    while True:
        rows = src.execute(
            f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT {BATCH_ROWS}", [last]
        ).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [tuple(r[1:]) for r in rows]


def _advance_identities(dst: Store, tables: dict[str, list[str]]) -> None:
    """Identity columns (`person_deletions.seq`, ...) continue after the copied values, not from 1."""
    for table, columns in tables.items():
        for column in columns:
            sequence = dst.execute("SELECT pg_get_serial_sequence(?, ?)", [table, column]).fetchone()[0]
            if sequence is not None:
                dst.execute(
                    f"SELECT setval(?, (SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)", [sequence]
                )


def _verify(src: Store, dst: Store, table: str, columns: list[str]) -> TableCopy:
    select = f"SELECT {', '.join(columns)} FROM {table}"
    rows, digest = table_digest(src.execute(select).fetchall())
    copied_rows, copied_digest = table_digest(dst.execute(select).fetchall())
    if (rows, digest) != (copied_rows, copied_digest):
        raise MoveRefused(
            f"table {table} did not verify ({rows} rows in SQLite, {copied_rows} in PostgreSQL, "
            f"digests {digest[:16]} and {copied_digest[:16]}): nothing committed"
        )
    return TableCopy(table, rows, digest)


def table_digest(rows: Iterable[tuple[Any, ...]]) -> tuple[int, str]:
    """(row count, sha256 hex) of a table's rows in a canonical order: each row's values encoded with their
    kind (integer, float bits, text, bytes, NULL), the rows' own digests sorted, so neither the engines'
    row order nor their collation matters, and 1 and 1.0 or '1' differ."""
    digests = sorted(hashlib.sha256(b"".join(_encoded(v) for v in row)).digest() for row in rows)
    return len(digests), hashlib.sha256(b"".join(digests)).hexdigest()


def _encoded(value: Any) -> bytes:
    if value is None:
        kind, data = b"n", b""
    elif isinstance(value, int):
        kind, data = b"i", str(value).encode()
    elif isinstance(value, float):
        kind, data = b"f", value.hex().encode()
    elif isinstance(value, str):
        kind, data = b"s", value.encode()
    elif isinstance(value, bytes | memoryview):
        kind, data = b"b", bytes(value)
    else:
        raise MoveRefused(f"a value of type {type(value).__name__} has no canonical form")
    return kind + len(data).to_bytes(8, "big") + data
