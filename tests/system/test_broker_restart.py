"""Broker killed and restarted while two agent processes publish: every event arrives, none twice by id.

The kill point is a condition, not a time: the agents loop their clip, the broker dies once each agent has
delivered a known number of events (and the broker has saved every session), and it comes back only when
each agent has events waiting in its outbox. The hub process subscribes too; its live view
(`GET /api/events/recent`) ends up with exactly the events the agents delivered, and what an agent had not
delivered when it stopped is still in its outbox: nothing is lost in between.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.edge.conftest import Subscriber
from tests.system.conftest import System
from tooling.sim.broker import HUB_USER
from tooling.sim.procs import free_port

AGENTS = ("edge-1", "edge-2")
DELIVERED_BEFORE_KILL = 3  # events each agent has delivered when the broker dies
QUEUED_DURING_OUTAGE = 2  # events each agent holds in its outbox before the broker comes back


def seqs_seen(sub: Subscriber, device_id: str) -> set[int]:
    return {e["seq"] for e in sub.json("/events") if e["device_id"] == device_id}


def backlog(metrics_url: str) -> float:
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.HTTPError:
        return 0.0
    match = re.search(r"^facefleet_edge_outbox_backlog (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def left_in_outbox(state_dir: Path) -> set[int]:
    """Event numbers an agent (stopped) still holds: not yet acknowledged by the broker."""
    with sqlite3.connect(state_dir / "outbox.db") as db:
        rows = db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/events'").fetchall()
    return {json.loads(payload)["seq"] for (payload,) in rows}


def sessions_saved(log: str) -> bool:
    """True when an autosave line comes after the last client connected (hub, observer and both agents)."""
    lines = log.splitlines()
    connected = [i for i, line in enumerate(lines) if "New client connected" in line]
    clients = {c for c in (HUB_USER, "observer-1", *AGENTS) if any(f" as {c} " in lines[i] for i in connected)}
    if len(clients) < 2 + len(AGENTS):
        return False
    return any("Saving in-memory database" in line for line in lines[connected[-1] :])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_broker_killed_while_agents_publish(fleet: System, people_clip: Path) -> None:
    fleet.start_broker()
    api = fleet.start_hub(live_events=5000)
    sub = fleet.subscriber("facefleet/+/events")
    ports = {d: free_port() for d in AGENTS}
    metrics = {d: f"http://127.0.0.1:{port}/metrics" for d, port in ports.items()}
    try:
        for device_id in AGENTS:
            fleet.start_agent(
                device_id,
                people_clip,
                mqtt={"reconnect_min_s": 1, "reconnect_max_s": 2},
                http={"port": ports[device_id]},
                cameras=[
                    {
                        "name": "stage",
                        "source": {"type": "file", "path": str(people_clip), "loop": True, "pacing": "every_frame"},
                    }
                ],
            )
        wait_until(
            lambda: all(len(seqs_seen(sub, d)) >= DELIVERED_BEFORE_KILL for d in AGENTS),
            180,
            f"{DELIVERED_BEFORE_KILL} events from each agent",
        )
        # A SIGKILL loses what the broker has not saved: kill right after an autosave that covers every session.
        wait_until(lambda: sessions_saved(fleet.procs.log_text("mosquitto")), 20, "the broker to save sessions")
        fleet.kill("mosquitto")
        before_kill = {d: len(seqs_seen(sub, d)) for d in AGENTS}
        wait_until(
            lambda: all(backlog(metrics[d]) >= QUEUED_DURING_OUTAGE for d in AGENTS),
            180,
            "events queued in every outbox while the broker is down",
        )
        fleet.start_broker()
        wait_until(
            lambda: all(len(seqs_seen(sub, d)) >= before_kill[d] + QUEUED_DURING_OUTAGE for d in AGENTS),
            120,
            "the queued events after the restart",
        )
        for device_id in AGENTS:
            fleet.procs.stop(device_id)  # SIGTERM: ends its tracks, delivers what it can in 3 s, keeps the rest

        def accounted(device_id: str) -> bool:
            """Delivered and left in the outbox together are 1..N: not one event lost."""
            both = seqs_seen(sub, device_id) | left_in_outbox(fleet.workdir / device_id)
            return both == set(range(1, max(both) + 1))

        wait_until(lambda: all(accounted(d) for d in AGENTS), 60, "every event delivered or still in its outbox")
        by_id = {e["event_id"]: e for e in sub.json("/events")}
        for device_id in AGENTS:
            seqs = sorted(seqs_seen(sub, device_id))
            assert seqs == list(range(1, len(seqs) + 1)), f"{device_id}: a gap in {seqs}"
            assert len(seqs) >= before_kill[device_id] + QUEUED_DURING_OUTAGE  # published across the outage
            log = fleet.procs.log_text(device_id)
            assert "connection lost" in log and log.count("MQTT: connected") >= 2, log[-3000:]

        def hub_has_all() -> bool:
            counts = api.get("/api/events/recent", params={"limit": 1}).json()["counts"]
            return all(counts["by_device"].get(d, 0) == len(seqs_seen(sub, d)) for d in AGENTS)

        wait_until(hub_has_all, 30, "the hub to hold what the observer saw")
        recent = api.get("/api/events/recent", params={"limit": 1000}).json()
        assert recent["counts"]["malformed"] == 0
        assert {e["event_id"] for e in recent["events"]} == set(by_id)
        assert any(e["best_crop_jpeg_b64"] for e in recent["events"] if e["type"] == "track_ended")
    finally:
        sub.close()
