"""A broker outage mid-run: every event still arrives, in order, and no event id twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from edge.app import EdgeApp
from edge.deliver.outbox import Outbox
from tests.edge.conftest import Subscriber, agent_config, ended_count
from tests.edge.scenes import Segment

pytestmark = pytest.mark.slow


def test_broker_stopped_and_restarted_loses_nothing(
    tmp_path: Path, broker: Any, subscriber: Subscriber, gallery_file: Path, people_video: tuple[Path, list[Segment]]
) -> None:
    video, segments = people_video
    camera = {"name": "door", "source": {"type": "file", "path": str(video), "pacing": "every_frame"}}
    app = EdgeApp(agent_config(tmp_path, broker.port, [camera], gallery_path=str(gallery_file)))
    app.start()
    try:
        subscriber.wait_for(lambda s: len(s.json("/events")) >= 1, 60, "the first event")
        broker.stop()
        time.sleep(6)  # the agent keeps detecting; its events wait in the outbox
        assert not app.link.connected
        assert app.outbox.backlog > 0, "events were produced during the outage"
        broker.start()
        subscriber.wait_for(lambda s: ended_count(s) >= len(segments), 120, "all track_ended events")
        subscriber.wait_for(lambda s: app.outbox.backlog == 0, 10, "the outbox to drain")
    finally:
        app.stop()

    events = subscriber.json("/events")
    unique: dict[str, dict[str, Any]] = {}
    for event in events:
        unique.setdefault(event["event_id"], event)
    seqs = [e["seq"] for e in unique.values()]
    assert sorted(seqs) == list(range(1, max(seqs) + 1)), "no event lost"
    assert seqs == sorted(seqs), "delivered in order"
    assert len({e["seq"] for e in unique.values()}) == len(unique), "one id per event"
    assert len(events) - len(unique) <= 20, "repeats only of the few in flight at the outage"
    assert sum(e["type"] == "track_started" for e in unique.values()) == len(segments)


def test_outbox_is_bounded_and_counts_what_it_drops(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_events=10)
    for _ in range(25):
        outbox.append("t", lambda seq, eid: f"{seq}:{eid}".encode())
    pending = outbox.pending(limit=100)
    assert [r.seq for r in pending] == list(range(16, 26)), "oldest dropped, newest kept"
    assert outbox.dropped == 15
    outbox.ack(16)
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db", max_events=10)
    assert reopened.dropped == 15 and reopened.backlog == 9, "survives a restart"
    assert reopened.append("t", lambda seq, eid: b"x") == 26, "seq never reused"
    assert reopened.append("u", lambda seq, eid: b"y", stream="updates") == 1, "each stream numbers its own"
    assert reopened.append("t", lambda seq, eid: b"x") == 27
    reopened.close()


def test_a_dropped_row_is_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_events=10)
    seq = outbox.append("t", lambda seq, eid: b"x")
    outbox.drop(seq)
    outbox.drop(seq)  # already gone: not counted twice
    assert outbox.backlog == 0 and outbox.dropped == 1
    outbox.close()
