"""TLS with a CA made at test time: the agent verifies the broker and the hub, and refuses impostors.

A real Mosquitto runs the shipped config (TLS listener, certificate from a `LocalCa` made now). The agent's
MQTT link connects and delivers over it; given another CA, or facing a broker whose certificate (from the
right CA) names another host, it never connects. (HTTPS to the hub: tests/hub/test_https.py.)
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.config import MqttConfig
from edge.deliver.mqtt_link import MqttLink
from edge.deliver.outbox import Outbox
from facefleet.wire import DeviceStatus
from hub.localca import LocalCa
from tests.conftest import ShippedBroker, free_port
from tests.edge.conftest import Subscriber

PASSWORD_ENV = "TLS_TEST_MQTT_PASSWORD"


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def link_to(tmp_path: Path, port: int, ca_file: Path) -> MqttLink:
    config = MqttConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "username": "edge-test",
            "password_env": PASSWORD_ENV,
            "reconnect_min_s": 1,
            "reconnect_max_s": 2,
            "tls": {"ca_file": str(ca_file)},
        }
    )
    outbox = Outbox(tmp_path / f"outbox-{port}-{ca_file.stem}.db", max_events=100)
    return MqttLink(config, "edge-test", outbox, DeviceStatus(device_id="edge-test", state="online"))


@pytest.fixture
def agent_password(shipped_broker: ShippedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, shipped_broker.password("edge-test"))


@pytest.fixture
def impostor(tmp_path: Path, shipped_broker: ShippedBroker) -> Iterator[int]:
    """A second broker like the first, with a certificate from the same CA for `broker.example` only."""
    wrong_name = shipped_broker.setup.ca.issue("impostor", hosts=("broker.example",))
    port = free_port()
    conf = shipped_broker.setup.conf.read_text()
    conf = re.sub(rf"^listener {shipped_broker.setup.plain_port} .*$", "", conf, flags=re.M)
    conf = re.sub(rf"^listener {shipped_broker.setup.tls_port} ", f"listener {port} ", conf, flags=re.M)
    conf = re.sub(r"^certfile .*$", f"certfile {wrong_name.cert}", conf, flags=re.M)
    conf = re.sub(r"^keyfile .*$", f"keyfile {wrong_name.key}", conf, flags=re.M)
    conf = re.sub(r"^persistence_location .*$", f"persistence_location {tmp_path}/", conf, flags=re.M)
    (tmp_path / "impostor.conf").write_text(conf)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [binary, "-c", str(tmp_path / "impostor.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_until(lambda: listening(port), 10, "the impostor broker")
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.mark.usefixtures("agent_password")
def test_the_agent_verifies_the_broker(tmp_path: Path, shipped_broker: ShippedBroker) -> None:
    link = link_to(tmp_path, shipped_broker.setup.tls_port, shipped_broker.setup.ca_file)
    observer = Subscriber(
        shipped_broker.setup.plain_port,
        "facefleet/edge-test/events",
        auth=("observer-1", shipped_broker.password("observer-1")),
    )
    try:
        link.outbox.append("facefleet/edge-test/events", lambda seq, eid: json.dumps({"seq": seq}).encode())
        link.start()
        observer.wait_for(lambda s: s.json("/events") == [{"seq": 1}], 20, "the event over TLS")
        wait_until(lambda: link.outbox.backlog == 0, 20, "its PUBACK")
    finally:
        observer.close()
        link.stop()
        link.outbox.close()


@pytest.mark.usefixtures("agent_password")
@pytest.mark.parametrize("case", ["another CA", "another host name"])
def test_the_agent_refuses_a_broker_it_cannot_verify(
    tmp_path: Path, shipped_broker: ShippedBroker, case: str, request: pytest.FixtureRequest
) -> None:
    if case == "another CA":  # the real broker, but the agent trusts a CA that did not sign it
        port, ca_file = shipped_broker.setup.tls_port, LocalCa(tmp_path / "other", "other").cert_file
    else:  # the right CA, but the certificate names broker.example, not 127.0.0.1
        port, ca_file = request.getfixturevalue("impostor"), shipped_broker.setup.ca_file
    link = link_to(tmp_path, port, ca_file)
    link.outbox.append("facefleet/edge-test/events", lambda seq, eid: json.dumps({"seq": seq}).encode())
    link.start()
    try:
        wait_until(lambda: link._failed_connects >= 2, 20, "two failed connects")
        assert link.connects == 0 and not link.connected and link.outbox.backlog == 1
    finally:
        link.stop()
        link.outbox.close()
