"""Device registry and canary rollouts with the real hub, a real Mosquitto and fake device clients."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from facefleet.wire import Topics
from hub.db import HubDb
from hub.fleet.rollout import RolloutEngine
from tests.hub.conftest import HubServer
from tests.hub.fake_device import FakeDevice


def wait_for(predicate: Callable[[], object], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def fleet(mqtt_hub: HubServer, broker) -> Iterator[Callable[..., FakeDevice]]:  # type: ignore[no-untyped-def]
    devices: list[FakeDevice] = []
    public_pem = mqtt_hub.hub.public_key_pem

    def add(device_id: str, **kwargs: object) -> FakeDevice:
        token = mqtt_hub.device_token(device_id)
        device = FakeDevice(device_id, broker.port, token, public_pem, **kwargs)  # type: ignore[arg-type]
        devices.append(device)
        return device

    yield add
    for device in devices:
        device.stop()


@pytest.fixture
def gallery_version(mqtt_hub: HubServer, shared_data: Path) -> str:
    photo = shared_data / "clips/people/obama/obama.jpg"
    with mqtt_hub.client(mqtt_hub.admin) as client:
        client.post(
            "/api/samples/photos",
            data={"label": "Obama"},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
        ).raise_for_status()
        return str(client.post("/api/galleries").json()["version"])


def devices_by_id(hub: HubServer) -> dict[str, dict[str, object]]:
    with hub.client(hub.admin) as client:
        return {d["id"]: d for d in client.get("/api/devices").json()}


def rollout(hub: HubServer, rollout_id: str) -> dict:  # type: ignore[type-arg]
    with hub.client(hub.admin) as client:
        return client.get(f"/api/rollouts/{rollout_id}").json()  # type: ignore[no-any-return]


def test_registry_online_then_offline_by_last_will(
    mqtt_hub: HubServer, fleet: Callable[..., FakeDevice]
) -> None:
    device = fleet("cam-door")
    wait_for(lambda: devices_by_id(mqtt_hub).get("cam-door", {}).get("state") == "online")
    seen = devices_by_id(mqtt_hub)["cam-door"]
    assert seen["gallery_version"] == "0" and seen["cameras"] == ["cam0"]
    device.vanish()
    wait_for(lambda: devices_by_id(mqtt_hub)["cam-door"]["state"] == "offline")
    assert devices_by_id(mqtt_hub)["cam-door"]["gallery_version"] == "0"  # versions kept from the last status


def test_canary_then_all(mqtt_hub: HubServer, fleet: Callable[..., FakeDevice], gallery_version: str) -> None:
    devices = [fleet(name) for name in ("edge-a", "edge-b", "edge-c")]
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 3)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        started = client.post("/api/rollouts", json={"version": gallery_version, "canaries": ["edge-a"]})
    assert started.status_code == 201, started.text
    rollout_id = started.json()["id"]
    wait_for(lambda: rollout(mqtt_hub, rollout_id)["state"] == "completed")
    states = {d["device_id"]: d["state"] for d in rollout(mqtt_hub, rollout_id)["devices"]}
    assert states == {"edge-a": "applied", "edge-b": "applied", "edge-c": "applied"}
    assert all(d.gallery_version == gallery_version for d in devices)
    wait_for(lambda: all(d["gallery_version"] == gallery_version for d in devices_by_id(mqtt_hub).values()))


def test_failed_canary_halts(
    mqtt_hub: HubServer, fleet: Callable[..., FakeDevice], gallery_version: str
) -> None:
    canary = fleet("edge-a", fail=True)
    others = [fleet("edge-b"), fleet("edge-c")]
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 3)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        rollout_id = client.post(
            "/api/rollouts", json={"version": gallery_version, "canaries": ["edge-a"]}
        ).json()["id"]
    wait_for(lambda: rollout(mqtt_hub, rollout_id)["state"] == "halted")
    status = rollout(mqtt_hub, rollout_id)
    assert "edge-a" in status["detail"]
    states = {d["device_id"]: d["state"] for d in status["devices"]}
    assert states["edge-a"] in ("failed", "rolled_back")
    assert states["edge-b"] == states["edge-c"] == "pending"
    time.sleep(0.5)
    assert [len(d.announcements) for d in others] == [0, 0]
    assert canary.gallery_version == "0"


def test_rollout_without_canaries_reports_failures(
    mqtt_hub: HubServer, fleet: Callable[..., FakeDevice], gallery_version: str
) -> None:
    fleet("edge-a")
    fleet("edge-b", fail=True)
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 2)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        rollout_id = client.post("/api/rollouts", json={"version": gallery_version}).json()["id"]
    final = {"edge-a": "applied", "edge-b": "rolled_back"}
    wait_for(lambda: {d["device_id"]: d["state"] for d in rollout(mqtt_hub, rollout_id)["devices"]} == final)
    status = rollout(mqtt_hub, rollout_id)
    assert status["state"] == "completed_with_failures"
    assert "edge-b" in status["detail"]


def test_rollout_needs_existing_artifact_and_known_canaries(
    mqtt_hub: HubServer, gallery_version: str
) -> None:
    with mqtt_hub.client(mqtt_hub.admin) as client:
        missing = client.post("/api/rollouts", json={"version": "19990101.0001", "devices": ["x"]})
        stranger = client.post(
            "/api/rollouts", json={"version": gallery_version, "devices": ["x"], "canaries": ["y"]}
        )
        nobody = client.post("/api/rollouts", json={"version": gallery_version})
    assert missing.status_code == 404
    assert stranger.status_code == 422 and "canaries" in stranger.json()["detail"]
    assert nobody.status_code == 422


def test_canary_timeout_halts(db_target: Path | str, tmp_path: Path) -> None:
    """Plain state machine with a fake clock: a silent canary halts the rollout after the timeout."""
    hub_db = HubDb(db_target)
    hub_db.migrate()
    now = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    published: list[str] = []
    engine = RolloutEngine(
        hub_db,
        Topics(),
        lambda topic, payload: published.append(topic),
        lambda kind, version: ("m", "a"),
        clock=lambda: now[0],
    )
    started = engine.start("gallery", "1", ["a", "b"], ["a"], canary_timeout_s=60)
    assert started.state == "canary" and published == ["facefleet/a/updates"]
    now[0] += timedelta(seconds=59)
    assert engine.tick() == []
    now[0] += timedelta(seconds=2)
    assert engine.tick() == [started.id]
    assert engine.get(started.id).state == "halted" and published == ["facefleet/a/updates"]


def _release(mqtt_hub: HubServer, gallery_version: str, canaries: list[str]) -> dict:  # type: ignore[type-arg]
    from models.registry import default_model_dir

    model_file = (default_model_dir() / "sface.onnx").read_bytes()
    with mqtt_hub.client(mqtt_hub.admin) as client:
        model = client.post("/api/models", files=[("file", ("sface.onnx", model_file, "application/octet-stream"))])
        assert model.status_code == 201, model.text
        started = client.post("/api/rollouts/releases", json={
            "model_version": model.json()["version"], "gallery_version": gallery_version, "canaries": canaries})
    assert started.status_code == 201, started.text
    return started.json()  # type: ignore[no-any-return]


def _release_state(mqtt_hub: HubServer, release_id: str) -> dict:  # type: ignore[type-arg]
    with mqtt_hub.client(mqtt_hub.admin) as client:
        return next(r for r in client.get("/api/rollouts/releases").json() if r["id"] == release_id)


def test_release_stages_the_model_everywhere_then_switches_canaries_first(
    mqtt_hub: HubServer, fleet: Callable[..., FakeDevice], gallery_version: str
) -> None:
    devices = [fleet(name) for name in ("edge-a", "edge-b")]
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 2)
    release = _release(mqtt_hub, gallery_version, ["edge-a"])
    wait_for(lambda: _release_state(mqtt_hub, release["id"])["state"] == "switching", 30)
    gallery_rollout = _release_state(mqtt_hub, release["id"])["gallery_rollout_id"]
    wait_for(lambda: rollout(mqtt_hub, gallery_rollout)["state"] == "completed", 30)
    assert rollout(mqtt_hub, release["model_rollout_id"])["state"] == "completed"
    # every device saw the model announced before the gallery
    for device in devices:
        assert [a.kind for a in device.announcements] == ["model", "gallery"]


def test_release_aborts_when_a_device_cannot_stage_the_model(
    mqtt_hub: HubServer, fleet: Callable[..., FakeDevice], gallery_version: str
) -> None:
    fleet("edge-a")
    fleet("edge-b", fail=True)
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 2)
    release = _release(mqtt_hub, gallery_version, ["edge-a"])
    wait_for(lambda: _release_state(mqtt_hub, release["id"])["state"] == "aborted", 30)
    state = _release_state(mqtt_hub, release["id"])
    assert "edge-b" in state["detail"] and state["gallery_rollout_id"] == ""


def test_release_survives_a_hub_restart(start_hub, broker, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from hub.settings import MqttConfig

    mqtt = MqttConfig(port=broker.port, client_id="hub-test")
    first = start_hub(mqtt=mqtt)
    devices = [FakeDevice(name, broker.port, first.device_token(name), first.hub.public_key_pem, silent=True)
               for name in ("edge-a", "edge-b")]
    try:
        wait_for(lambda: len(devices_by_id(first)) == 2)
        photo = shared_data / "clips/people/obama/obama.jpg"
        with first.client(first.admin) as client:
            client.post("/api/samples/photos", data={"label": "Obama"},
                        files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))]).raise_for_status()
            gallery = str(client.post("/api/galleries").json()["version"])
        release = _release(first, gallery, ["edge-a"])
        wait_for(lambda: all(d.announcements for d in devices))  # the model is announced; nobody staged it yet
        first.stop()  # mid-release: every device still has to stage the model

        second = start_hub(data_dir=first.hub.settings.data_dir, port=first.hub.settings.port, mqtt=mqtt)
        assert _release_state(second, release["id"])["state"] == "staging"
        for device in devices:  # now the devices stage the model they were told about before the restart
            device.silent = False
            device._apply(device.announcements[-1])
        wait_for(lambda: _release_state(second, release["id"])["state"] == "switching", 30)
        gallery_rollout = _release_state(second, release["id"])["gallery_rollout_id"]
        wait_for(lambda: rollout(second, gallery_rollout)["state"] == "completed", 30)
        assert [a.kind for a in devices[0].announcements] == ["model", "gallery"]
    finally:
        for device in devices:
            device.stop()
def test_gallery_rollout_builds_for_the_model_each_target_runs(
    mqtt_hub: HubServer, fleet: Callable[..., FakeDevice], gallery_version: str
) -> None:
    from models.registry import default_model_dir

    mqtt_hub.hub.artifacts.add_model(default_model_dir() / "sface.onnx", "sface-copy", 128, base_model="sface")
    fleet("on-base")
    fleet("on-copy", model_id="sface-copy")
    fleet("on-mystery", model_id="mystery")
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 3)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        refused = client.post("/api/rollouts", json={"version": gallery_version, "devices": ["on-base", "on-mystery"]})
        assert refused.status_code == 422 and "mystery" in refused.json()["detail"]
        assert client.get("/api/rollouts").json() == []  # nothing half started
        started = client.post("/api/rollouts", json={"version": gallery_version, "devices": ["on-base", "on-copy"],
                                                     "canaries": ["on-copy"]})
        assert started.status_code == 201, started.text
        base, (other_id,) = started.json(), started.json()["also_started"]
        galleries = {g["version"]: g for g in client.get("/api/galleries").json()}
    assert base["version"] == gallery_version and [d["device_id"] for d in base["devices"]] == ["on-base"]
    other = rollout(mqtt_hub, other_id)
    assert [(d["device_id"], d["canary"]) for d in other["devices"]] == [("on-copy", True)]
    assert galleries[other["version"]]["model_id"] == "sface-copy" and galleries[other["version"]]["people"] == 1
    for rollout_id in (base["id"], other_id):
        wait_for(lambda rid=rollout_id: rollout(mqtt_hub, rid)["state"] == "completed")  # type: ignore[misc]
    assert devices_by_id(mqtt_hub)["on-copy"]["gallery_version"] == other["version"]
