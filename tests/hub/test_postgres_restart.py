"""The hub on PostgreSQL while its server is restarted under load (`pg_ctl stop -m fast`, a pause, start):
enrollments, searches and track events over MQTT keep arriving from threads. Every write a client saw succeed
is in the store afterwards (enrollments answered 201, events the broker acknowledged), the work in flight fails
with 503 or waits, and the same hub, never restarted, serves again. Prints the recovery time: from the server
accepting connections again to the first request answered."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.settings import MqttConfig
from tests.conftest import LFW, Broker
from tests.hub.conftest import HubServer
from tests.hub.visitors.conftest import track_event
from tests.postgres import PostgresServer
from tooling.sim.procs import wait_for

OUTAGE_S = 3.0
CONNECT_TIMEOUT_S = 1.0  # short, so that requests during the outage fail (503) rather than all wait it out
PROBE = LFW / "images_deepfunneled" / "Tony_Blair" / "Tony_Blair_0001.jpg"


@dataclass
class Load:
    """One kind of client work, run in a loop on a thread: what each try answered, and when."""

    name: str
    attempt: Callable[[int], tuple[int, str | None]]  # try n -> (status, id of what it wrote or None)
    answers: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status)
    written: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            status, written = self.attempt(n)
            self.answers.append((time.monotonic(), status))
            if written is not None:
                self.written.append(written)
            n += 1
            time.sleep(0.05)

    def ok_after(self, t: float) -> list[float]:
        return [at for at, status in self.answers if at > t and status < 300]


def people_folders() -> list[str]:
    """LFW people with a photo each, one per enrollment (distinct faces: no duplicate refusal)."""
    return sorted(p.name for p in (LFW / "images_deepfunneled").iterdir() if p.is_dir())[:200]


def enrollments(server: HubServer) -> Load:
    client, folders = server.client(server.admin, timeout=60), people_folders()

    def enroll(n: int) -> tuple[int, str | None]:
        name = folders[n % len(folders)]
        photo = LFW / "images_deepfunneled" / name / f"{name}_0001.jpg"
        answer = client.post(
            "/api/samples/photos",
            data={"label": f"{name}-{n}"},
            files=[("files", ("1.jpg", photo.read_bytes(), "image/jpeg"))],
        )
        samples = answer.json().get("samples", []) if answer.status_code == 201 else []
        return answer.status_code, samples[0]["id"] if samples else None

    return Load("enrollments", enroll)


def searches(server: HubServer) -> Load:
    client, probe = server.client(server.enroll, timeout=60), PROBE.read_bytes()

    def search(n: int) -> tuple[int, str | None]:
        return client.post("/api/search", files={"file": ("probe.jpg", probe, "image/jpeg")}).status_code, None

    return Load("searches", search)


def events(device: mqtt.Client) -> Load:
    """Ended tracks of one stranger (templates close to one direction: one visitor, no founding budget hit);
    written once the broker acknowledged them (the device's outbox would then drop its copy)."""
    rng = np.random.default_rng(3)
    face = rng.normal(size=128)

    def send(n: int) -> tuple[int, str | None]:
        template = face + 0.05 * rng.normal(size=128)
        event = track_event(
            f"door-1-{uuid.uuid4().hex[:12]}",
            (template / np.linalg.norm(template)).astype(np.float32),
            None,
            track_id=n,
            seq=n + 1,
        )
        info = device.publish("facefleet/door-1/events", event.model_dump_json().encode(), qos=1)
        info.wait_for_publish(10)
        return (200, event.event_id) if info.is_published() else (599, None)

    return Load("events", send)


@pytest.fixture
def device(broker: Broker) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="door-1", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def stored(server: HubServer, table: str, column: str) -> set[str]:
    with server.hub.db.read() as db:
        return {row[0] for row in db.execute(f"SELECT {column} FROM {table}").fetchall()}


def test_a_postgresql_restart_under_load_loses_no_committed_write_and_the_hub_recovers(
    start_hub: Callable[..., HubServer], own_postgres: PostgresServer, broker: Broker, device: mqtt.Client
) -> None:
    url = own_postgres.new_database()
    server = start_hub(
        mqtt=MqttConfig(port=broker.port, client_id="hub-test"),
        database={"url": url, "connect_timeout_s": CONNECT_TIMEOUT_S},
    )
    loads = [enrollments(server), searches(server), events(device)]
    stop = threading.Event()
    threads = [threading.Thread(target=load.run, args=(stop,), name=load.name) for load in loads]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(load.ok_after(0) for load in loads), "every load answered before the restart", 60)
        own_postgres.stop_server()
        time.sleep(OUTAGE_S)
        own_postgres.start_server()
        back = time.monotonic()
        wait_for(lambda: all(len(load.ok_after(back)) >= 3 for load in loads), "every load answered after", 120)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)

    acked, enrolled = set(loads[2].written), set(loads[0].written)
    wait_for(lambda: acked <= stored(server, "ended_tracks", "event_id"), "every acknowledged event stored", 60)
    lost = len(acked - stored(server, "ended_tracks", "event_id")) + len(enrolled - stored(server, "samples", "id"))
    statuses = Counter(status for load in loads for _, status in load.answers)
    first = min(at for load in loads for at in load.ok_after(back))
    print(
        f"\nPostgreSQL restart under load: {OUTAGE_S:g} s down; recovery {first - back:.3f} s from the server "
        f"accepting connections to the first request answered; answers {dict(sorted(statuses.items()))}; "
        f"enrollments answered 201 {len(enrolled)}, events acknowledged {len(acked)}; lost writes {lost}"
    )
    assert lost == 0
    metrics = server.client().get("/metrics").text
    assert re.search(r"^facefleet_hub_db_reconnects_total [1-9]", metrics, re.M), "the reconnect is counted"
    assert set(statuses) <= {200, 201, 503}, statuses  # the work in flight failed as "try again", no 500
