"""Hub -> edge, all real: enroll a person through the hub's HTTP API, build a signed gallery, roll it out
over a real broker to a real edge agent process, and see that agent name the person on video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import LFW, ROOT
from tests.edge.scenes import lfw_image, write_people_video

NEWCOMER = "Colin_Powell"
STRANGER = "Gerhard_Schroeder"


class EventLog:
    def __init__(self, port: int) -> None:
        self.events: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="enroll-to-edge-listener")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("facefleet/+/events", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        event = json.loads(message.payload)
        with self.lock:
            self.events[event["event_id"]] = event

    def named(self, name: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events.values() if e["name"] == name]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _agent_config(tmp_path: Path, video: Path, hub_key: Path, broker_port: int, hub_url: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "device_id": "door-1",
                "state_dir": str(tmp_path / "edge-state"),
                "cameras": [
                    {
                        "name": "front",
                        "source": {"type": "file", "path": str(video), "loop": True, "pacing": "every_frame"},
                    }
                ],
                "pipeline": {"detector": {"min_face_px": 40}},
                "mqtt": {"host": "127.0.0.1", "port": broker_port},
                "http": {"port": 0},
                "updates": {"hub_public_key": str(hub_key), "hub_url": hub_url},
            }
        )
    )
    return path


def stop_agent(agent: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM, then kill if it has not exited within 30 s."""
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(timeout=30)
    except subprocess.TimeoutExpired:
        agent.kill()


def _wait(condition, what: str, timeout_s: float, agent: subprocess.Popen) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert agent.poll() is None, f"the agent exited with {agent.returncode}"
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_enrolled_person_is_recognised_by_an_agent_after_rollout(mqtt_hub, broker, tmp_path) -> None:
    video = tmp_path / "door.avi"
    write_people_video(
        video, [("newcomer", lfw_image(LFW, NEWCOMER, 12)), (None, lfw_image(LFW, STRANGER, 10))], gap=30
    )  # longer than tracker.lost_frames: each appearance is its own track
    hub_key = mqtt_hub.hub.settings.data_dir / "keys" / "hub.pub"
    config = _agent_config(tmp_path, video, hub_key, broker.port, mqtt_hub.url)
    log = EventLog(broker.port)
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "FACEFLEET_DEVICE_TOKEN": mqtt_hub.device_token("door-1")},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "agent.log", "wb"),
    )  # noqa: SIM115
    admin = mqtt_hub.client(mqtt_hub.admin)
    try:
        _wait(
            lambda: any(d["id"] == "door-1" and d["state"] == "online" for d in admin.get("/api/devices").json()),
            "the agent to come online",
            120,
            agent,
        )
        assert not log.named(NEWCOMER.replace("_", " ")) and not log.named(NEWCOMER)

        photos = [
            (
                "files",
                (
                    f"{n}.jpg",
                    (LFW / "images_deepfunneled" / NEWCOMER / f"{NEWCOMER}_{n:04d}.jpg").read_bytes(),
                    "image/jpeg",
                ),
            )
            for n in range(1, 6)
        ]
        enrolled = admin.post("/api/samples/photos", data={"label": NEWCOMER}, files=photos)
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["faces_extracted"] >= 4
        version = admin.post("/api/galleries").json()["version"]
        rollout = admin.post("/api/rollouts", json={"kind": "gallery", "version": version, "devices": ["door-1"]})
        assert rollout.status_code == 201, rollout.text
        rollout_id = rollout.json()["id"]
        _wait(
            lambda: admin.get(f"/api/rollouts/{rollout_id}").json()["state"] == "completed",
            "the rollout to complete",
            120,
            agent,
        )
        device = next(d for d in admin.get("/api/devices").json() if d["id"] == "door-1")
        assert device["gallery_version"] == version

        _wait(
            lambda: any(e["type"] == "track_ended" for e in log.named(NEWCOMER)),
            "a track of the newcomer named by the agent",
            180,
            agent,
        )
        named = log.named(NEWCOMER)
        assert all(e["gallery_version"] == version for e in named)
        assert max(e["confidence"] for e in named) > 0.4
        # the stranger's tracks after the update stay unknown: every named event is the newcomer's
        assert {e["name"] for e in log.events.values() if e["name"]} == {NEWCOMER}
    finally:
        log.close()
        stop_agent(agent)
    assert agent.returncode == 0
