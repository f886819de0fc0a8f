"""Retrain -> release -> the hub's own model -> a new person reaches an agent on the released model, all real:
enroll through the HTTP API, a tiny retraining job, its release rolled out over a real broker to a real edge
agent process, then a person enrolled after the release, a gallery built and rolled out, and the agent
(running the released model) names that person on video."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import LFW, ROOT
from tests.edge.scenes import lfw_image, write_people_video
from tests.hub.conftest import HubServer
from tests.hub.fleet.test_enroll_to_edge import EventLog, _agent_config, _wait, stop_agent
from tests.hub.training.test_training_api import QUICK, _enroll, _people_with_photos, _wait_finished

NEWCOMER = "Colin_Powell"
STRANGER = "Gerhard_Schroeder"


def _device(admin: httpx.Client) -> dict:  # type: ignore[type-arg]
    return next((d for d in admin.get("/api/devices").json() if d["id"] == "door-1"), {})


def test_new_person_reaches_an_agent_on_the_released_model(mqtt_hub: HubServer, broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    admin = mqtt_hub.client(mqtt_hub.admin)
    trained = _people_with_photos(6)[:4]
    assert NEWCOMER not in trained and STRANGER not in trained
    _enroll(admin, trained, 6)

    video = tmp_path / "door.avi"
    write_people_video(
        video, [("newcomer", lfw_image(LFW, NEWCOMER, 12)), (None, lfw_image(LFW, STRANGER, 10))], gap=30
    )
    config = _agent_config(
        tmp_path, video, mqtt_hub.hub.settings.data_dir / "keys" / "hub.pub", broker.port, mqtt_hub.url
    )
    log = EventLog(broker.port)
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "FACEFLEET_DEVICE_TOKEN": mqtt_hub.device_token("door-1")},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "agent.log", "wb"),
    )  # noqa: SIM115
    try:
        _wait(lambda: _device(admin).get("state") == "online", "the agent to come online", 180, agent)
        job = _wait_finished(admin, admin.post("/api/training", json=QUICK).json()["job_id"], 600)
        assert job["state"] == "done" and job["report"]["released"], job
        released = job["report"]["version"]

        # Releasing made it the hub's model: the library is re-embedded, then the hub switches.
        _wait(
            lambda: admin.get("/api/models/active").json()["model_id"] == released,
            "the hub to switch to the released model",
            180,
            agent,
        )
        active = admin.get("/api/models/active").json()
        assert active["previous_model_id"] == "sface" and active["reembed"]["done"] == active["reembed"]["total"]

        release = admin.post(
            "/api/rollouts/releases",
            json={
                "model_version": job["released_model"],
                "gallery_version": job["released_gallery"],
                "devices": ["door-1"],
            },
        )
        assert release.status_code == 201, release.text
        _wait(lambda: _device(admin).get("model_id") == released, "the agent to run the released model", 180, agent)

        enrolled = admin.post(
            "/api/samples/photos",
            data={"label": NEWCOMER},
            files=[
                (
                    "files",
                    (
                        f"{n}.jpg",
                        (LFW / "images_deepfunneled" / NEWCOMER / f"{NEWCOMER}_{n:04d}.jpg").read_bytes(),
                        "image/jpeg",
                    ),
                )
                for n in range(1, 6)
            ],
        )
        assert enrolled.status_code == 201 and enrolled.json()["faces_extracted"] >= 4, enrolled.text
        gallery = admin.post("/api/galleries").json()
        assert gallery["model_id"] == released and gallery["people"] == 5
        rollout = admin.post(
            "/api/rollouts", json={"kind": "gallery", "version": gallery["version"], "devices": ["door-1"]}
        )
        assert rollout.status_code == 201 and rollout.json()["also_started"] == [], rollout.text
        rollout_id = rollout.json()["id"]
        _wait(
            lambda: admin.get(f"/api/rollouts/{rollout_id}").json()["state"] == "completed",
            "the gallery rollout to complete",
            180,
            agent,
        )

        _wait(
            lambda: any(
                e["type"] == "track_ended" and e["gallery_version"] == gallery["version"] for e in log.named(NEWCOMER)
            ),
            "the newcomer named by the agent",
            180,
            agent,
        )
        named = [e for e in log.named(NEWCOMER) if e["gallery_version"] == gallery["version"]]
        assert {e["model_id"] for e in named} == {released}
        assert max(e["confidence"] for e in named) > 0.4
        assert {e["name"] for e in log.events.values() if e["name"]} == {NEWCOMER}  # the stranger stays unknown
    finally:
        log.close()
        stop_agent(agent)
    assert agent.returncode == 0
