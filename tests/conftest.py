"""Shared fixtures: real data from ../shared/data, the real models, a real Mosquitto broker on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
CLIPS = SHARED_DATA / "clips"
LFW = SHARED_DATA / "lfw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class Broker:
    """A Mosquitto process on 127.0.0.1:<port> that tests can stop and start again on the same port.

    Started as root, Mosquitto 2 drops to the `mosquitto` user, which cannot write the test's temp dir, so
    its persistence file would silently never appear and a restart would forget every session: `user root`
    keeps the privileges (it has no effect when the tests do not run as root).
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n"
            f"persistence_location {workdir}/\nautosave_interval 1\nlog_dest file {workdir}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
