"""Retained messages that may wait (Home Assistant's discovery configs and states), sent behind the hub's own.

A view's messages must never hold up an update announcement: they wait here, the latest payload per topic
(a newer one replaces one not sent yet; topics go out in the order they first came), and one thread hands
them to the MQTT link with at most `max_inflight` of them unacknowledged at a time. The link's own queue then
never holds more than that many of them ahead of an announcement, however many a flood of statuses asks for.
A publish the link refuses (its queue full) stays here and is tried again; refusals and messages dropped
past `max_pending` topics are counted.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
Send = Callable[[str, bytes], int | None]
"""Publish retained at QoS 1: the message id once the link took it, None when it refused it."""
RETRY_S = 1.0
STALE_S = 30.0  # no acknowledgement for this long (a link that lost its session): stop waiting for those


@dataclass
class QueueCounts:
    """Since start: messages handed to the link, refused by it (and tried again), replaced by a newer payload
    of their topic before they went out, dropped past `max_pending`, never acknowledged within STALE_S."""

    sent: int = 0
    refused: int = 0
    replaced: int = 0
    dropped: int = 0
    unacknowledged: int = 0


class RetainedQueue:
    def __init__(self, send: Send, max_inflight: int = 8, max_pending: int = 100_000) -> None:
        """max_inflight: messages of this queue unacknowledged at once (what an announcement can find ahead of
        it in the link); max_pending: topics waiting at most (each a few hundred bytes)."""
        self._send = send
        self.max_inflight = max_inflight
        self.max_pending = max_pending
        self.counts = QueueCounts()
        self._pending: OrderedDict[str, bytes] = OrderedDict()
        self._inflight: set[int] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="retained-queue", daemon=True)

    def put(self, topic: str, payload: bytes) -> None:
        """Queue a retained message; it replaces a payload of the same topic that has not gone out yet, in
        its place (an empty payload, a removal, goes to the end: after what was queued before it)."""
        with self._cond:
            if topic in self._pending:
                self.counts.replaced += 1
            elif len(self._pending) >= self.max_pending:
                self.counts.dropped += 1
                return
            self._pending[topic] = payload
            if not payload:
                self._pending.move_to_end(topic)
            self._cond.notify_all()

    def acked(self, mid: int) -> None:
        """The link's acknowledgement of a message id (any message's: ids not sent from here are ignored)."""
        with self._cond:
            if mid in self._inflight:
                self._inflight.discard(mid)
                self._cond.notify_all()

    def pending(self) -> int:
        """Messages waiting or unacknowledged."""
        with self._cond:
            return len(self._pending) + len(self._inflight)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the thread (what is still queued is not sent: the hub republishes its view at the next start)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while (item := self._next()) is not None:
            topic, payload = item
            mid = self._send(topic, payload)
            with self._cond:
                if mid is not None:
                    self.counts.sent += 1
                    self._inflight.add(mid)
                    continue
                self.counts.refused += 1
                self._pending.setdefault(topic, payload)  # unless a newer payload came meanwhile
                self._pending.move_to_end(topic, last=False)
                self._cond.wait(RETRY_S)  # the link's queue is full: give it time to drain

    def _next(self) -> tuple[str, bytes] | None:
        """The oldest waiting message once fewer than `max_inflight` are unacknowledged; None when stopping."""
        with self._cond:
            while not self._stopping and (not self._pending or len(self._inflight) >= self.max_inflight):
                if not self._cond.wait(STALE_S) and len(self._inflight) >= self.max_inflight:
                    self.counts.unacknowledged += len(self._inflight)
                    log.warning(
                        "%d retained messages unacknowledged for %.0f s; sending on", len(self._inflight), STALE_S
                    )
                    self._inflight.clear()
            return None if self._stopping else self._pending.popitem(last=False)
