"""The retained queue behind the hub's own messages: latest payload per topic, bounded in flight, a refused
publish tried again."""

from __future__ import annotations

import threading

from hub.fleet.retained_queue import RetainedQueue
from tooling.sim.procs import wait_for


class Link:
    """The MQTT link at the network edge: refuses the first `refuse` publishes (its queue full), then takes
    each and holds it unacknowledged until `ack_all`."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, bytes]] = []
        self.unacked: list[int] = []
        self.lock = threading.Lock()

    def send(self, topic: str, payload: bytes) -> int | None:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return None
            self.sent.append((topic, payload))
            self.unacked.append(len(self.sent))
            return len(self.sent)

    def ack_all(self, queue: RetainedQueue) -> None:
        with self.lock:
            mids, self.unacked = self.unacked, []
        for mid in mids:
            queue.acked(mid)


def test_latest_payload_per_topic_bounded_in_flight_and_refusals_tried_again() -> None:
    link = Link(refuse=1)
    queue = RetainedQueue(link.send, max_inflight=2)
    for topic, payload in (("a", b"1"), ("b", b"1"), ("a", b"2"), ("c", b"1"), ("d", b"1"), ("b", b"")):
        queue.put(topic, payload)  # "a" replaced before it went out; "b" removed (an empty payload) goes last
    queue.start()
    try:
        wait_for(lambda: len(link.sent) == 2, "two messages in flight", 10, every_s=0.01)
        assert queue.pending() == 4  # two waiting for their acknowledgement, two for room
        link.ack_all(queue)
        wait_for(lambda: len(link.sent) == 4, "the rest", 10, every_s=0.01)
        assert link.sent == [("a", b"2"), ("c", b"1"), ("d", b"1"), ("b", b"")]
        assert (queue.counts.refused, queue.counts.replaced, queue.counts.sent) == (1, 2, 4)
    finally:
        queue.stop()
