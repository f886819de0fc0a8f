"""Home Assistant MQTT discovery: a sensor per camera (last person seen, with confidence) and per person
(last seen where), from the track events the hub ingests.

Following Home Assistant's MQTT discovery schema, each sensor is one retained config on
`<discovery_prefix>/sensor/<node_id>/<object_id>/config` naming its `state_topic` (a retained JSON state the
hub publishes under `<topic_prefix>/_ha/`, which no device id can collide with), a `value_template` for
the state, the same topic as `json_attributes_topic` (so confidence, camera and time are attributes), and a
`device` block. Names follow Frigate's habits: one HA device per edge device, entities named
`<camera> last person`, snake_case object ids `<device>_<camera>_last_person`, unique ids prefixed with the
node id. A camera sensor's `availability` is the device's own retained status (`online`, or the broker's
`offline` last will). An empty retained config removes a sensor: sent when a person is deleted, a camera
disappears from its device's status, or a device is forgotten. A config goes out only when it differs
from the one last sent for its topic (a device repeating its status publishes nothing), and everything goes
through `publish`, which the hub points at its retained queue (`hub.fleet.retained_queue`): behind the
hub's own messages, never ahead of an update announcement. A deleted person's sensor goes, and so does
the retained state of every camera sensor whose last state names them. What was published (configs, and
which person each camera state names) is kept in a small JSON file so a restarted hub still removes what it
had announced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from facefleet.wire import DeviceStatus, Topics, TrackEvent
from hub.library.library import Library
from hub.settings import HomeAssistantConfig

log = logging.getLogger(__name__)
ORIGIN = {"name": "FaceFleet", "sw_version": "0.1.0"}
AVAILABLE = "{{ value_json.state if value_json is defined else value }}"  # JSON status, or a bare will


class Named(Protocol):
    """A person (`hub.library.library.Person`)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class DeviceInfo(Protocol):
    """A device (`hub.fleet.devices.Device`)."""

    @property
    def id(self) -> str: ...

    @property
    def agent_version(self) -> str: ...

    @property
    def cameras(self) -> list[str]: ...


@dataclass(frozen=True)
class _StatusDevice:
    id: str
    agent_version: str
    cameras: list[str]


class HaDevice(BaseModel):
    identifiers: list[str]
    name: str
    manufacturer: str = "FaceFleet"
    model: str
    sw_version: str | None = None


class HaAvailability(BaseModel):
    topic: str
    value_template: str = AVAILABLE
    payload_available: str = "online"
    payload_not_available: str = "offline"


class HaSensorConfig(BaseModel):
    """The discovery payload of one sensor (Home Assistant's MQTT sensor schema, full key names)."""

    name: str
    unique_id: str
    object_id: str
    state_topic: str
    value_template: str
    json_attributes_topic: str
    icon: str
    device: HaDevice
    availability: list[HaAvailability] | None = None
    origin: dict[str, str] = ORIGIN


class CameraState(BaseModel):
    """State of a camera sensor: who its last track was (`unknown` when nobody enrolled)."""

    name: str
    person_id: str | None
    confidence: float
    device_id: str
    camera: str
    event_id: str
    ts: datetime


class PersonState(BaseModel):
    """State of a person sensor: where they were last named."""

    where: str
    device_id: str
    camera: str
    confidence: float
    event_id: str
    ts: datetime


