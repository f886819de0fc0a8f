"""The shipped Mosquitto config, password script and ACL, on the real broker.

A device writes only its own topics; nobody can take another client's id (the hub's included); plain
MQTT is on loopback only and the network listener is TLS.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BrokerClient, ShippedBroker
from tooling.sim.broker import HUB_USER, SHIPPED


def test_device_writes_only_its_own_topics(shipped_broker: ShippedBroker) -> None:
    hub = BrokerClient(shipped_broker.setup, HUB_USER)
    device = BrokerClient(shipped_broker.setup, "door-1", tls=True)
    assert hub.accepted and device.accepted
    hub.client.subscribe("facefleet/+/status", qos=1)
    device.client.subscribe([("facefleet/door-1/updates", 1), ("facefleet/door-2/updates", 1)])
    threading.Event().wait(0.3)
    for topic in ("facefleet/door-2/status", "facefleet/door-1/status"):  # spoofed first, own second
        device.client.publish(topic, b"{}", qos=1).wait_for_publish(5)
    for topic in ("facefleet/door-2/updates", "facefleet/door-1/updates"):
        hub.client.publish(topic, b"announcement", qos=1).wait_for_publish(5)
    threading.Event().wait(1.0)
    assert hub.seen == ["facefleet/door-1/status"]
    assert device.seen == ["facefleet/door-1/updates"]
    for client in (hub, device):
        client.close()


def test_wrong_password_is_refused(shipped_broker: ShippedBroker) -> None:
    client = BrokerClient(shipped_broker.setup, "door-1", password="not-the-password", tls=True)
    client.close()
    assert client.connack and client.connack[0].is_failure


@pytest.mark.parametrize("tls", [False, True], ids=["loopback listener", "TLS listener"])
def test_no_device_can_take_the_hubs_client_id(shipped_broker: ShippedBroker, tls: bool) -> None:
    """`use_username_as_clientid`: door-2 asking for the hub's client id gets its own, the hub stays."""
    hub = BrokerClient(shipped_broker.setup, HUB_USER, client_id="facefleet-hub")
    intruder = BrokerClient(shipped_broker.setup, "door-2", client_id="facefleet-hub", tls=tls)
    assert hub.accepted and intruder.accepted
    sent = intruder.client.publish("facefleet/door-2/status", b"{}", qos=1)  # a round trip: the broker is done
    sent.wait_for_publish(5)
    assert hub.disconnects == [] and hub.client.is_connected()
    log = shipped_broker.log.read_text()
    assert re.search(r"New client connected .* as door-2 \(.*u'door-2'\)", log), log
    for client in (hub, intruder):
        client.close()


def test_shipped_config_listens_in_plain_text_only_on_loopback() -> None:
    """Every listener without a certificate binds 127.0.0.1; every listener ties client ids to users."""
    blocks = re.split(r"^listener ", (SHIPPED / "mosquitto.conf").read_text(), flags=re.M)[1:]
    assert len(blocks) == 2
    for block in blocks:
        address = block.split("\n", 1)[0].split()
        assert "use_username_as_clientid true" in block
        if "certfile" not in block:
            assert address[1:] == ["127.0.0.1"], f"plain listener on {address}"
        else:
            assert "cafile" in block and "keyfile" in block and address == ["8883"]


def test_make_passwd_refuses_the_reserved_names(tmp_path: Path) -> None:
    devices = tmp_path / "devices.txt"
    devices.write_text("door-1\nfacefleet-hub\n")
    done = subprocess.run(
        ["sh", str(SHIPPED / "make-passwd.sh"), str(devices), str(tmp_path / "out")], capture_output=True, text=True
    )
    assert done.returncode == 2 and "reserved" in done.stderr


def test_no_device_may_write_crops_topics_nothing_reads(shipped_broker: ShippedBroker) -> None:
    """Retained crops under `<id>/crops/#` would sit in the broker and go to every new subscriber."""
    device = BrokerClient(shipped_broker.setup, "door-1", tls=True)
    device.client.publish("facefleet/door-1/crops/e1", b"\xff" * 200_000, qos=1, retain=True).wait_for_publish(5)
    device.client.publish("facefleet/door-1/status", b"{}", qos=1, retain=True).wait_for_publish(5)  # after it
    late = BrokerClient(shipped_broker.setup, "facefleet-monitor")  # a new subscriber gets what is retained
    late.client.subscribe([("facefleet/door-1/crops/#", 1), ("facefleet/door-1/status", 1)])
    deadline = time.monotonic() + 10
    while "facefleet/door-1/status" not in late.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert late.seen == ["facefleet/door-1/status"]  # the retained status, and no crop
    for name in ("facefleet.acl", "bridge.acl", "bridge.conf"):
        assert "crops" not in (SHIPPED / name).read_text(), name
    for client in (device, late):
        client.close()
