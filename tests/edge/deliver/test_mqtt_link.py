"""The MQTT link against real Mosquitto brokers: delivery from the outbox, status, refused connects."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from edge.config import MqttConfig
from edge.deliver.mqtt_link import MqttLink
from edge.deliver.outbox import Outbox
from facefleet.wire import DeviceStatus
from tests.conftest import free_port
from tests.edge.conftest import Subscriber


def make_link(tmp_path: Path, port: int) -> MqttLink:
    outbox = Outbox(tmp_path / "outbox.db", max_events=1000)
    config = MqttConfig(host="127.0.0.1", port=port, reconnect_min_s=1, reconnect_max_s=2)
    return MqttLink(config, "dev-1", outbox, DeviceStatus(device_id="dev-1", state="online"))


def test_outbox_rows_are_delivered_in_order_and_then_forgotten(
    tmp_path: Path, broker: Any, subscriber: Subscriber
) -> None:
    link = make_link(tmp_path, broker.port)
    for _ in range(30):
        link.outbox.append("facefleet/dev-1/events", lambda seq, eid: json.dumps({"seq": seq}).encode())
    link.start()
    subscriber.wait_for(lambda s: len(s.json("/events")) >= 30, 20, "30 events")
    subscriber.wait_for(lambda s: link.outbox.backlog == 0, 10, "acks to empty the outbox")
    assert [e["seq"] for e in subscriber.json("/events")] == list(range(1, 31))
    link.stop()
    statuses = subscriber.json("/status")
    assert [s["state"] for s in statuses] == ["online", "offline"], "offline published by us on a clean stop"
    link.outbox.close()


def test_rows_left_by_a_previous_process_are_sent_after_restart(
    tmp_path: Path, broker: Any, subscriber: Subscriber
) -> None:
    first = make_link(tmp_path, free_port())  # no broker there: nothing can be sent
    first.start()
    first.outbox.append("facefleet/dev-1/events", lambda seq, eid: json.dumps({"seq": seq}).encode())
    time.sleep(0.5)
    first.stop()
    first.outbox.close()
    second = make_link(tmp_path, broker.port)
    second.start()
    subscriber.wait_for(lambda s: [e["seq"] for e in s.json("/events")] == [1], 15, "the stored event")
    second.stop()
    second.outbox.close()


def test_a_refused_connect_is_not_recorded_as_connected(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "closed.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        link = make_link(tmp_path, port)
        link.start()
        time.sleep(2.5)
        assert not link.connected and link.connects == 0
        link.stop()
        link.outbox.close()
    finally:
        proc.terminate()
        proc.wait(5)


def test_a_puback_saying_nobody_subscribed_keeps_the_rows(tmp_path: Path, broker: Any) -> None:
    """MQTT 5 reason 0x10 ("no matching subscribers": the hub's session is gone) is not a delivery: the rows
    stay in the outbox and go out, in order, once somebody subscribes."""
    link = make_link(tmp_path, broker.port)
    link.start()
    for _ in range(5):
        link.outbox.append("facefleet/dev-1/events", lambda seq, eid: json.dumps({"seq": seq}).encode())
    deadline = time.monotonic() + 20
    while link.outbox.backlog and getattr(link, "unheard", 0) < 5:  # main's code acks (and deletes) them
        assert time.monotonic() < deadline, "no PUBACK came back"
        time.sleep(0.05)
    assert link.outbox.backlog == 5, "rows nobody received were deleted from the outbox"
    sub = Subscriber(broker.port, topic="facefleet/dev-1/events", client_id="late-hub")
    try:
        sub.wait_for(lambda s: link.outbox.backlog == 0, 30, "the rows to be resent and acknowledged")
        seqs = [e["seq"] for e in sub.json("/events")]
        assert sorted(set(seqs)) == [1, 2, 3, 4, 5] and seqs[:5] == [1, 2, 3, 4, 5]
    finally:
        sub.close()
        link.stop()
        link.outbox.close()
