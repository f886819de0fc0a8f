"""The hub's PostgreSQL connections: kept open between uses, proven alive before each use, made anew after the
server went away (a restart, a failover, a dropped network).

Why a connection is checked before a unit of work and not retried after: a statement that fails once it was
sent may have been committed by the server before the connection died (the answer is what got lost), so
re-running it could store a write twice or apply an update on top of itself. A dead connection found by the
check (`SELECT 1`) has carried nothing of the work yet, so replacing it is always safe. While the server is
down, the pool keeps trying to connect (100 ms, doubling to 1 s between tries) until `connect_timeout_s` has
passed, then raises `StoreUnavailable`.

psycopg_pool would do the same with a background thread per pool; the hub's store is used under one lock
(`hub.db.HubDb`), one unit of work at a time, so a list of idle connections is all the pooling it needs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)
FIRST_RETRY_S = 0.1
MAX_RETRY_S = 1.0


class StoreUnavailable(Exception):
    """The database server cannot be reached, or the connection died under a statement (whose outcome is then
    unknown: it was not retried). The caller's work did not complete; the next unit of work reconnects."""


@dataclass
class PoolCounts:
    """What an operator watches: connections made after the first, and units of work refused while the server
    was unreachable."""

    reconnects: int = 0
    unavailable: int = 0


class ConnectionPool:
    """Idle autocommit connections to one PostgreSQL database, at most `max_idle` kept."""

    def __init__(self, url: str, connect_timeout_s: float = 10.0, max_idle: int = 2) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.max_idle = max_idle
        self.counts = PoolCounts()
        self._idle: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self._connected_once = False
        self._closed = False
        self.release(self.acquire())  # a wrong URL or a server that is not there fails at start, not later

    def acquire(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection that just answered `SELECT 1`: an idle one, else a new one (retried until
        `connect_timeout_s`). Raises `StoreUnavailable` when none could be made in that time."""
        while (conn := self._pop_idle()) is not None:
            if _alive(conn):
                return conn
            log.warning("PostgreSQL connection found dead; connecting again")
            _close_quietly(conn)
        return self._connect()

    def release(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Give a connection back: kept when healthy, idle (no transaction open) and there is room."""
        from psycopg.pq import TransactionStatus

        healthy = not conn.broken and not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if healthy and not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)

    def _pop_idle(self) -> psycopg.Connection[tuple[Any, ...]] | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        deadline = time.monotonic() + self.connect_timeout_s
        pause_s = FIRST_RETRY_S
        while True:
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s)))
            except psycopg.OperationalError as exc:
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    self.counts.unavailable += 1
                    raise StoreUnavailable(f"PostgreSQL unreachable for {self.connect_timeout_s:g} s: {exc}") from exc
                time.sleep(min(pause_s, left_s))
                pause_s = min(2 * pause_s, MAX_RETRY_S)
                continue
            if self._connected_once:
                self.counts.reconnects += 1
                log.info("PostgreSQL connection made again (%d reconnects)", self.counts.reconnects)
            self._connected_once = True
            return conn


def _alive(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    import psycopg

    if conn.closed or conn.broken:
        return False
    try:
        conn.execute("SELECT 1").fetchall()
    except psycopg.Error:
        return False
    return True


def _close_quietly(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    try:
        conn.close()
    except Exception:  # a dead connection may fail to say goodbye; it is gone either way
        log.debug("closing a dead PostgreSQL connection failed", exc_info=True)
