"""A model that fails its health check on the canary: the canary rolls back, the rollout halts, the rest
are never announced, and the hub shows it all."""

from __future__ import annotations

import json
from pathlib import Path

from tests.system.bad_model import write_nan_embedder
from tests.system.conftest import System
from tooling.sim.procs import wait_for

AGENTS = ("edge-1", "edge-2")


def test_bad_model_on_the_canary_halts_the_rollout(fleet: System, people_clip: Path, tmp_path: Path) -> None:
    fleet.start_broker()
    api = fleet.start_hub()
    for device_id in AGENTS:
        fleet.start_agent(device_id, people_clip, updates=True)
    wait_for(
        lambda: {d["id"] for d in api.get("/api/devices").json() if d["state"] == "online"} >= set(AGENTS),
        "the agents online",
        90,
    )
    model = write_nan_embedder(tmp_path / "nan.onnx")
    with model.open("rb") as file:
        version = (
            api.post("/api/models", files={"file": ("nan.onnx", file, "application/octet-stream")})
            .raise_for_status()
            .json()["version"]
        )
    rollout = (
        api.post(
            "/api/rollouts", json={"kind": "model", "version": version, "devices": list(AGENTS), "canaries": ["edge-1"]}
        )
        .raise_for_status()
        .json()
    )
    wait_for(lambda: api.get(f"/api/rollouts/{rollout['id']}").json()["state"] == "halted", "the halt", 90)

    state = api.get(f"/api/rollouts/{rollout['id']}").json()
    devices = {d["device_id"]: d["state"] for d in state["devices"]}
    assert devices["edge-1"] in ("rolled_back", "failed") and devices["edge-2"] == "pending", state
    assert "edge-1" in state["detail"]
    running = {d["id"]: d["model_version"] for d in api.get("/api/devices").json()}
    assert running["edge-1"] != version
    assert 'facefleet_hub_rollouts{state="halted"} 1.0' in api.get("/metrics").text

    sub = fleet.subscriber("facefleet/edge-1/status")
    try:  # the canary's retained status says it still runs the old model
        sub.wait_for(lambda s: bool(s.json("/status")), 20, "the retained status")
        status = sub.json("/status")[-1]
        assert status["state"] == "online" and status["model_version"] != version, json.dumps(status)
    finally:
        sub.close()
    fleet.procs.check_alive()  # the canary survived its bad model
