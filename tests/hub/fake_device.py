"""A small stand-in for an edge agent's update path: a paho client that answers announcements.

It reports online status (with an `offline` last will), downloads manifest and artifact from the hub with a
device token, verifies the signature and sha256, and reports `applied`, or `failed` + `rolled_back` when told
to fail. The real edge agent replaces it in the end-to-end test.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facefleet.signing import load_public_key, verify_manifest
from facefleet.wire import DeviceStatus, SignedManifest, Topics, UpdateAnnouncement, UpdateState


class FakeDevice:
    def __init__(
        self,
        device_id: str,
        port: int,
        token: str,
        public_pem: bytes,
        fail: bool = False,
        silent: bool = False,
        group: str = "default",
        model_id: str = "sface",
    ) -> None:
        """model_id: the model it says it runs; a gallery of another model fails, as on a real device."""
        self.device_id = device_id
        self.model_id = model_id
        self.topics = Topics("facefleet")
        self.token = token
        self.public_key = load_public_key(public_pem)
        self.fail = fail
        self.silent = silent
        self.group = group
        self.gallery_version = "0"
        self.announcements: list[UpdateAnnouncement] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        self.client.will_set(
            self.topics.status(device_id), self.status("offline").model_dump_json(), qos=1, retain=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError(f"{device_id} did not connect")

    def status(self, state: str) -> DeviceStatus:
        return DeviceStatus(
            device_id=self.device_id,
            state=state,
            ts=datetime.now(timezone.utc),  # type: ignore[arg-type]
            agent_version="test",
            model_id=self.model_id,
            model_version="1",
            gallery_version=self.gallery_version,
            group=self.group,
            cameras=["cam0"],
        )

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        client.subscribe(self.topics.updates(self.device_id), qos=1)
        client.publish(
            self.topics.status(self.device_id), self.status("online").model_dump_json(), qos=1, retain=True
        )
        self.connected.set()

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        announcement = UpdateAnnouncement.model_validate_json(message.payload)
        self.announcements.append(announcement)
        if not self.silent:
            threading.Thread(target=self._apply, args=(announcement,), daemon=True).start()

    def _report(self, announcement: UpdateAnnouncement, state: str, detail: str = "") -> None:
        report = UpdateState(
            rollout_id=announcement.rollout_id,
            device_id=self.device_id,
            kind=announcement.kind,
            version=announcement.version,
            state=state,
            detail=detail,  # type: ignore[arg-type]
            ts=datetime.now(timezone.utc),
            running_version=self.gallery_version,
        )
        self.client.publish(self.topics.update_state(self.device_id), report.model_dump_json(), qos=1)

    def _apply(self, announcement: UpdateAnnouncement) -> None:
        self._report(announcement, "downloading")
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(headers=headers, timeout=30) as http:
            signed = SignedManifest.model_validate_json(http.get(announcement.manifest_url).content)
            data = http.get(announcement.artifact_url).content
        self._report(announcement, "verifying")
        manifest = verify_manifest(self.public_key, signed)
        if manifest.kind == "gallery" and manifest.model_id != self.model_id:
            self._report(announcement, "failed", f"gallery of {manifest.model_id}, running {self.model_id}")
            return
        if self.fail or hashlib.sha256(data).hexdigest() != manifest.sha256:
            self._report(announcement, "failed", "health check failed")
            self._report(announcement, "rolled_back", f"back on {self.gallery_version}")
            return
        self.gallery_version = announcement.version
        self._report(announcement, "applied")

    def vanish(self) -> None:
        """Drop the connection without DISCONNECT, like a power cut: the broker publishes the will."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.close()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
