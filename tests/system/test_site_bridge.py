"""A site broker bridged to the central broker (the shipped bridge.conf and bridge.acl), both real Mosquitto.

Simulated devices (`tooling.sim.load_device`) publish through the site broker, which logs in to the central
broker over TLS as `bridge-site-a` (client id tied to the user name, as the central config requires). The
central broker is SIGKILLed at a fixed point of the run (after the first tracks arrived, before the
second ones are published) and started again after they were acknowledged by the site broker: every
event arrives exactly once by `event_id` at a persistent subscriber on the central broker (the hub's user
and session), in order per device, and announcements still flow the other way.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.localca import LocalCa
from tooling.sim.load_device import BrokerAddress, Fleet
from tooling.sim.procs import Processes, free_port, listening, wait_for

SHIPPED = Path(__file__).resolve().parents[2] / "hub" / "mosquitto"
DEVICES = ("site-dev-1", "site-dev-2", "site-dev-3")
SITE = "site-a"


def add_user(passwd: Path, user: str, password: str) -> None:
    subprocess.run(
        ["mosquitto_passwd", *([] if passwd.exists() else ["-c"]), "-b", str(passwd), user, password],
        check=True,
        capture_output=True,
        timeout=60,
    )


class Brokers:
    """The central broker (TLS listener for bridges, plain loopback one for the hub) and one site broker."""

    def __init__(self, workdir: Path, procs: Processes) -> None:
        self.workdir, self.procs = workdir, procs
        self.central_tls, self.central_plain, self.site_port = free_port(), free_port(), free_port()
        self.passwords = {name: f"pw-{name}-0123456789" for name in ("facefleet-hub", f"bridge-{SITE}", *DEVICES)}
        ca = LocalCa(workdir / "tls")
        self.ca_file, self.cert = ca.cert_file, ca.issue("central", hosts=("localhost", "127.0.0.1"))
        self.central_conf = self._central()
        self.site_conf = self._site()

    def _central(self) -> Path:
        folder = self.workdir / "central"
        folder.mkdir()
        for user in ("facefleet-hub", f"bridge-{SITE}"):
            add_user(folder / "passwd", user, self.passwords[user])
        acl = (SHIPPED / "facefleet.acl").read_text() + "\n" + (SHIPPED / "bridge.acl").read_text()
        (folder / "acl").write_text(acl.replace("SITE", SITE))
        conf = folder / "mosquitto.conf"
        conf.write_text(
            f"per_listener_settings false\nallow_anonymous false\npassword_file {folder}/passwd\n"
            f"acl_file {folder}/acl\npersistence true\npersistence_location {folder}/\n"
            "autosave_interval 1\nuser root\n"
            f"log_dest file {folder}/mosquitto.log\nlog_type all\n"
            f"listener {self.central_plain} 127.0.0.1\nuse_username_as_clientid true\n"
            f"listener {self.central_tls} 127.0.0.1\nuse_username_as_clientid true\n"
            f"cafile {self.ca_file}\ncertfile {self.cert.cert}\nkeyfile {self.cert.key}\ntls_version tlsv1.2\n"
        )
        return conf

    def _site(self) -> Path:
        folder = self.workdir / "site"
        folder.mkdir()
        for device in DEVICES:
            add_user(folder / "passwd", device, self.passwords[device])
        shutil.copy(SHIPPED / "facefleet.acl", folder / "acl")
        bridge = (SHIPPED / "bridge.conf").read_text().replace("SITE", SITE)
        bridge = bridge.replace("central.example.org:8883", f"localhost:{self.central_tls}")
        bridge = bridge.replace("BRIDGE-PASSWORD", self.passwords[f"bridge-{SITE}"])
        bridge = bridge.replace("/etc/mosquitto/certs/central-ca.crt", str(self.ca_file))
        conf = folder / "mosquitto.conf"
        conf.write_text(
            f"per_listener_settings false\nallow_anonymous false\npassword_file {folder}/passwd\n"
            f"acl_file {folder}/acl\npersistence_location {folder}/\nuser root\n"
            f"log_dest file {folder}/mosquitto.log\nlog_type all\n"
            f"listener {self.site_port} 127.0.0.1\nuse_username_as_clientid true\n" + bridge
        )
        return conf

    def start(self, name: str) -> None:
        conf, port = {"central": (self.central_conf, self.central_tls), "site": (self.site_conf, self.site_port)}[name]
        self.procs.start(name, [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
        wait_for(lambda: listening(port), name, 15, every_s=0.05)

    def log(self, name: str) -> str:
        return (self.workdir / name / "mosquitto.log").read_text(errors="replace")


class Counter:
    """The hub's view on the central broker: user facefleet-hub, a persistent MQTT 5 session, QoS 1."""

    def __init__(self, port: int, password: str) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, list[tuple[str, int]]] = {}  # event id -> (device, seq) per delivery
        self.retained: dict[str, bytes] = {}
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="facefleet-hub", protocol=mqtt.MQTTv5)
        self.client.username_pw_set("facefleet-hub", password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [("facefleet/+/events", 1), ("facefleet/+/status", 1), ("facefleet/_bridge/#", 1)]
        )
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 2)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def _message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            if message.topic.endswith("/events"):
                event = json.loads(message.payload)
                self.events.setdefault(event["event_id"], []).append((event["device_id"], event["seq"]))
            else:
                self.retained[message.topic] = message.payload

    def has(self, event_ids: set[str]) -> bool:
        with self.lock:
            return event_ids <= self.events.keys()

    def bridge_state(self) -> bytes:
        with self.lock:
            return self.retained.get(f"facefleet/_bridge/{SITE}/connected", b"")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Brokers]:
    procs = Processes(tmp_path / "logs")
    try:
        yield Brokers(tmp_path, procs)
    finally:
        procs.stop_all()