def slug(text: str) -> str:
    """Home Assistant's object-id alphabet: [a-zA-Z0-9_-], anything else becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64] or "_"


class HomeAssistant:
    """Publishes through `publish(topic, payload)` (retained, QoS 1); does nothing unless enabled."""

    def __init__(
        self, config: HomeAssistantConfig, topics: Topics, publish: Callable[[str, bytes], None], state_file: Path
    ) -> None:
        self.config = config
        self.topics = topics
        self._publish = publish
        self.state_file = state_file
        self._lock = threading.Lock()
        self._cameras: dict[str, set[str]] = {}  # device id -> cameras with a config out
        self._people: set[str] = set()
        self._camera_people: dict[str, str] = {}  # camera state topic -> the person its retained state names
        self._configs: dict[str, bytes] = {}  # config topic -> digest of the config last sent (since start)
        if config.enabled and state_file.exists():
            saved = json.loads(state_file.read_text())
            self._cameras = {d: set(c) for d, c in saved.get("cameras", {}).items()}
            self._people = set(saved.get("people", []))
            self._camera_people = dict(saved.get("camera_people", {}))

    # topics ---------------------------------------------------------------------------------------------
    def config_topic(self, object_id: str) -> str:
        return f"{self.config.discovery_prefix}/sensor/{self.config.node_id}/{object_id}/config"

    def camera_topic(self, device_id: str, camera: str) -> str:
        return f"{self.topics.prefix}/_ha/camera/{slug(device_id)}/{slug(camera)}"

    def person_topic(self, person_id: str) -> str:
        return f"{self.topics.prefix}/_ha/person/{slug(person_id)}"

    @staticmethod
    def camera_object(device_id: str, camera: str) -> str:
        return f"{slug(device_id)}_{slug(camera)}_last_person"

    @staticmethod
    def person_object(person_id: str) -> str:
        return f"person_{slug(person_id)}_last_seen"

    # configs --------------------------------------------------------------------------------------------
    def camera_config(self, device: DeviceInfo, camera: str) -> HaSensorConfig:
        object_id = self.camera_object(device.id, camera)
        state = self.camera_topic(device.id, camera)
        return HaSensorConfig(
            name=f"{camera} last person",
            unique_id=f"{self.config.node_id}_{object_id}",
            object_id=object_id,
            state_topic=state,
            json_attributes_topic=state,
            value_template="{{ value_json.name }}",
            icon="mdi:face-recognition",
            availability=[HaAvailability(topic=self.topics.status(device.id))],
            device=HaDevice(
                identifiers=[f"{self.config.node_id}_{slug(device.id)}"],
                name=device.id,
                model="FaceFleet edge agent",
                sw_version=device.agent_version or None,
            ),
        )

    def person_config(self, person: Named) -> HaSensorConfig:
        object_id = self.person_object(person.id)
        state = self.person_topic(person.id)
        return HaSensorConfig(
            name=f"{person.name} last seen",
            unique_id=f"{self.config.node_id}_{object_id}",
            object_id=object_id,
            state_topic=state,
            json_attributes_topic=state,
            value_template="{{ value_json.where }}",
            icon="mdi:account-eye",
            device=HaDevice(identifiers=[f"{self.config.node_id}_hub"], name="FaceFleet hub", model="FaceFleet hub"),
        )

    # what the hub calls ---------------------------------------------------------------------------------
    def start(self, people: Callable[[], Iterable[Named]], devices: Callable[[], Iterable[DeviceInfo]]) -> None:
        """At hub start: announce everyone and every known camera again; remove what went while it was away.
        The lists are read only when enabled."""
        if not self.config.enabled:
            return
        everyone = list(people())
        for gone in self._people - {p.id for p in everyone}:
            self.person_removed(gone)
        for person in everyone:
            self.person(person)
        for device in devices():
            self.device(device)

    def device_status(self, status: DeviceStatus) -> None:
        """An online status: configs for its cameras, removal for cameras it no longer has."""
        if status.state == "online":
            self.device(_StatusDevice(status.device_id, status.agent_version, status.cameras))

    def device(self, device: DeviceInfo) -> None:
        if not self.config.enabled:
            return
        cameras = set(device.cameras)
        with self._lock:
            before = self._cameras.get(device.id, set())
            for camera in sorted(cameras):
                self._send_config(
                    self.config_topic(self.camera_object(device.id, camera)),
                    self.camera_config(device, camera).model_dump_json(exclude_none=True).encode(),
                )
            for camera in before - cameras:
                self._remove(self.camera_object(device.id, camera), self.camera_topic(device.id, camera))
            if before != cameras:
                self._cameras[device.id] = cameras
                self._save()

    def device_removed(self, device_id: str) -> None:
        if not self.config.enabled:
            return
        with self._lock:
            for camera in self._cameras.pop(device_id, set()):
                self._remove(self.camera_object(device_id, camera), self.camera_topic(device_id, camera))
            self._save()

    def person(self, person: Named) -> None:
        """A person created, renamed or enrolled: (re)announce their sensor, within `max_people`."""
        if not (self.config.enabled and self.config.people):
            return
        with self._lock:
            if person.id not in self._people and len(self._people) >= self.config.max_people:
                log.warning(
                    "home_assistant.max_people (%d) reached: no sensor for %s", self.config.max_people, person.id
                )
                return
            self._send_config(
                self.config_topic(self.person_object(person.id)),
                self.person_config(person).model_dump_json(exclude_none=True).encode(),
            )
            if person.id not in self._people:
                self._people.add(person.id)
                self._save()

    def person_removed(self, person_id: str) -> None:
        """A deleted person: their sensor goes, and the retained state of each camera that last saw them."""
        if not self.config.enabled:
            return
        with self._lock:
            if person_id in self._people:
                self._remove(self.person_object(person_id), self.person_topic(person_id))
                self._people.discard(person_id)
            for topic in [t for t, p in self._camera_people.items() if p == person_id]:
                self._send(topic, b"")
                del self._camera_people[topic]
            self._save()

    def track_event(self, event: TrackEvent) -> None:
        """A new event: camera state on an identity or an ended track; person state when named."""
        if not self.config.enabled or event.type == "track_started":
            return
        camera = CameraState(
            name=event.name or "unknown",
            person_id=event.person_id,
            confidence=event.confidence,
            device_id=event.device_id,
            camera=event.camera,
            event_id=event.event_id,
            ts=event.ts,
        )
        topic = self.camera_topic(event.device_id, event.camera)
        self._send(topic, camera.model_dump_json().encode())
        self._camera_names(topic, event.person_id)
        if event.person_id and event.person_id in self._people:
            where = PersonState(
                where=f"{event.device_id} {event.camera}",
                device_id=event.device_id,
                camera=event.camera,
                confidence=event.confidence,
                event_id=event.event_id,
                ts=event.ts,
            )
            self._send(self.person_topic(event.person_id), where.model_dump_json().encode())

    def _camera_names(self, topic: str, person_id: str | None) -> None:
        """Remember which person a camera's retained state names (saved when that changes)."""
        with self._lock:
            if self._camera_people.get(topic) == person_id:
                return
            if person_id is None:
                self._camera_people.pop(topic, None)
            else:
                self._camera_people[topic] = person_id
            self._save()

    # plumbing -------------------------------------------------------------------------------------------
    def _remove(self, object_id: str, state_topic: str) -> None:
        """The retained state first, then the config: one client's QoS 1 messages arrive in order, so whoever
        sees the config gone has already seen the state gone."""
        self._camera_people.pop(state_topic, None)
        self._send(state_topic, b"")
        self._configs.pop(self.config_topic(object_id), None)
        self._send(self.config_topic(object_id), b"")

    def _send_config(self, topic: str, payload: bytes) -> None:
        """A discovery config, unless the same one was the last sent on its topic."""
        digest = hashlib.sha256(payload).digest()[:16]
        if self._configs.get(topic) != digest:
            self._configs[topic] = digest
            self._send(topic, payload)

    def _send(self, topic: str, payload: bytes) -> None:
        try:
            self._publish(topic, payload)
        except Exception:  # Home Assistant is a view: a failed publish must not fail an enrollment
            log.exception("publishing %s for Home Assistant failed", topic)

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "cameras": {d: sorted(c) for d, c in self._cameras.items()},
                    "people": sorted(self._people),
                    "camera_people": self._camera_people,
                }
            )
        )
        tmp.replace(self.state_file)


@dataclass(frozen=True)
class HomeAssistantFollower:
    """Home Assistant's person sensors, kept in step with every committed library write."""

    library: Library
    home_assistant: HomeAssistant

    def person_changed(self, person_id: str) -> None:
        self.home_assistant.person(self.library.person(person_id))

    def samples_removed(self, sample_ids: list[str]) -> None:
        """A person's sensor shows where they were last seen, not their samples: nothing to do."""

    def person_removed(self, person_id: str) -> None:
        self.home_assistant.person_removed(person_id)
