"""The shipped Mosquitto password script and ACL: a device writes only its own topics."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import ROOT, Broker

MOSQUITTO_DIR = ROOT / "hub" / "mosquitto"
pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed"
)


def credentials(out: Path, user: str) -> tuple[str, str]:
    values = dict(line.split("=", 1) for line in (out / "credentials" / f"{user}.env").read_text().split())
    return values["MQTT_USERNAME"], values["MQTT_PASSWORD"]


def connect(port: int, user: str, password: str) -> tuple[mqtt.Client, mqtt.ReasonCode | None]:
    result: list[mqtt.ReasonCode] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.on_connect = lambda c, u, f, rc, p: (result.append(rc), done.set())
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(10)
    return client, result[0] if result else None


@pytest.fixture
def secured_broker(tmp_path: Path) -> Broker:
    devices = tmp_path / "devices.txt"
    devices.write_text("# fleet\ndev-a\n\ndev-b\n")
    subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-passwd.sh"), str(devices), str(tmp_path / "out")],
        check=True,
        capture_output=True,
    )
    broker = Broker(tmp_path)
    shipped = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
    conf = shipped.replace("listener 1883", f"listener {broker.port} 127.0.0.1")
    conf = conf.replace("/etc/mosquitto/facefleet.passwd", str(tmp_path / "out" / "facefleet.passwd"))
    conf = conf.replace("/etc/mosquitto/facefleet.acl", str(MOSQUITTO_DIR / "facefleet.acl"))
    # run as the test user: the password file is private to it (mode 600)
    broker.conf.write_text(
        conf + f"persistence_location {tmp_path}/\nlog_dest file {tmp_path}/mosquitto.log\n"
        f"user {getpass.getuser()}\n"
    )
    broker.start()
    yield broker  # type: ignore[misc]
    broker.stop()


def test_device_writes_only_its_own_topics(secured_broker: Broker, tmp_path: Path) -> None:
    out = tmp_path / "out"
    hub_seen: list[str] = []
    device_seen: list[str] = []
    hub, rc = connect(secured_broker.port, *credentials(out, "facefleet-hub"))
    assert rc is not None and not rc.is_failure
    hub.on_message = lambda c, u, m: hub_seen.append(m.topic)
    hub.subscribe("facefleet/+/status", qos=1)
    device, rc = connect(secured_broker.port, *credentials(out, "dev-a"))
    assert rc is not None and not rc.is_failure
    device.on_message = lambda c, u, m: device_seen.append(m.topic)
    device.subscribe([("facefleet/dev-a/updates", 1), ("facefleet/dev-b/updates", 1)])
    threading.Event().wait(0.3)
    for topic in ("facefleet/dev-b/status", "facefleet/dev-a/status"):  # spoofed first, own second
        device.publish(topic, b"{}", qos=1).wait_for_publish(5)
    for topic in ("facefleet/dev-b/updates", "facefleet/dev-a/updates"):
        hub.publish(topic, b"announcement", qos=1).wait_for_publish(5)
    threading.Event().wait(1.0)
    assert hub_seen == ["facefleet/dev-a/status"]
    assert device_seen == ["facefleet/dev-a/updates"]
    for client in (hub, device):
        client.disconnect()
        client.loop_stop()


def test_wrong_password_is_refused(secured_broker: Broker, tmp_path: Path) -> None:
    user, _ = credentials(tmp_path / "out", "dev-a")
    client, rc = connect(secured_broker.port, user, "not-the-password")
    client.loop_stop()
    assert rc is not None and rc.is_failure