def acked(fleet: Fleet) -> set[str]:
    return {event_id for device in fleet.devices for event_id in device.acked}


def publish_tracks(fleet: Fleet, tracks: int) -> None:
    """Each device publishes `tracks` tracks; returns once the site broker acknowledged every event."""
    for device in fleet.devices:
        for _ in range(tracks):
            fleet.publish_track(device)
    assert fleet.pump_until(fleet.all_acked, 30), "the site broker did not acknowledge every event"


def test_central_broker_killed_and_restarted_loses_nothing(brokers: Brokers) -> None:
    brokers.start("central")
    counter = Counter(brokers.central_plain, brokers.passwords["facefleet-hub"])
    assert counter.subscribed.wait(15)
    brokers.start("site")
    wait_for(lambda: counter.bridge_state() == b"1", "the bridge to connect", 30)
    fleet = Fleet(BrokerAddress("127.0.0.1", brokers.site_port, passwords=brokers.passwords), list(DEVICES))
    try:
        assert fleet.connect(timeout_s=30) == len(DEVICES)
        publish_tracks(fleet, 1)
        wait_for(lambda: counter.has(acked(fleet)), "the first tracks at the central broker", 30)
        seen = len(brokers.log("central"))  # an autosave after this has the sessions and retained statuses
        wait_for(lambda: "Saving in-memory database" in brokers.log("central")[seen:], "an autosave", 15)

        brokers.procs.stop("central", signal.SIGKILL)  # the kill point: first tracks delivered, second not sent
        publish_tracks(fleet, 2)  # acknowledged by the site broker, queued for the bridge
        brokers.start("central")
        publish_tracks(fleet, 1)  # while the bridge and the hub reconnect

        sent = acked(fleet)
        assert len(sent) == len(DEVICES) * 4 * 3
        wait_for(lambda: counter.has(sent), "every event at the central broker after the restart", 60)
        with counter.lock:
            assert set(counter.events) == sent  # nothing lost, nothing foreign
            first = [deliveries[0] for deliveries in counter.events.values()]  # repeats allowed (QoS 1)
        for d in DEVICES:  # 4 tracks of 3 events each, no gap
            assert sorted(seq for device, seq in first if device == d) == list(range(1, 13))
        assert counter.bridge_state() == b"1"
        assert all(json.loads(counter.retained[f"facefleet/{d}/status"])["state"] == "online" for d in DEVICES)
        announcement_reaches_site(brokers, counter)
    finally:
        fleet.close()
        counter.close()


def announcement_reaches_site(brokers: Brokers, counter: Counter) -> None:
    """Hub -> device through the bridge: a retained announcement on the central broker reaches a device that
    subscribes at the site afterwards (retained there too)."""
    payload = b'{"rollout_id": "r-bridge"}'
    counter.client.publish(f"facefleet/{DEVICES[0]}/updates", payload, qos=1, retain=True).wait_for_publish(10)
    got: list[bytes] = []
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=DEVICES[0], protocol=mqtt.MQTTv5)
    device.username_pw_set(DEVICES[0], brokers.passwords[DEVICES[0]])
    device.on_connect = lambda c, u, f, rc, p: c.subscribe(f"facefleet/{DEVICES[0]}/updates", qos=1)
    device.on_message = lambda c, u, m: got.append(bytes(m.payload))
    device.connect("127.0.0.1", brokers.site_port)
    device.loop_start()
    try:
        wait_for(lambda: payload in got, "the announcement at the site", 30)
    finally:
        device.disconnect()
        device.loop_stop()
