"""A device connecting with the hub's client id cannot kick the hub, and no event is lost from an outbox.

Real broker with the shipped config, the hub process and an agent process publishing while edge-2's
credentials connect again and again as `facefleet-hub` with a clean start (which, if it worked, would
throw the hub off and delete its session, so events published then would be acknowledged to nobody).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import BrokerClient
from tests.system.conftest import System
from tooling.sim.broker import HUB_USER

ATTEMPTS = 4


def hub_seqs(fleet: System, device_id: str) -> set[int]:
    assert fleet.api is not None
    events = fleet.api.get("/api/events/recent", params={"limit": 1000, "device_id": device_id}).json()["events"]
    return {e["seq"] for e in events}


def left_in_outbox(state_dir: Path) -> set[int]:
    with sqlite3.connect(state_dir / "outbox.db") as db:
        rows = db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/events'").fetchall()
    return {json.loads(payload)["seq"] for (payload,) in rows}


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_device_cannot_take_the_hubs_client_id(fleet: System, people_clip: Path) -> None:
    fleet.start_broker()
    fleet.start_hub(live_events=5000)
    fleet.start_agent(
        "edge-1",
        people_clip,
        mqtt={"reconnect_min_s": 1, "reconnect_max_s": 2},
        cameras=[
            {
                "name": "stage",
                "source": {"type": "file", "path": str(people_clip), "loop": True, "pacing": "every_frame"},
            }
        ],
    )
    wait_until(lambda: len(hub_seqs(fleet, "edge-1")) >= 1, 180, "the first event at the hub")
    for _ in range(ATTEMPTS):  # each time, stay until the agent has published two more events
        seen = len(hub_seqs(fleet, "edge-1")) + len(left_in_outbox(fleet.workdir / "edge-1"))
        intruder = BrokerClient(fleet.broker, "edge-2", client_id=HUB_USER, tls=True)
        assert intruder.accepted
        intruder.send("facefleet/edge-2/status", b"")  # a round trip: the broker has done the connect
        wait_until(
            lambda s=seen: len(hub_seqs(fleet, "edge-1")) + len(left_in_outbox(fleet.workdir / "edge-1")) >= s + 2,
            120,
            "two more events while the intruder is connected",
        )
        intruder.close()
    fleet.procs.stop("edge-1")  # SIGTERM: delivers what it can, keeps the rest in its outbox

    def accounted() -> bool:
        both = hub_seqs(fleet, "edge-1") | left_in_outbox(fleet.workdir / "edge-1")
        return both == set(range(1, max(both) + 1))

    wait_until(accounted, 60, "every event at the hub or still in the agent's outbox")
    hub_log = fleet.procs.log_text("hub")
    assert "MQTT disconnected" not in hub_log, hub_log[-3000:]
    assert hub_log.count("MQTT connected") == 1, hub_log[-3000:]
