"""Device registry and canary rollouts with the real hub, a real Mosquitto and the edge agent's own update
path (`tests.hub.edge_device`); a device that fails, fails for a reason the agent really checks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from facefleet.wire import Topics
from hub.db import HubDb
from hub.fleet.rollout import RolloutEngine
from models.pipeline import FacePipeline
from tests.hub.conftest import HubServer
from tests.hub.edge_device import EdgeDevice, running_as, with_wiped_weights


def wait_for(predicate: Callable[[], object], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def fleet(  # type: ignore[no-untyped-def]
    mqtt_hub: HubServer, broker, pipeline: FacePipeline, tmp_path: Path
) -> Iterator[Callable[..., EdgeDevice]]:
    """Add a device running `pipeline` (default: the shared one) on the test broker and hub."""
    devices: list[EdgeDevice] = []

    def add(device_id: str, pipeline: FacePipeline = pipeline, **options: object) -> EdgeDevice:
        device = EdgeDevice(device_id, mqtt_hub, broker.port, pipeline, tmp_path / "devices", **options)  # type: ignore[arg-type]
        devices.append(device)
        return device

    yield add
    for device in devices:
        device.stop()


@pytest.fixture(scope="session")
def wiped_model(pipeline: FacePipeline, tmp_path_factory: pytest.TempPathFactory) -> FacePipeline:
    """A device's model whose weights are gone: its health check refuses every gallery."""
    return with_wiped_weights(pipeline, tmp_path_factory.mktemp("wiped"))


def enroll_obama(hub: HubServer, shared_data: Path) -> None:
    photo = shared_data / "clips/people/obama/obama.jpg"
    with hub.client(hub.admin) as client:
        client.post(
            "/api/samples/photos",
            data={"label": "Obama"},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
        ).raise_for_status()


@pytest.fixture
def gallery_version(mqtt_hub: HubServer, shared_data: Path) -> str:
    """A gallery of one person for the hub's model."""
    enroll_obama(mqtt_hub, shared_data)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        return str(client.post("/api/galleries").json()["version"])


def devices_by_id(hub: HubServer) -> dict[str, dict[str, object]]:
    with hub.client(hub.admin) as client:
        return {d["id"]: d for d in client.get("/api/devices").json()}


def rollout(hub: HubServer, rollout_id: str) -> dict:  # type: ignore[type-arg]
    with hub.client(hub.admin) as client:
        return client.get(f"/api/rollouts/{rollout_id}").json()  # type: ignore[no-any-return]


def test_registry_online_then_offline_by_last_will(mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice]) -> None:
    device = fleet("cam-door")
    wait_for(lambda: devices_by_id(mqtt_hub).get("cam-door", {}).get("state") == "online")
    seen = devices_by_id(mqtt_hub)["cam-door"]
    assert seen["gallery_version"] == "0" and seen["cameras"] == ["cam0"]
    device.vanish()
    wait_for(lambda: devices_by_id(mqtt_hub)["cam-door"]["state"] == "offline")
    assert devices_by_id(mqtt_hub)["cam-door"]["gallery_version"] == "0"  # versions kept from the last status


def test_canary_then_all(mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice], gallery_version: str) -> None:
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
    mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice], gallery_version: str, wiped_model: FacePipeline
) -> None:
    canary = fleet("edge-a", pipeline=wiped_model)
    others = [fleet("edge-b"), fleet("edge-c")]
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 3)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        rollout_id = client.post("/api/rollouts", json={"version": gallery_version, "canaries": ["edge-a"]}).json()[
            "id"
        ]
    wait_for(lambda: rollout(mqtt_hub, rollout_id)["state"] == "halted")
    status = rollout(mqtt_hub, rollout_id)
    assert "edge-a" in status["detail"]
    states = {d["device_id"]: d["state"] for d in status["devices"]}
    details = {d["device_id"]: d["detail"] for d in status["devices"]}
    assert states["edge-a"] == "failed" and "not a unit vector" in details["edge-a"]  # its health check
    assert states["edge-b"] == states["edge-c"] == "pending"
    time.sleep(0.5)
    assert [len(d.announcements) for d in others] == [0, 0]
    assert canary.gallery_version == "0"


