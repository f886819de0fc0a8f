"""Shared fixtures: real data from ../shared/data, the real models, a real Mosquitto broker on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tooling.sim.broker import BrokerSetup

if TYPE_CHECKING:
    from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
CLIPS = SHARED_DATA / "clips"
LFW = SHARED_DATA / "lfw"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hub-db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the hub's store in the hub and system tests: SQLite files (default) or a PostgreSQL server "
        "the tests start",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer | None]:
    if request.config.getoption("--hub-db") != "postgresql":
        yield None
        return
    from tests.postgres import PostgresServer  # here: tests.postgres imports this module

    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def hub_database(postgres_server: PostgresServer | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """Each test's PostgreSQL database (its URL in FACEFLEET_HUB_DATABASE_URL, the default of
    `database.url`, for hubs in this process and in the ones it starts), or None on SQLite."""
    from hub.settings import DATABASE_URL_ENV

    if postgres_server is None:
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield None
        return
    url = postgres_server.new_database()
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared data set is missing at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pipeline():  # type: ignore[no-untyped-def]
    """The real FP32 face pipeline (models converted by `facefleet models fetch`)."""
    from models.pipeline import FacePipeline

    return FacePipeline.from_config()


@pytest.fixture(scope="session")
def cohort(pipeline):  # type: ignore[no-untyped-def]
    """(1000, 128) impostor cohort embeddings by the FP32 embedder (`facefleet models cohort`, run by setup)."""
    from models.cohort import cohort_path, pipeline_cohort

    embeddings = pipeline_cohort(pipeline)
    if embeddings is None:
        pytest.fail(f"no impostor cohort at {cohort_path()}: run `facefleet models cohort` (scripts/setup.sh does)")
    return embeddings


class MosquittoProcess:
    """Start and stop a Mosquitto process on its config file; `start` returns once every port listens."""

    conf: Path
    ports: tuple[int, ...]
    log: Path | None = None

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with open(self.log or "/dev/null", "ab") as out:
            self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        for port in self.ports:
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"mosquitto did not listen on {port}") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class Broker(MosquittoProcess):
    """A Mosquitto process on 127.0.0.1:<port> that tests can stop and start again on the same port.

    Started as root, Mosquitto 2 drops to the `mosquitto` user, which cannot write the test's temp dir, so
    its persistence file would silently never appear and a restart would forget every session: `user root`
    keeps the privileges (it has no effect when the tests do not run as root).
    """

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.port = free_port()
        self.ports = (self.port,)
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n"
            f"persistence_location {workdir}/\nautosave_interval 1\nlog_dest file {workdir}/mosquitto.log\n"
        )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


SITE_DEVICES = ("door-1", "door-2", "lobby-1", "edge-test")


class ShippedBroker(MosquittoProcess):
    """Mosquitto with the shipped config (`tooling.sim.broker`): passwords for the hub, the monitor, the
    SITE_DEVICES and two observers; plain MQTT on a loopback port, TLS on another. Restartable."""

    def __init__(self, workdir: Path) -> None:
        from tooling.sim.broker import prepare_broker

        super().__init__()
        self.setup = prepare_broker(workdir, list(SITE_DEVICES), free_port(), free_port(), ("observer-1", "observer-2"))
        self.conf = self.setup.conf
        self.log = workdir / "mosquitto" / "mosquitto.log"
        self.ports = (self.setup.plain_port, self.setup.tls_port)

    def password(self, user: str) -> str:
        return self.setup.passwords[user]


@pytest.fixture
def shipped_broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd not installed")
    b = ShippedBroker(tmp_path)
    b.start()
    yield b
    b.stop()


class BrokerClient:
    """A paho MQTT 5 client that records its connect answer and every disconnect."""

    def __init__(
        self, broker: BrokerSetup, user: str, password: str | None = None, client_id: str = "", tls: bool = False
    ) -> None:
        self.connack: list[mqtt.ReasonCode] = []
        self.disconnects: list[mqtt.ReasonCode] = []
        self.seen: list[str] = []
        self._done = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or user, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, broker.passwords[user] if password is None else password)
        if tls:
            self.client.tls_set(ca_certs=str(broker.ca_file))
        self.client.on_connect = lambda c, u, f, rc, p: (self.connack.append(rc), self._done.set())
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(rc)
        self.client.on_message = lambda c, u, m: self.seen.append(m.topic)
        port = broker.tls_port if tls else broker.plain_port
        self.client.connect("127.0.0.1", port, clean_start=True)
        self.client.loop_start()
        self._done.wait(10)

    @property
    def accepted(self) -> bool:
        return bool(self.connack) and not self.connack[0].is_failure

    def send(self, topic: str, payload: bytes | str) -> None:
        """QoS 1, waiting for the PUBACK: the broker has taken it (and routed it) when this returns."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), f"no PUBACK for {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
