"""sd_notify over a real AF_UNIX datagram socket, as systemd's NOTIFY_SOCKET would be."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.ops.sdnotify import WatchdogPinger, notify, watchdog_interval_s


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def test_notify_sends_the_state(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert notify("READY=1\nSTATUS=cameras up", {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1\nSTATUS=cameras up"


def test_abstract_namespace_address() -> None:
    name = f"facefleet-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"WATCHDOG=1"


def test_outside_systemd_is_a_no_op() -> None:
    assert notify("READY=1", {}) is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),  # WatchdogSec=30
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),  # meant for us
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),  # watchdog off
        ({"WATCHDOG_USEC": "abc"}, None),  # garbage
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(env) == expected


def test_pinger_sends_at_most_every_half_interval(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    now = [100.0]
    pinger = WatchdogPinger({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"}, clock=lambda: now[0])
    sent = []
    for step in range(30):  # 30 frames, 0.5 s apart: 15 s of frame loop
        now[0] = 100.0 + step * 0.5
        sent.append(pinger.ping())
    assert sent.count(True) == 3 and sent[0]  # at 0 s, 5 s, 10 s
    assert [sock.recv(64) for _ in range(3)] == [b"WATCHDOG=1"] * 3


def test_pinger_without_watchdog_never_sends() -> None:
    assert WatchdogPinger({"NOTIFY_SOCKET": "/nonexistent"}).ping() is False
