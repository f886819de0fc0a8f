"""Enrollment at a device with real processes (Mosquitto with the shipped ACL, the hub, an edge agent whose
camera is a real clip): an operator asks the agent's camera for the centre face, the agent uploads its crops
with the one-use token, they wait on the hub, the operator confirms, and the person is found by a photo.
Only the asked device receives the request: another device and a read-only observer never see its token."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx

from hub.settings import HubSettings
from tests.conftest import SHARED_DATA
from tests.edge.conftest import Subscriber
from tests.system.conftest import System
from tooling.sim import procs as system
from tooling.sim.procs import wait_for

CLIP = SHARED_DATA / "clips" / "short_hamilton_clip.mp4"
SINGER_FRAMES = (83, 216)  # the singer's close-up (short_hamilton_clip.truth.yaml)
PHOTO = SHARED_DATA / "clips" / "people" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
LABEL = "Lin-Manuel Miranda"
OTHER = SHARED_DATA / "clips" / "obama-720p.jpg"
VERIFY_THRESHOLD = HubSettings.model_fields["verify_threshold"].default


def singer_clip(path: Path) -> Path:
    """The clip's close-up of the singer, its frames as they are (MJPEG AVI), so the camera shows one person
    whatever moment the request arrives at."""
    capture = cv2.VideoCapture(str(CLIP))
    writer = None
    for index in range(SINGER_FRAMES[1] + 1):
        ok, frame = capture.read()
        assert ok, f"{CLIP} ended at frame {index}"
        if index < SINGER_FRAMES[0]:
            continue
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 29.97, frame.shape[1::-1])
        writer.write(frame)
    assert writer is not None
    writer.release()
    capture.release()
    return path


def test_collect_at_a_device_then_confirm(fleet: System, tmp_path: Path) -> None:
    clip = singer_clip(tmp_path / "singer.avi")
    fleet.start_broker()
    api = fleet.start_hub()
    config = system.write_agent_config(
        fleet.workdir / "edge-1.yaml",
        "edge-1",
        fleet.workdir / "edge-1",
        clip,
        fleet.broker,
        None,
        fleet.hub_url,
        pacing="every_frame",
        loop=True,
        min_face_px=40,
        updates={"enabled": False, "hub_url": fleet.hub_url},
    )
    system.start_agent(fleet.procs, "edge-1", config, fleet.broker)
    observer = fleet.subscriber("facefleet/#", fresh=True)
    other_device = Subscriber(
        fleet.mqtt_port,
        "facefleet/edge-1/collect",
        client_id="edge-2",
        auth=("edge-2", fleet.broker.passwords["edge-2"]),
        fresh=True,
    )
    try:
        wait_for(
            lambda: any(d["state"] == "online" and d["cameras"] == ["stage"] for d in api.get("/api/devices").json()),
            "edge-1 online",
            120,
        )
        asked = api.post("/api/devices/edge-1/collect", json={"camera": "stage", "label": LABEL, "seconds": 10})
        assert asked.status_code == 201, asked.text
        collection_id = asked.json()["id"]

        def state() -> str:
            listed = {c["id"]: c for c in api.get("/api/collections").json()}
            return str(listed[collection_id]["state"])

        wait_for(lambda: state() == "pending", "the agent's upload", 240)
        pending = api.get("/api/collections", params={"state": "pending"}).json()[0]
        assert 1 <= pending["crops"] <= 20 and len(pending["crop_urls"]) == pending["crops"]
        assert api.get("/api/people").json() == []  # nothing in the library before the operator says so
        other = api.post(
            "/api/samples/photos",
            data={"label": "Barack Obama"},
            files=[("files", (OTHER.name, OTHER.read_bytes(), "image/jpeg"))],
        )
        assert other.status_code == 201, other.text  # someone else to tell the singer from

        confirmed = api.post(f"/api/collections/{collection_id}/confirm")
        assert confirmed.status_code == 201, confirmed.text
        assert confirmed.json()["faces_extracted"] >= 1
        found = api.post("/api/search", files={"file": (PHOTO.name, PHOTO.read_bytes(), "image/png")}).json()
        assert found["face_found"] and found["hits"][0]["name"] == LABEL, found
        assert found["hits"][0]["score"] > VERIFY_THRESHOLD, found  # the same person, not merely the nearest

        device = {"Authorization": "Bearer not-the-token"}
        replay = httpx.post(
            f"{fleet.hub_url}/api/collections/{collection_id}/crops",
            headers=device,
            files=[("files", ("0.jpg", b"\xff\xd8", "image/jpeg"))],
        )
        assert replay.status_code == 401
        assert "crops uploaded" in fleet.procs.log_text("edge-1")
        assert any(t == "facefleet/edge-1/status" for t, _ in observer.messages)  # the observer was listening
        assert not [t for t, _ in observer.messages if t.endswith("/collect")]  # ... but is denied requests
        assert other_device.messages == []  # another device cannot read it
    finally:
        for client in (observer, other_device):
            client.client.disconnect()
            client.client.loop_stop()
