"""The system as real processes on loopback: Mosquitto, the hub and edge agents, built with tooling.sim.procs.

Every child is stopped (SIGTERM, then SIGKILL) when its fixture ends, whatever the test did. The hub's store is
SQLite, or the test's own PostgreSQL database under `--hub-db postgresql` (tests/conftest.py). The agents
play a short LFW clip once, frame by frame (`pacing: every_frame`), with a small detector search.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hub.settings import DATABASE_URL_ENV
from tests.conftest import LFW
from tests.edge.conftest import Subscriber
from tests.edge.scenes import ENROLLED, STRANGER, lfw_image, write_people_video
from tooling.sim import procs as system
from tooling.sim.broker import BrokerSetup, prepare_broker
from tooling.sim.procs import Processes, free_port

DEVICES = ("edge-1", "edge-2", "edge-3")
OBSERVERS = ("observer-1", "observer-2", "observer-3")


@dataclass
class System:
    """The broker runs the shipped config (passwords for DEVICES, read-only OBSERVERS); the hub is on its
    loopback listener, the agents on its TLS one, each with a device token bound to its id."""

    workdir: Path
    procs: Processes
    hub_port: int = field(default_factory=free_port)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    api: httpx.Client | None = None
    device_tokens: dict[str, str] = field(default_factory=dict)
    _broker: BrokerSetup | None = None

    @property
    def hub_config(self) -> Path:
        return self.workdir / "hub.yaml"

    @property
    def hub_data(self) -> Path:
        return self.workdir / "hub"

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def broker(self) -> BrokerSetup:
        if self._broker is None:
            self._broker = prepare_broker(self.workdir, list(DEVICES), free_port(), free_port(), OBSERVERS)
        return self._broker

    @property
    def mqtt_port(self) -> int:
        """The plain loopback listener (the hub's and the observers')."""
        return self.broker.plain_port

    def start_broker(self) -> None:
        system.start_broker(self.procs, self.broker)

    def subscriber(self, topic: str, who: str = "observer-1", fresh: bool = False) -> Subscriber:
        """A read-only client; clients open at the same time need different `who`s."""
        return Subscriber(self.mqtt_port, topic, auth=(who, self.broker.passwords[who]), fresh=fresh)

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, with no chance to clean up or say goodbye."""
        self.procs.stop(name, signal.SIGKILL)

    def start_hub(self, **overrides: Any) -> httpx.Client:
        if not self.hub_config.exists():
            system.write_hub_config(
                self.hub_config,
                self.hub_data,
                self.hub_port,
                self.broker,
                canary_timeout_s=60,
                pipeline={"detector": {"min_face_px": 40}},
                **overrides,
            )
        if self.api is not None:
            self.api.close()
        self.api = system.start_hub(
            self.procs, self.hub_config, self.hub_port, self.admin_token, self.broker, timeout_s=90
        )
        return self.api

    @property
    def database_url(self) -> str | None:
        """The hub's PostgreSQL database in a run on that store (`--hub-db postgresql`), else None (SQLite)."""
        return os.environ.get(DATABASE_URL_ENV) or None

    def store_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of the hub's store read beside it, as an operator would: from its PostgreSQL database, or from
        `hub.sqlite` opened read-only."""
        if self.database_url is not None:
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                return conn.execute(sql).fetchall()
        with sqlite3.connect(f"file:{self.hub_data / 'hub.sqlite'}?mode=ro", uri=True) as db:
            return db.execute(sql).fetchall()

    def device_token(self, device_id: str) -> str:
        if device_id not in self.device_tokens:
            self.device_tokens[device_id] = system.create_token(
                self.hub_config, self.admin_token, self.broker, "device", f"test-{device_id}", device_id
            )
        return self.device_tokens[device_id]

    def start_agent(self, device_id: str, clip: Path, updates: bool = False, **overrides: Any) -> None:
        key = self.hub_data / "keys" / "hub.pub" if updates else None
        public_url = yaml.safe_load(self.hub_config.read_text())["public_url"] if updates else self.hub_url
        config = system.write_agent_config(
            self.workdir / f"{device_id}.yaml",
            device_id,
            self.workdir / device_id,
            clip,
            self.broker,
            key,
            public_url,
            pacing="every_frame",
            loop=False,
            min_face_px=40,
            tracker={"lost_frames": 4, "lost_after_s": 1.0},
            **({} if updates else {"updates": {"enabled": False}}),
            **overrides,
        )
        system.start_agent(self.procs, device_id, config, self.broker, self.device_token(device_id) if updates else "")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[System]:
    """A system with nothing started; everything it starts is stopped at the end."""
    sys_ = System(tmp_path, Processes(tmp_path / "logs"))
    try:
        yield sys_
    finally:
        if sys_.api is not None:
            sys_.api.close()
        sys_.procs.stop_all()


@pytest.fixture(scope="session")
def people_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two enrolled LFW people and a stranger, 12 frames each with 6 empty frames after each: 54 frames."""
    names = [*list(ENROLLED.values())[:2], STRANGER]
    photos = [(None, lfw_image(LFW, name, 10)) for name in names]
    path = tmp_path_factory.mktemp("clip") / "people.avi"
    write_people_video(path, photos, frames_each=12, gap=6)  # type: ignore[arg-type]
    return path
