"""Device tokens are bound to their device: artifacts are served only to targets of a rollout of them.

The real hub and a real Mosquitto, the devices the edge agent's own update path; door-1 (group `door`)
applies a gallery rolled out to the door group with its own token, while lobby-1's token, a token of an
old unbound kind, and door-1's token for a version never rolled out to it are refused. Admins still read
every artifact.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.db import now_iso
from hub.tokens import _digest
from models.pipeline import FacePipeline
from tests.hub.conftest import HubServer
from tests.hub.edge_device import EdgeDevice


def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def fleet(  # type: ignore[no-untyped-def]
    mqtt_hub: HubServer, broker, pipeline: FacePipeline, tmp_path: Path
) -> Iterator[dict[str, EdgeDevice]]:
    root = tmp_path / "devices"
    devices = {
        "door-1": EdgeDevice("door-1", mqtt_hub, broker.port, pipeline, root, group="door"),
        "lobby-1": EdgeDevice("lobby-1", mqtt_hub, broker.port, pipeline, root, group="lobby", silent=True),
    }
    yield devices
    for device in devices.values():
        device.stop()


def build_gallery(hub: HubServer, photo: Path, label: str) -> str:
    with hub.client(hub.admin) as admin:
        admin.post(
            "/api/samples/photos",
            data={"label": label},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
        ).raise_for_status()
        return str(admin.post("/api/galleries").raise_for_status().json()["version"])


def unbound_device_token(hub: HubServer) -> str:
    """A `device` token as the hub made them before they were bound (a row without a device id)."""
    secret = "ffh_" + uuid.uuid4().hex
    with hub.hub.db.transaction() as db:
        db.insert(
            "tokens",
            {
                "id": uuid.uuid4().hex[:12],
                "name": "old fleet token",
                "scopes": "device",
                "sha256": _digest(secret),
                "created": now_iso(),
                "revoked": 0,
            },
        )
    return secret


def test_a_lobby_token_cannot_download_a_door_gallery(
    mqtt_hub: HubServer, fleet: dict[str, EdgeDevice], shared_data: Path
) -> None:
    people = shared_data / "clips" / "people"
    door_gallery = build_gallery(mqtt_hub, people / "obama/obama.jpg", "Obama")
    admin = mqtt_hub.client(mqtt_hub.admin)
    wait_for(lambda: {d["id"] for d in admin.get("/api/devices").json()} == set(fleet), "both devices online")
    for device in fleet.values():  # groups are the registry's: an admin assigns them
        admin.patch(f"/api/devices/{device.device_id}", json={"group": device.device_id.split("-")[0]})
    rollout = admin.post("/api/rollouts", json={"version": door_gallery, "group": "door"}).json()
    assert [d["device_id"] for d in rollout["devices"]] == ["door-1"]
    wait_for(
        lambda: admin.get(f"/api/rollouts/{rollout['id']}").json()["state"] == "completed",
        "door-1 to download with its own token and apply",
    )
    assert fleet["door-1"].gallery_version == door_gallery
    never_rolled_out = build_gallery(mqtt_hub, people / "biden/biden.jpg", "Biden")

    base = "/api/artifacts/gallery"
    tokens = {
        "lobby-1": mqtt_hub.device_token("lobby-1"),
        "unbound": unbound_device_token(mqtt_hub),
        "door-1": mqtt_hub.device_token("door-1"),
    }
    for who, version, expected in [
        ("lobby-1", door_gallery, 403),  # a device of another group: not a target
        ("unbound", door_gallery, 403),  # a token that speaks for no device
        ("door-1", never_rolled_out, 403),  # the right device, a version no rollout gave it
        ("door-1", door_gallery, 200),  # the target itself
    ]:
        with mqtt_hub.client(tokens[who]) as client:
            for part in ("manifest", "file"):
                answer = client.get(f"{base}/{version}/{part}")
                assert answer.status_code == expected, (who, version, part, answer.text)
    with mqtt_hub.client(tokens["lobby-1"]) as client:
        assert "lobby-1 is not a target" in client.get(f"{base}/{door_gallery}/manifest").json()["detail"]
    for version in (door_gallery, never_rolled_out):  # admins read every artifact
        assert admin.get(f"{base}/{version}/file").status_code == 200
