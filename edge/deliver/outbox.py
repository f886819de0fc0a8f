"""A durable, bounded outbox of MQTT messages in SQLite: events are stored before they are sent.

The frame loop appends; the MQTT link reads pending rows in `seq` order and deletes a row only when the
broker acknowledged it (PUBACK). A broker or network outage, or a restart, loses nothing. Past
`max_events` pending rows the oldest are dropped and counted (the count survives restarts too), so a
long outage cannot fill the disk.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('dropped', 0);
"""


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    event_id: str
    topic: str
    payload: bytes


class Outbox:
    """Thread-safe SQLite queue. `append` from the producer, `pending`/`ack` from the sender."""

    def __init__(self, path: Path, max_events: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("PRAGMA secure_delete=ON")  # a delivered row (its face crop) is zeroed, not left in free pages
        self._db.executescript(_SCHEMA)
        self.notify: Callable[[], None] = lambda: None  # set by the sender to wake up on new rows

    def append(self, topic: str, render: Callable[[int, str], bytes], stream: str = "events") -> int:
        """Store one message; `render(number, event_id)` makes its payload. Returns the number.

        Rows go out in one order (the row `seq`), but each stream numbers its own messages 1, 2, 3, ...
        so that a gap in the events' numbers means a lost event, not an update report in between.
        """
        event_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO outbox (event_id, topic, payload) VALUES (?, ?, x'')", (event_id, topic)
                )
                seq = int(cur.lastrowid or 0)
                number = self._next_number(stream)
                payload = render(number, event_id)
                self._db.execute("UPDATE outbox SET payload = ? WHERE seq = ?", (payload, seq))
                self._trim()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self.notify()
        return number

    def _next_number(self, stream: str) -> int:
        name = f"seq:{stream}"
        self._db.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (name,))
        self._db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (name,))
        return int(self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    def _trim(self) -> None:
        (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = count - self.max_events
        if excess > 0:
            self._db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,))
            self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (excess,))

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Unacknowledged rows with seq > after_seq, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxRow(int(s), e, t, bytes(p)) for s, e, t, p in rows]

    def ack(self, seq: int) -> None:
        """The broker has the message: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def drop(self, seq: int) -> None:
        """Give up on a row the broker keeps refusing; it counts as dropped."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (cur.rowcount,))

    @property
    def backlog(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    @property
    def dropped(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