def test_rollout_without_canaries_reports_failures(
    mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice], gallery_version: str, wiped_model: FacePipeline
) -> None:
    fleet("edge-a")
    fleet("edge-b", pipeline=wiped_model)
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 2)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        rollout_id = client.post("/api/rollouts", json={"version": gallery_version}).json()["id"]
    final = {"edge-a": "applied", "edge-b": "failed"}
    wait_for(lambda: {d["device_id"]: d["state"] for d in rollout(mqtt_hub, rollout_id)["devices"]} == final)
    status = rollout(mqtt_hub, rollout_id)
    assert status["state"] == "completed_with_failures"
    assert "edge-b" in status["detail"]


def test_rollout_needs_existing_artifact_and_known_canaries(mqtt_hub: HubServer, gallery_version: str) -> None:
    with mqtt_hub.client(mqtt_hub.admin) as client:
        missing = client.post("/api/rollouts", json={"version": "19990101.0001", "devices": ["x"]})
        stranger = client.post("/api/rollouts", json={"version": gallery_version, "devices": ["x"], "canaries": ["y"]})
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


RETRAINED = "sface-ft1"


def _release(mqtt_hub: HubServer, canaries: list[str]) -> dict:  # type: ignore[type-arg]
    """Release a retrained model (with a model id of its own, as retraining makes one) and its gallery of
    the people enrolled. (A model of the running model's id would be staged and never switched in: a
    device pairs a gallery of that id with the model it runs.)"""
    from models.registry import default_model_dir

    model = mqtt_hub.hub.artifacts.add_model(default_model_dir() / "sface.onnx", RETRAINED, 128, base_model="sface")
    with mqtt_hub.client(mqtt_hub.admin) as client:
        gallery = client.post("/api/galleries", json={"model_id": RETRAINED})
        assert gallery.status_code == 201, gallery.text
        started = client.post(
            "/api/rollouts/releases",
            json={"model_version": model.version, "gallery_version": gallery.json()["version"], "canaries": canaries},
        )
    assert started.status_code == 201, started.text
    return started.json()  # type: ignore[no-any-return]


def _release_state(mqtt_hub: HubServer, release_id: str) -> dict:  # type: ignore[type-arg]
    with mqtt_hub.client(mqtt_hub.admin) as client:
        return next(r for r in client.get("/api/rollouts/releases").json() if r["id"] == release_id)


def test_release_stages_the_model_everywhere_then_switches_canaries_first(
    mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice], shared_data: Path
) -> None:
    devices = [fleet(name) for name in ("edge-a", "edge-b")]
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 2)
    enroll_obama(mqtt_hub, shared_data)
    release = _release(mqtt_hub, ["edge-a"])
    wait_for(lambda: _release_state(mqtt_hub, release["id"])["state"] == "switching", 30)
    gallery_rollout = _release_state(mqtt_hub, release["id"])["gallery_rollout_id"]
    wait_for(lambda: rollout(mqtt_hub, gallery_rollout)["state"] == "completed", 30)
    # a staged model is applied by the switch its gallery makes: each device reports it right after the gallery
    wait_for(lambda: rollout(mqtt_hub, release["model_rollout_id"])["state"] == "completed")
    # every device saw the model announced before the gallery
    for device in devices:
        assert [a.kind for a in device.announcements] == ["model", "gallery"]
        assert (device.holder.current.model_id, device.gallery_version) == (RETRAINED, release["gallery_version"])
    wait_for(lambda: {d["model_id"] for d in devices_by_id(mqtt_hub).values()} == {RETRAINED})


def test_release_aborts_when_a_device_cannot_stage_the_model(
    mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice], shared_data: Path
) -> None:
    fleet("edge-a")
    fleet("edge-b", max_artifact_bytes=1 << 20)  # its download limit is below the model's size
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 2)
    enroll_obama(mqtt_hub, shared_data)
    release = _release(mqtt_hub, ["edge-a"])
    wait_for(lambda: _release_state(mqtt_hub, release["id"])["state"] == "aborted", 30)
    state = _release_state(mqtt_hub, release["id"])
    assert "edge-b" in state["detail"] and state["gallery_rollout_id"] == ""
    edge_b = next(d for d in rollout(mqtt_hub, release["model_rollout_id"])["devices"] if d["device_id"] == "edge-b")
    assert edge_b["state"] == "failed" and "exceeds the limit" in edge_b["detail"]


