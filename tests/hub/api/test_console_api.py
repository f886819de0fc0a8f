"""What the console reads and does beyond the older API: each device's latest stats, the model artifacts,
and an operator halting a rollout."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from facefleet.wire import CameraStats, DeviceStats, DeviceStatus, Topics, UpdateState
from hub.db import HubDb
from hub.fleet.rollout import RolloutEngine, RolloutError
from tests.hub.conftest import HubServer

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_devices_carry_their_latest_stats(hub_server: HubServer) -> None:
    devices = hub_server.hub.devices
    devices.update(DeviceStatus(device_id="door-1", state="online", ts=NOW, cameras=["front"]))
    devices.update(DeviceStatus(device_id="door-2", state="online", ts=NOW))
    devices.record_stats(
        DeviceStats(
            device_id="door-1",
            ts=NOW,
            active_tracks=1,
            outbox_backlog=0,
            cameras={"front": CameraStats(fps=9.5, connected=True, reconnects=0, dropped=12, lag_ms=80.0)},
        )
    )
    devices.record_stats(DeviceStats(device_id="ghost", ts=NOW, active_tracks=0, outbox_backlog=0, cameras={}))
    with hub_server.client(hub_server.admin) as client:
        listed = {d["id"]: d["stats"] for d in client.get("/api/devices").json()}
    assert listed["door-2"] is None  # no stats yet
    front = listed["door-1"]["cameras"]["front"]
    assert (front["fps"], front["dropped"], front["lag_ms"]) == (9.5, 12, 80.0)
    assert "ghost" not in listed  # stats of an unknown device are not kept


def test_models_lists_the_model_artifacts(hub_server: HubServer) -> None:
    from models.registry import default_model_dir

    with hub_server.client(hub_server.admin) as client:
        assert client.get("/api/models").json() == []
        added = hub_server.hub.artifacts.add_model(
            default_model_dir() / "sface.onnx", "sface-ft1", 128, base_model="sface"
        )
        listed = client.get("/api/models").json()
        assert client.get("/api/models", headers={"Authorization": f"Bearer {hub_server.enroll}"}).status_code == 403
    assert [(m["kind"], m["version"], m["model_id"]) for m in listed] == [("model", added.version, "sface-ft1")]
    assert listed[0]["manifest_url"].endswith(f"/api/artifacts/model/{added.version}/manifest")


def test_halted_rollout_announces_to_no_one_else(db_target: Path | str) -> None:
    hub_db = HubDb(db_target)
    hub_db.migrate()
    published: list[str] = []
    engine = RolloutEngine(
        hub_db,
        Topics(),
        lambda topic, payload: published.append(topic),
        lambda kind, version: ("m", "a"),
        clock=lambda: NOW,
    )
    started = engine.start("gallery", "1", ["a", "b"], ["a"], canary_timeout_s=60)
    halted = engine.halt(started.id)
    assert (halted.state, halted.detail) == ("halted", "halted by an operator")
    # the canary applies after the halt: recorded, and still nobody else is told
    engine.handle_state(
        UpdateState(rollout_id=started.id, device_id="a", kind="gallery", version="1", state="applied", ts=NOW)
    )
    after = engine.get(started.id)
    assert after.state == "halted" and published == ["facefleet/a/updates"]
    assert {d.device_id: d.state for d in after.devices} == {"a": "applied", "b": "pending"}
    try:
        engine.halt(started.id)
    except RolloutError as exc:
        assert "halted" in str(exc)
    else:
        raise AssertionError("a halted rollout halted again")


def test_halt_over_http(mqtt_hub: HubServer) -> None:
    hub_server = mqtt_hub  # a rollout is announced over MQTT
    started = hub_server.hub.rollouts.start("gallery", "1", ["door-1", "door-2"], ["door-1"], 60.0)
    with hub_server.client(hub_server.admin) as client:
        assert (
            client.post(
                f"/api/rollouts/{started.id}/halt", headers={"Authorization": f"Bearer {hub_server.enroll}"}
            ).status_code
            == 403
        )
        first = client.post(f"/api/rollouts/{started.id}/halt")
        again = client.post(f"/api/rollouts/{started.id}/halt")
        unknown = client.post("/api/rollouts/nosuch/halt")
    assert first.status_code == 200 and first.json()["state"] == "halted"
    assert again.status_code == 422 and unknown.status_code == 404
