"""Home Assistant MQTT discovery with a real Mosquitto: what Home Assistant would subscribe to and see.

An observer subscribes to the discovery prefix, the hub's state topics and the devices' status, as Home
Assistant does; a simulated device (the load harness's) reports online and publishes track events; a
person is enrolled over HTTP. Each config is checked against the MQTT sensor schema's required fields, and
its state topic against what the config promises (the keys its templates read, JSON attributes).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from facefleet.wire import TrackEvent
from hub.settings import HubSettings, MqttConfig
from tests.conftest import CLIPS
from tests.hub.conftest import HubServer
from tooling.sim.load_device import CAMERA, BrokerAddress, Fleet
from tooling.sim.procs import wait_for

PREFIX = "homeassistant"
DEVICE = "cam-1"
# The MQTT sensor's discovery fields this integration relies on, with the type each must have
# (Home Assistant: `state_topic` is required; `unique_id` is required for the entity to join a device; a
# `device` needs `identifiers` or `connections`; an `availability` entry needs `topic`).
REQUIRED = {
    "name": str,
    "unique_id": str,
    "state_topic": str,
    "json_attributes_topic": str,
    "value_template": str,
    "device": dict,
}


class Observer:
    """Latest payload per topic (b"" once a retained message was cleared), like Home Assistant's view."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.latest: dict[str, bytes] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="home-assistant")
        self.client.on_message = self._message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [(f"{PREFIX}/#", 1), ("facefleet/_ha/#", 1), ("facefleet/+/status", 1)]
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.latest[message.topic] = bytes(message.payload)

    def get(self, topic: str) -> bytes | None:
        with self.lock:
            return self.latest.get(topic)

    def configs(self) -> dict[str, dict[str, object]]:
        with self.lock:
            return {t: json.loads(p) for t, p in self.latest.items() if t.startswith(PREFIX) and p}

    def wait(self, topic: str, check: Callable[[bytes], bool], what: str) -> bytes:
        wait_for(lambda: (p := self.get(topic)) is not None and check(p), what, 20, every_s=0.05)
        payload = self.get(topic)
        assert payload is not None
        return payload

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def check_config(topic: str, config: dict[str, object]) -> None:
    """The discovery topic layout and the schema's required fields."""
    assert re.fullmatch(rf"{PREFIX}/sensor/facefleet/[A-Za-z0-9_-]+/config", topic), topic
    for key, kind in REQUIRED.items():
        assert isinstance(config.get(key), kind), (topic, key)
    device = config["device"]
    assert isinstance(device, dict) and device.get("identifiers") and device.get("name")
    assert config["json_attributes_topic"] == config["state_topic"]
    for entry in config.get("availability", []):  # type: ignore[attr-defined]
        assert entry["topic"] and entry["payload_available"] == "online" and entry["payload_not_available"]


def check_state(config: dict[str, object], payload: bytes) -> dict[str, object]:
    """The state is a JSON object with every key the config's value_template reads."""
    state = json.loads(payload)
    assert isinstance(state, dict)
    for key in re.findall(r"value_json\.(\w+)", str(config["value_template"])):
        assert key in state, (key, state)
    return state


def named_event(person_id: str, name: str, seq: int) -> TrackEvent:
    now = datetime.now(timezone.utc)
    return TrackEvent(
        event_id=f"ha-test-{seq:04d}",
        seq=seq,
        type="identity_confirmed",
        device_id=DEVICE,
        camera=CAMERA,
        track_id=seq,
        ts=now,
        started_at=now,
        person_id=person_id,
        name=name,
        confidence=0.71,
        votes={person_id: 9},
        frames=9,
    )


@pytest.fixture
def ha_hub(start_hub: Callable[..., HubServer], broker) -> HubServer:  # type: ignore[no-untyped-def]
    return start_hub(
        mqtt=MqttConfig(port=broker.port, client_id="hub-test"),
        home_assistant={"enabled": True, "discovery_prefix": PREFIX},
    )


def test_sensors_per_camera_and_person_follow_events_and_go_away(ha_hub: HubServer, broker) -> None:  # type: ignore[no-untyped-def]
    observer = Observer(broker.port)
    fleet = Fleet(BrokerAddress("127.0.0.1", broker.port), [DEVICE])
    ha = ha_hub.hub.home_assistant
    camera_config_topic = ha.config_topic(ha.camera_object(DEVICE, CAMERA))
    try:
        assert fleet.connect() == 1
        camera = json.loads(observer.wait(camera_config_topic, bool, "the camera's discovery config"))
        check_config(camera_config_topic, camera)
        assert camera["name"] == f"{CAMERA} last person" and camera["device"]["name"] == DEVICE  # type: ignore[index]
        availability = camera["availability"][0]  # type: ignore[index]
        assert availability["topic"] == f"facefleet/{DEVICE}/status"
        assert json.loads(observer.wait(availability["topic"], bool, "the status"))["state"] == "online"

        with ha_hub.client(ha_hub.enroll) as api:
            photo = CLIPS / "people" / "obama" / "obama.jpg"
            answer = api.post(
                "/api/samples/photos",
                data={"label": "Barack Obama"},
                files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
            )
            assert answer.status_code == 201, answer.text
            person_id = answer.json()["person"]["id"]
            person_config_topic = ha.config_topic(ha.person_object(person_id))
            person = json.loads(observer.wait(person_config_topic, bool, "the person's discovery config"))
            check_config(person_config_topic, person)
            assert person["name"] == "Barack Obama last seen"

            device = fleet.devices[0]
            device.client.publish(
                f"facefleet/{DEVICE}/events", named_event(person_id, "Barack Obama", 1).model_dump_json(), qos=1
            )
            fleet.pump_until(lambda: not device.client.want_write(), 10)
            seen = check_state(camera, observer.wait(str(camera["state_topic"]), bool, "the camera's state"))
            assert (seen["name"], seen["person_id"], seen["confidence"]) == ("Barack Obama", person_id, 0.71)
            where = check_state(person, observer.wait(str(person["state_topic"]), bool, "the person's state"))
            assert (where["where"], where["device_id"], where["camera"]) == (f"{DEVICE} {CAMERA}", DEVICE, CAMERA)

            assert api.delete(f"/api/people/{person_id}").status_code == 200
            observer.wait(person_config_topic, lambda p: p == b"", "the person's config removed")
            assert observer.get(str(person["state_topic"])) == b""

        fleet.close()  # a clean stop: retained `offline`, which the camera sensor's availability follows
        observer.wait(availability["topic"], lambda p: json.loads(p)["state"] == "offline", "offline")
        with ha_hub.client(ha_hub.admin) as admin:
            assert admin.delete(f"/api/devices/{DEVICE}").status_code == 200
            assert admin.delete(f"/api/devices/{DEVICE}").status_code == 404
        observer.wait(camera_config_topic, lambda p: p == b"", "the camera's config removed")
        assert observer.get(availability["topic"]) == b""  # the retained status is cleared too
        assert not observer.configs()  # nothing left announced
    finally:
        fleet.close()  # again after a failure midway (harmless after a clean close)
        observer.close()


