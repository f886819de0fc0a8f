"""The hub's recent-events store: bounded, deduplicated by event_id (refused payloads: test_intake.py beside it)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from facefleet.wire import TrackEvent
from hub.fleet.events import RecentEvents


def event(n: int, device: str = "edge-1") -> TrackEvent:
    now = datetime.now(timezone.utc)
    return TrackEvent(
        event_id=f"event-{n:04d}",
        seq=n,
        type="track_started",
        device_id=device,
        camera="cam",
        track_id=n,
        ts=now,
        started_at=now,
    )


def test_newest_first_bounded_and_deduplicated() -> None:
    store = RecentEvents(capacity=3, seen_capacity=10)
    for n in range(1, 6):
        assert store.add(event(n))
    assert not store.add(event(5))  # a QoS 1 repeat
    assert [e.seq for e in store.recent()] == [5, 4, 3]
    assert [e.seq for e in store.recent(limit=1)] == [5]
    counts = store.snapshot_counts()
    assert (counts.received, counts.duplicates, counts.by_device) == (5, 1, {"edge-1": 5})


def test_filters_by_device() -> None:
    store = RecentEvents()
    assert store.add(event(1, "edge-1")) and store.add(event(2, "edge-2"))
    assert [e.device_id for e in store.recent(device_id="edge-2")] == ["edge-2"]


def test_bad_capacities_are_refused() -> None:
    with pytest.raises(ValueError):
        RecentEvents(capacity=0)
