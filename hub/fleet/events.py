"""Recent track events for the live view: a bounded ring buffer, deduplicated by `event_id`.

Plain code (no paho, no FastAPI): the MQTT link hands it events already checked against their topic
(`hub.fleet.intake`, which counts the refused ones), the API reads from it. QoS 1 is
at-least-once, so a repeat of an `event_id` already seen is counted and dropped. The set of seen ids is
bounded too (oldest forgotten first); `seen_capacity` trades memory (about 100 bytes an id) against how
far back a late duplicate is still recognised.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from facefleet.wire import TrackEvent


@dataclass
class EventCounts:
    """Totals since the hub started: unique events kept, repeats dropped."""

    received: int = 0
    duplicates: int = 0
    by_device: dict[str, int] = field(default_factory=dict)


class RecentEvents:
    def __init__(self, capacity: int = 200, seen_capacity: int = 200_000) -> None:
        if capacity < 1 or seen_capacity < capacity:
            raise ValueError("need capacity >= 1 and seen_capacity >= capacity")
        self._events: deque[TrackEvent] = deque(maxlen=capacity)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_capacity = seen_capacity
        self._lock = threading.Lock()
        self.counts = EventCounts()

    def add(self, event: TrackEvent) -> bool:
        """Keep `event` unless its id was seen; True when kept."""
        with self._lock:
            if event.event_id in self._seen:
                self.counts.duplicates += 1
                return False
            self._seen[event.event_id] = None
            if len(self._seen) > self._seen_capacity:
                self._seen.popitem(last=False)
            self._events.append(event)
            self.counts.received += 1
            self.counts.by_device[event.device_id] = self.counts.by_device.get(event.device_id, 0) + 1
            return True

    def forget_person(self, person_id: str) -> int:
        """Drop the kept events that named a deleted person (their name and best crop); returns how many."""
        with self._lock:
            kept = [e for e in self._events if e.person_id != person_id]
            dropped = len(self._events) - len(kept)
            self._events = deque(kept, maxlen=self._events.maxlen)
        return dropped

    def recent(self, limit: int = 50, device_id: str | None = None) -> list[TrackEvent]:
        """Newest first, at most `limit`."""
        with self._lock:
            events = [e for e in reversed(self._events) if device_id is None or e.device_id == device_id]
        return events[:limit]

    def snapshot_counts(self) -> EventCounts:
        with self._lock:
            c = self.counts
            return EventCounts(c.received, c.duplicates, dict(c.by_device))


@dataclass(frozen=True)
class EventRoute:
    """A track event from MQTT, checked against its topic: the live view keeps it (dropping repeats), then
    each follower gets a new one (the visitor intake's thread, Home Assistant)."""

    events: RecentEvents
    followers: tuple[Callable[[TrackEvent], object], ...]

    def __call__(self, event: TrackEvent) -> None:
        if self.events.add(event):
            for follower in self.followers:
                follower(event)


@dataclass(frozen=True)
class LiveViewFollower:
    """The live view's recent events forget a deleted person (events that carried their name and face)."""

    events: RecentEvents

    def person_changed(self, person_id: str) -> None:
        """The events keep the name the agent reported: nothing to do."""

    def samples_removed(self, sample_ids: list[str]) -> None:
        """Nothing to do."""

    def person_removed(self, person_id: str) -> None:
        self.events.forget_person(person_id)
