"""A device speaks only for itself: the hub takes its identity from the topic, never from the payload.

The real hub on the real broker with the shipped config, ACL and passwords. With only door-1's
credentials, on door-1's own topics (all the ACL allows), an attacker sends a status, stats, an event and
update states naming other devices, a status for a device that does not exist, and oversized and malformed
payloads; lobby-1 reports on rollouts that never announced to it. Every one is refused and counted, and
nothing about door-2, lobby-1 or a new device changes. door-1's own messages, sent last on the same
topics, still work (and, the topics being ordered, say that everything before them was handled).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from facefleet.wire import DeviceStats, DeviceStatus, UpdateState
from hub.settings import MqttConfig
from models.pipeline import FacePipeline
from tests.conftest import BrokerClient, ShippedBroker
from tests.hub.conftest import HubServer
from tests.hub.edge_device import EdgeDevice
from tests.hub.fleet.unchecked import unchecked_event
from tooling.sim.broker import HUB_USER

NOW = datetime.now(timezone.utc)


def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def status(device_id: str, **fields: object) -> str:
    return DeviceStatus.model_validate({"device_id": device_id, "state": "online", **fields}).model_dump_json()


def event(device_id: str, n: int, crop_bytes: int = 0) -> str:
    return unchecked_event(device_id, n, crop_bytes)


def stats(device_id: str, backlog: int) -> str:
    return DeviceStats(
        device_id=device_id, ts=NOW, cameras={}, active_tracks=0, outbox_backlog=backlog
    ).model_dump_json()


def state(device_id: str, rollout: dict[str, object], value: str = "applied") -> str:
    return UpdateState(
        rollout_id=str(rollout["id"]),
        device_id=device_id,
        kind="gallery",
        version=str(rollout["version"]),
        state=value,
        ts=NOW,
    ).model_dump_json()  # type: ignore[arg-type]


def recent_events(admin: httpx.Client) -> list[dict[str, object]]:
    return list(admin.get("/api/events/recent").json()["events"])


def metrics(hub: HubServer) -> str:
    with hub.client() as client:
        return client.get("/metrics").text


def refused(hub: HubServer) -> dict[tuple[str, str], float]:
    text = metrics(hub)
    pattern = r'^facefleet_hub_mqtt_refused_total\{kind="([^"]+)",reason="([^"]+)"\} (\S+)$'
    return {(k, r): float(v) for k, r, v in re.findall(pattern, text, re.M) if float(v)}


@pytest.fixture
def site(
    start_hub: Callable[..., HubServer], shipped_broker: ShippedBroker, monkeypatch: pytest.MonkeyPatch
) -> HubServer:
    monkeypatch.setenv("FACEFLEET_TEST_HUB_MQTT_PASSWORD", shipped_broker.password(HUB_USER))
    return start_hub(
        mqtt=MqttConfig(
            port=shipped_broker.setup.plain_port, username=HUB_USER, password_env="FACEFLEET_TEST_HUB_MQTT_PASSWORD"
        )
    )


@pytest.fixture
def devices(
    site: HubServer, shipped_broker: ShippedBroker, pipeline: FacePipeline, tmp_path: Path
) -> Iterator[dict[str, EdgeDevice]]:
    """door-2 and lobby-1 online (the agent's own link), silent (they never answer announcements themselves)."""
    fleet = {
        name: EdgeDevice(
            name,
            site,
            shipped_broker.setup.plain_port,
            pipeline,
            tmp_path / "devices",
            group=group,
            password=shipped_broker.password(name),
            silent=True,
        )
        for name, group in (("door-2", "door"), ("lobby-1", "lobby"))
    }
    yield fleet
    for device in fleet.values():
        device.stop()


def test_spoofed_status_event_and_states_are_refused_and_counted(
    site: HubServer,
    shipped_broker: ShippedBroker,
    devices: dict[str, EdgeDevice],
    shared_data: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = site.client(site.admin)
    wait_for(lambda: {d["id"] for d in admin.get("/api/devices").json()} == {"door-2", "lobby-1"}, "devices")
    admin.patch("/api/devices/door-2", json={"group": "door"}).raise_for_status()
    photo = shared_data / "clips/people/obama/obama.jpg"
    admin.post(
        "/api/samples/photos",
        data={"label": "Obama"},
        files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
    ).raise_for_status()
    version = admin.post("/api/galleries").raise_for_status().json()["version"]
    to_door2 = admin.post("/api/rollouts", json={"version": version, "devices": ["door-2"]}).json()
    canary_first = admin.post(
        "/api/rollouts", json={"version": version, "devices": ["door-1", "lobby-1"], "canaries": ["door-1"]}
    ).json()
    attacker = BrokerClient(shipped_broker.setup, "door-1", tls=True)
    lobby = devices["lobby-1"].client
    with caplog.at_level(logging.WARNING, logger="hub.fleet.intake"):
        attacker.send("facefleet/door-1/status", status("door-2", group="evil", gallery_version="spoofed"))
        attacker.send("facefleet/door-1/status", status("ghost-1"))
        attacker.send("facefleet/door-1/status", b'{"device_id": "door-1", "state": "' + b"x" * 200_000 + b'"}')
        attacker.send("facefleet/door-1/status", b"{not json")
        attacker.send("facefleet/door-1/stats", stats("door-2", 99))
        attacker.send("facefleet/door-1/events", event("door-2", 1))
        attacker.send("facefleet/door-1/events", event("door-1", 1, crop_bytes=70_000))  # over 64 KiB decoded
        attacker.send("facefleet/door-1/updates/state", state("door-2", to_door2))
        attacker.send("facefleet/door-1/updates/state", state("lobby-1", canary_first))
        attacker.send("facefleet/door-1/updates/state", b"[]")
        for report in (state("lobby-1", canary_first), state("lobby-1", to_door2)):  # never announced to lobby-1
            lobby.publish("facefleet/lobby-1/updates/state", report, qos=1).wait_for_publish(10)
        # door-1's own messages, on the same topics: the hub has handled everything above once these show.
        attacker.send("facefleet/door-1/status", status("door-1", group="door", cameras=["front"]))
        attacker.send("facefleet/door-1/stats", stats("door-1", 7))
        attacker.send("facefleet/door-1/events", event("door-1", 2))
        attacker.send("facefleet/door-1/updates/state", state("door-1", canary_first))

        def rollout(r: dict[str, object]) -> dict[str, object]:
            return dict(admin.get(f"/api/rollouts/{r['id']}").json())

        wait_for(
            lambda: rollout(canary_first)["state"] in ("rolling", "completed"),  # completed: lobby-1 spoofed
            "door-1's own report to promote its rollout",
        )
        wait_for(lambda: any(d["id"] == "door-1" for d in admin.get("/api/devices").json()), "door-1's status")
        wait_for(lambda: 'facefleet_hub_device_outbox_backlog{device="door-1"} 7.0' in metrics(site), "door-1's stats")
        wait_for(lambda: "event-door-1-0002" in {e["event_id"] for e in recent_events(admin)}, "door-1's event")

    registry = {d["id"]: d for d in admin.get("/api/devices").json()}
    assert set(registry) == {"door-1", "door-2", "lobby-1"}  # no ghost-1
    assert (registry["door-2"]["group"], registry["door-2"]["gallery_version"]) == ("door", "0")
    assert registry["door-1"]["cameras"] == ["front"]
    recent = admin.get("/api/events/recent").json()
    assert [e["event_id"] for e in recent["events"]] == ["event-door-1-0002"]
    assert recent["counts"]["malformed"] == 2  # the event for door-2 and the one with the huge crop
    first = {d["device_id"]: d["state"] for d in rollout(to_door2)["devices"]}
    second = {d["device_id"]: d["state"] for d in rollout(canary_first)["devices"]}
    assert first == {"door-2": "announced"} and rollout(to_door2)["state"] == "rolling"
    assert rollout(canary_first)["state"] == "rolling"
    assert second == {"door-1": "applied", "lobby-1": "announced"}  # announced now, never applied
    assert refused(site) == {
        ("status", "device_mismatch"): 2,
        ("status", "oversized"): 1,
        ("status", "malformed"): 1,
        ("stats", "device_mismatch"): 1,
        ("events", "device_mismatch"): 1,
        ("events", "crop_too_large"): 1,
        ("updates/state", "device_mismatch"): 2,
        ("updates/state", "malformed"): 1,
        ("updates/state", "not_a_target"): 2,
    }
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.fleet.intake"]
    assert 'facefleet_hub_device_outbox_backlog{device="door-2"}' not in metrics(site)  # its stats were spoofed
    assert len(lines) == 12 and max(map(len, lines)) < 500  # the 200 KB status too: a bounded prefix
    attacker.close()