def test_release_survives_a_hub_restart(  # type: ignore[no-untyped-def]
    start_hub, broker, shared_data: Path, pipeline: FacePipeline, tmp_path: Path
) -> None:
    from hub.settings import MqttConfig

    mqtt = MqttConfig(port=broker.port, client_id="hub-test")
    first = start_hub(mqtt=mqtt)
    devices = [
        EdgeDevice(name, first, broker.port, pipeline, tmp_path / "devices", silent=True)
        for name in ("edge-a", "edge-b")
    ]
    try:
        wait_for(lambda: len(devices_by_id(first)) == 2)
        enroll_obama(first, shared_data)
        release = _release(first, ["edge-a"])
        wait_for(lambda: all(d.announcements for d in devices))  # the model is announced; nobody staged it yet
        first.stop()  # mid-release: every device still has to stage the model

        second = start_hub(data_dir=first.hub.settings.data_dir, port=first.hub.settings.port, mqtt=mqtt)
        assert _release_state(second, release["id"])["state"] == "staging"
        for device in devices:  # now the devices stage the model they were told about before the restart
            device.silent = False
            device.answer(device.announcements[-1])
        wait_for(lambda: _release_state(second, release["id"])["state"] == "switching", 30)
        gallery_rollout = _release_state(second, release["id"])["gallery_rollout_id"]
        wait_for(lambda: rollout(second, gallery_rollout)["state"] == "completed", 30)
        assert [a.kind for a in devices[0].announcements] == ["model", "gallery"]
        assert [d.holder.current.model_id for d in devices] == [RETRAINED, RETRAINED]
    finally:
        for device in devices:
            device.stop()


def test_gallery_rollout_builds_for_the_model_each_target_runs(
    mqtt_hub: HubServer, fleet: Callable[..., EdgeDevice], gallery_version: str, pipeline: FacePipeline
) -> None:
    from models.registry import default_model_dir

    mqtt_hub.hub.artifacts.add_model(default_model_dir() / "sface.onnx", "sface-copy", 128, base_model="sface")
    fleet("on-base")
    fleet("on-copy", pipeline=running_as(pipeline, "sface-copy"))
    fleet("on-mystery", pipeline=running_as(pipeline, "mystery"))
    wait_for(lambda: len(devices_by_id(mqtt_hub)) == 3)
    with mqtt_hub.client(mqtt_hub.admin) as client:
        refused = client.post("/api/rollouts", json={"version": gallery_version, "devices": ["on-base", "on-mystery"]})
        assert refused.status_code == 422 and "mystery" in refused.json()["detail"]
        assert client.get("/api/rollouts").json() == []  # nothing half started
        started = client.post(
            "/api/rollouts",
            json={"version": gallery_version, "devices": ["on-base", "on-copy"], "canaries": ["on-copy"]},
        )
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


@pytest.mark.parametrize(
    "body",
    [
        {"devices": ["#"]},  # a topic wildcard as a device id
        {"devices": ["door-1", "+"]},  # one among real ids
        {"devices": ["door-1"], "canaries": ["#"]},  # as a canary
        {"devices": [f"device-{i}" for i in range(10_001)]},  # more targets than one rollout takes
    ],
)
def test_a_rollout_naming_no_device_ids_is_refused_and_stores_nothing(
    mqtt_hub: HubServer, shared_data: Path, body: dict[str, object]
) -> None:
    enroll_obama(mqtt_hub, shared_data)
    with mqtt_hub.client(mqtt_hub.admin) as admin:
        version = admin.post("/api/galleries").json()["version"]
        answer = admin.post("/api/rollouts", json={"version": version, **body})
        assert answer.status_code == 422, answer.text
        assert admin.get("/api/rollouts").json() == []
    with pytest.raises(ValueError, match="not a device id"):  # the engine itself, whatever calls it
        mqtt_hub.hub.rollouts.start("gallery", version, ["door-1", "facefleet/#"], [], 60.0)
    assert mqtt_hub.hub.rollouts.started() == []
