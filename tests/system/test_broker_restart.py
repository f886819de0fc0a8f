"""Broker killed and restarted while two agent processes publish: every event arrives, none twice by id.

The hub process subscribes too; its live view (`GET /api/events/recent`, and the page in headless Chromium)
ends up with exactly the events the agents sent.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from tests.edge.conftest import Subscriber
from tests.system.conftest import System

AGENTS = ("edge-1", "edge-2")


def ended(sub: Subscriber) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for event in sub.json("/events"):
        counts[event["device_id"]] += event["type"] == "track_ended"
    return counts


def sessions_saved(log: str) -> bool:
    """True when an autosave line comes after the last client connected (subscriber and both agents)."""
    lines = log.splitlines()
    connected = [i for i, line in enumerate(lines) if "New client connected" in line]
    clients = {c for c in ("system-test-subscriber", *(f"facefleet-edge-{d}" for d in AGENTS))
               if any(c in lines[i] for i in connected)}
    if len(clients) < 1 + len(AGENTS):
        return False
    return any("Saving in-memory database" in line for line in lines[connected[-1]:])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_broker_killed_while_agents_publish(fleet: System, people_clip: Path) -> None:
    fleet.start_broker()
    api = fleet.start_hub()
    sub = Subscriber(fleet.mqtt_port, topic="facefleet/+/events", client_id="system-test-subscriber")
    try:
        for device_id in AGENTS:
            fleet.start_agent(device_id, people_clip, mqtt={"reconnect_min_s": 1, "reconnect_max_s": 2})
        sub.wait_for(lambda s: len(s.json("/events")) >= 1, 120, "the first event")
        # A SIGKILL loses what the broker has not saved, and a subscriber whose session is lost misses what the
        # agents send before it is back: kill right after an autosave that follows every client's connect.
        wait_until(lambda: sessions_saved(fleet.procs.log_text("mosquitto")), 20, "the broker to save sessions")
        fleet.kill("mosquitto")  # mid-clip: the agents keep detecting and queue in their outboxes
        before_kill = len(sub.json("/events"))
        time.sleep(3)
        fleet.start_broker()
        sub.wait_for(lambda s: all(ended(s)[d] >= 3 for d in AGENTS), 180, "three ended tracks per agent")
        time.sleep(2)  # stragglers: the last events of the clip
        events = sub.json("/events")
        by_id = {e["event_id"]: e for e in events}
        for device_id in AGENTS:
            seqs = sorted(e["seq"] for e in by_id.values() if e["device_id"] == device_id)
            assert seqs == list(range(1, len(seqs) + 1)), f"{device_id}: a gap in {seqs}"
        assert len(by_id) > before_kill
        for device_id in AGENTS:
            log = fleet.procs.log_text(device_id)
            assert "connection lost" in log and log.count("MQTT: connected") >= 2, log[-3000:]

        def hub_has_all() -> bool:
            counts = api.get("/api/events/recent", params={"limit": 1}).json()["counts"]
            return all(counts["by_device"].get(d, 0) == max(
                e["seq"] for e in by_id.values() if e["device_id"] == d) for d in AGENTS)

        deadline = time.monotonic() + 30
        while not hub_has_all():
            assert time.monotonic() < deadline, api.get("/api/events/recent").json()["counts"]
            time.sleep(0.5)
        recent = api.get("/api/events/recent", params={"limit": 1000}).json()
        assert recent["counts"]["malformed"] == 0
        assert {e["event_id"] for e in recent["events"]} == set(by_id)
        assert any(e["best_crop_jpeg_b64"] for e in recent["events"] if e["type"] == "track_ended")
    finally:
        sub.close()
