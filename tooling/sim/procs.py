"""Real processes of the system on one machine: Mosquitto, the hub and edge agents, over loopback.

Used by `facefleet demo`, `facefleet load` and the process-level tests, so all three build the system the
same way: config files written from a few arguments, children in their own session, stopped in reverse
order (SIGTERM, then SIGKILL), or killed one by one to inject faults.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tooling.sim.broker import HUB_USER, BrokerSetup

log = logging.getLogger(__name__)
AGENT_PASSWORD_ENV = "FACEFLEET_MQTT_PASSWORD"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], object], what: str, timeout_s: float, every_s: float = 0.3) -> None:
    """Poll `check` until it is truthy; connection errors count as not yet."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


class Processes:
    """Child processes by name, stopped in reverse start order with SIGTERM, then SIGKILL."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        if name in self.started and self.started[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        with open(self.log_dir / f"{name}.log", "ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
            )
        self.started.pop(name, None)
        self.started[name] = proc
        log.info("started %s (pid %d), log %s", name, proc.pid, out.name)
        return proc

    def check_alive(self) -> None:
        for name, proc in self.started.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        """Signal one child (SIGKILL for a crash) and wait; its exit code."""
        proc = self.started.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("stopped %s (exit %s)", name, proc.returncode)
        return int(proc.returncode)

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_broker(procs: Processes, broker: BrokerSetup, name: str = "mosquitto") -> None:
    """Mosquitto with the shipped config rendered by `tooling.sim.broker.prepare_broker`: passwords, ACL,
    client ids tied to user names, plain MQTT on loopback and TLS. Persistent: started again after a
    kill, it reloads its sessions from the last autosave."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    procs.start(name, [binary, "-c", str(broker.conf)])
    wait_for(lambda: listening(broker.plain_port) and listening(broker.tls_port), "mosquitto", 15, every_s=0.05)


def write_hub_config(path: Path, data_dir: Path, port: int, broker: BrokerSetup | None, **overrides: Any) -> Path:
    """The hub on loopback, on the broker's plain loopback listener as `facefleet-hub` (no broker: a hub
    without MQTT, which serves the API but announces no rollouts)."""
    mqtt = (
        None
        if broker is None
        else {"host": "127.0.0.1", "port": broker.plain_port, "topic_prefix": "facefleet", "username": HUB_USER}
    )
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(data_dir),
                "host": "127.0.0.1",
                "port": port,
                "public_url": f"http://127.0.0.1:{port}",
                "mqtt": mqtt,
                "canary_timeout_s": 120,
                **overrides,
            }
        )
    )
    return path


def start_hub(
    procs: Processes,
    config: Path,
    port: int,
    admin_token: str,
    broker: BrokerSetup | None,
    timeout_s: float = 120,
    name: str = "hub",
) -> httpx.Client:
    """The hub process (its MQTT password from `broker`, None for a hub without MQTT); an admin client once
    /healthz answers."""
    env = {"FACEFLEET_HUB_ADMIN_TOKEN": admin_token}
    if broker is not None:
        env["FACEFLEET_HUB_MQTT_PASSWORD"] = broker.passwords[HUB_USER]
    procs.start(name, [sys.executable, "-m", "hub", "serve", "--config", str(config)], env=env)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if procs.started[name].poll() is not None:
            raise RuntimeError(f"the hub exited; see {procs.log_dir / (name + '.log')}")
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200

    wait_for(healthy, "the hub", timeout_s)
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=120)


def create_token(
    hub_config: Path, admin_token: str, broker: BrokerSetup, scope: str, name: str, device_id: str | None = None
) -> str:
    """A new token from `facefleet-hub token create`; a `device` one is bound to `device_id`."""
    device = ["--device", device_id] if device_id else []
    env = {
        **os.environ,
        "FACEFLEET_HUB_ADMIN_TOKEN": admin_token,
        "FACEFLEET_HUB_MQTT_PASSWORD": broker.passwords[HUB_USER],
    }  # the hub's config names its MQTT user
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "token",
            "create",
            "--scope",
            scope,
            "--name",
            name,
            *device,
            "--config",
            str(hub_config),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return done.stdout.strip().splitlines()[-1].split()[-1]


def write_agent_config(
    path: Path,
    device_id: str,
    state_dir: Path,
    clip: Path,
    broker: BrokerSetup,
    hub_public_key: Path | None,
    hub_url: str,
    pacing: str = "realtime",
    loop: bool = True,
    min_face_px: float = 30,
    **overrides: Any,
) -> Path:
    """An agent on the broker's TLS listener (verified against its CA) as user `device_id`."""
    config: dict[str, Any] = {
        "device_id": device_id,
        "state_dir": str(state_dir),
        "cameras": [{"name": "stage", "source": {"type": "file", "path": str(clip), "loop": loop, "pacing": pacing}}],
        "pipeline": {"detector": {"min_face_px": min_face_px}},
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.tls_port,
            "stats_every_s": 10,
            "username": device_id,
            "password_env": AGENT_PASSWORD_ENV,
            "tls": {"ca_file": str(broker.ca_file)},
        },
        "http": {"port": 0},
    }
    if hub_public_key is not None:
        config["updates"] = {"hub_public_key": str(hub_public_key), "hub_url": hub_url}
    for key, value in overrides.items():  # one level deep: `mqtt={"keepalive_s": 5}` keeps host and port
        both_maps = isinstance(value, dict) and isinstance(config.get(key), dict)
        config[key] = {**config[key], **value} if both_maps else value
    path.write_text(yaml.safe_dump(config))
    return path


def start_agent(procs: Processes, device_id: str, config: Path, broker: BrokerSetup, device_token: str = "") -> None:
    env = {AGENT_PASSWORD_ENV: broker.passwords[device_id]}
    if device_token:
        env["FACEFLEET_DEVICE_TOKEN"] = device_token
    procs.start(device_id, [sys.executable, "-m", "edge", "run", "--config", str(config)], env=env)
