"""Hub fixtures: the app served by a real uvicorn on a free port, with tokens of each scope; the store on
SQLite files, or (`--hub-db postgresql`) on a real PostgreSQL server started for the session (the
`postgres_server` and `hub_database` fixtures of tests/conftest.py, shared with the system tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from hub.app import create_app
from hub.cli import server_config
from hub.service import Hub
from hub.settings import HubSettings, MqttConfig
from tests.conftest import free_port
from tests.postgres import PostgresServer
from tooling.screenshots import CHROMEDRIVER as CHROMEDRIVER  # the tests skip their pages without it


@pytest.fixture
def db_target(hub_database: str | None, tmp_path: Path) -> Path | str:
    """What a test opens with `HubDb(...)`: its PostgreSQL database, or a SQLite file in its tmp dir."""
    return hub_database or tmp_path / "hub.sqlite"


@dataclass
class HubServer:
    url: str
    hub: Hub
    admin: str
    enroll: str
    device: str
    server: uvicorn.Server
    thread: threading.Thread

    def device_token(self, device_id: str) -> str:
        """A new `device` token bound to `device_id` (it downloads what rollouts target that device)."""
        return self.hub.tokens.create(f"test-{device_id}", ["device"], device_id)[1]

    def client(self, token: str | None = None, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve(settings: HubSettings, pipeline) -> HubServer:  # type: ignore[no-untyped-def]
    app = create_app(settings, pipeline)
    server = uvicorn.Server(server_config(app, settings, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    hub: Hub = app.state.hub
    tokens = {scope: hub.tokens.create(f"test-{scope}", [scope])[1] for scope in ("admin", "enroll")}
    tokens["device"] = hub.tokens.create("test-device", ["device"], "edge-test")[1]
    return HubServer(
        f"{'https' if settings.tls else 'http'}://{settings.host}:{settings.port}",
        hub,
        tokens["admin"],
        tokens["enroll"],
        tokens["device"],
        server,
        thread,
    )


def hub_settings(data_dir: Path, **overrides: object) -> HubSettings:
    return HubSettings.model_validate({"data_dir": data_dir, "port": free_port(), "canary_timeout_s": 30, **overrides})


@pytest.fixture
def start_hub(tmp_path: Path, pipeline) -> Iterator[Callable[..., HubServer]]:  # type: ignore[no-untyped-def]
    """Start a hub with settings overrides; every hub started is stopped at the end of the test."""
    servers: list[HubServer] = []

    def start(**overrides: object) -> HubServer:
        data_dir = overrides.pop("data_dir", tmp_path / f"hub{len(servers)}")
        server = serve(hub_settings(Path(str(data_dir)), **overrides), pipeline)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def hub_server(start_hub: Callable[..., HubServer]) -> HubServer:
    return start_hub()


@pytest.fixture
def mqtt_hub(start_hub: Callable[..., HubServer], broker) -> HubServer:  # type: ignore[no-untyped-def]
    return start_hub(mqtt=MqttConfig(port=broker.port, client_id="hub-test"))


def library_state(hub: Hub) -> tuple[int, int, list[str]]:
    """(people rows, sample rows, files under the samples folder) to compare before and after a request."""
    with hub.db.read() as db:
        people = db.execute("SELECT COUNT(*) FROM people").fetchone()[0]
        samples = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    files = sorted(
        str(p.relative_to(hub.library.samples_dir)) for p in hub.library.samples_dir.rglob("*") if p.is_file()
    )
    return people, samples, files


def chrome(*extra_flags: str) -> object:
    """Headless Chromium (Selenium) that keeps its console log (CSP violations are reported there)."""
    from tooling.screenshots import headless_chrome

    return headless_chrome(*extra_flags)


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium (Selenium)."""
    driver = chrome()
    yield driver
    driver.quit()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def own_postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A PostgreSQL server of the module's own, which its tests may stop and start. They run in the SQLite pass
    only (skipped under `--hub-db postgresql`, which would run them a second time for nothing)."""
    if request.config.getoption("--hub-db") == "postgresql":
        pytest.skip("starts a PostgreSQL server of its own: runs in the SQLite pass")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()