def test_enabled_needs_a_broker(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs an mqtt broker"):
        HubSettings(data_dir=tmp_path, home_assistant={"enabled": True})  # type: ignore[arg-type]


def test_a_restarted_hub_removes_what_went_while_it_was_away(tmp_path: Path) -> None:
    from facefleet.wire import DeviceStatus, Topics
    from hub.fleet.home_assistant import HomeAssistant
    from hub.settings import HomeAssistantConfig

    sent: list[tuple[str, bytes]] = []
    config, state = HomeAssistantConfig(enabled=True), tmp_path / "home_assistant.json"

    def hub() -> HomeAssistant:  # a hub process: what it announced is only in the state file
        return HomeAssistant(config, Topics(), lambda topic, payload: sent.append((topic, payload)), state)

    @dataclass(frozen=True)
    class P:
        id: str
        name: str

    first = hub()
    first.device_status(DeviceStatus(device_id=DEVICE, state="online", cameras=["door", "hall"]))
    first.person(P("p1", "Ann"))
    sent.clear()
    again = hub()  # meanwhile the device lost its hall camera and Ann was deleted
    again.start(lambda: [], lambda: [])
    again.device_status(DeviceStatus(device_id=DEVICE, state="online", cameras=["door"]))
    removed = {topic for topic, payload in sent if payload == b""}
    assert again.config_topic(again.person_object("p1")) in removed
    assert again.config_topic(again.camera_object(DEVICE, "hall")) in removed
    assert again.config_topic(again.camera_object(DEVICE, "door")) not in removed


class Arrivals:
    """Every message on some topics, in the order the broker delivered them (retained ones included)."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.lock = threading.Lock()
        self.topics: list[str] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="arrivals")
        self.client.on_message = self._message
        self.client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK"

    def _message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.topics.append(message.topic)

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.topics)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _status(cameras: list[str]) -> str:
    from facefleet.wire import DeviceStatus

    return DeviceStatus(device_id=DEVICE, state="online", agent_version="1", cameras=cameras).model_dump_json()


def test_a_repeated_status_publishes_no_discovery_config_again(ha_hub: HubServer, broker) -> None:  # type: ignore[no-untyped-def]
    arrivals = Arrivals(broker.port, [f"{PREFIX}/#"])
    device = Fleet(BrokerAddress("127.0.0.1", broker.port), [DEVICE])
    ha = ha_hub.hub.home_assistant
    front, back = (ha.config_topic(ha.camera_object(DEVICE, c)) for c in ("front", "back"))
    try:
        assert device.connect() == 1
        client = device.devices[0].client
        for cameras in (["front"],) * 5 + (["front", "back"],):  # five equal statuses, then a second camera
            client.publish(f"facefleet/{DEVICE}/status", _status(cameras), qos=1, retain=True)
        device.pump_until(lambda: not client.want_write(), 10)
        wait_for(lambda: back in arrivals.seen(), "the second camera's config", 20, every_s=0.05)
        assert arrivals.seen().count(front) == 1  # statuses are handled in order: the repeats sent nothing
    finally:
        device.close()
        arrivals.close()


def test_home_assistant_traffic_never_delays_an_update_announcement(ha_hub: HubServer, broker) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    from hub.fleet.home_assistant import _StatusDevice

    hub = ha_hub.hub
    arrivals = Arrivals(broker.port, [f"{PREFIX}/#", "facefleet/+/updates"])
    assert broker.proc is not None
    os.kill(broker.proc.pid, signal.SIGSTOP)  # nothing is acknowledged: what the hub queued shows its order
    try:
        for d in range(30):  # 1,920 sensors of 30 devices' statuses, then an announcement
            hub.home_assistant.device(_StatusDevice(f"flood-{d}", "1", [f"cam-{c}" for c in range(64)]))
        hub.rollouts.start("gallery", "20260101.0001", [DEVICE], [], 60.0)
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    try:
        updates = f"facefleet/{DEVICE}/updates"
        wait_for(lambda: updates in arrivals.seen(), "the announcement", 30, every_s=0.05)
        assert arrivals.seen().index(updates) <= 8  # behind at most the retained queue's max_inflight
        wait_for(lambda: len(arrivals.seen()) == 30 * 64 + 1, "every sensor after it", 60, every_s=0.1)
    finally:
        arrivals.close()
