"""What a device sends on its own events topic, against a real hub and Mosquitto: event ids that try to be
paths never name a file, and the review queue stays up."""

from __future__ import annotations

import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.hub.conftest import HubServer
from tests.hub.visitors.conftest import LfwFaces, track_event
from tooling.sim.procs import wait_for


def _device(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"door-1-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _send(client: mqtt.Client, payload: bytes) -> None:
    info = client.publish("facefleet/door-1/events", payload, qos=1)
    info.wait_for_publish(10)


def test_device_event_ids_never_name_files(
    mqtt_hub: HubServer,
    broker,
    lfw_faces: LfwFaces,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    hub = mqtt_hub.hub
    absolute = Path(f"/tmp/ffabs{uuid.uuid4().hex[:12]}")
    hostile = ["../../escaped-by-a-device", str(absolute), f"../samples/{uuid.uuid4().hex[:8]}/sample"]
    device = _device(broker.port)
    try:
        for n, event_id in enumerate(hostile):
            event = track_event("placeholder-id", lfw_faces.embeddings[n], lfw_faces.jpeg(n), track_id=n)
            _send(device, event.model_dump_json().replace("placeholder-id", event_id).encode())
        _send(
            device,
            track_event("agent-made-0001", lfw_faces.embeddings[4], lfw_faces.jpeg(4)).model_dump_json().encode(),
        )
        wait_for(lambda: hub.visitors.counts.unknown >= 1, "the ordinary track", 30)
        assert hub.refusals.snapshot()[("events", "malformed")] == 3
        crops = hub.visitor_store.crops_dir
        for event_id in hostile:
            assert not (crops / f"{event_id}.jpg").exists(), event_id
        assert [p.parent for p in crops.rglob("*") if p.is_file()] == [crops]
        reader = mqtt_hub.client(mqtt_hub.enroll)
        assert reader.get("/api/visitors").status_code == 200 and reader.get("/api/tracks").status_code == 200
        assert [t["event_id"] for t in reader.get("/api/tracks").json()] == ["agent-made-0001"]
    finally:
        device.disconnect()
        device.loop_stop()
        absolute.with_suffix(".jpg").unlink(missing_ok=True)
