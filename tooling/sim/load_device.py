"""Simulated devices for `facefleet load` and the broker tests: many per process, one paho client each.

A device does what an agent does on the wire: connects (MQTT 5) with an `offline` last will on its retained
status, publishes a retained `online` `DeviceStatus`, then a track every `track_every_s` (three
`TrackEvent`s: started, identity_confirmed, ended with a real face crop) and a `DeviceStats` every
`stats_every_s`, all QoS 1. First tracks are spread evenly over one period, so the fleet's rate is steady.

All clients of a process share one selector loop (paho's external-loop API: `loop_read`/`loop_write`/
`loop_misc` with socket callbacks), so hundreds of devices cost one thread, not hundreds. Every event the
broker acknowledged (PUBACK with a success code) is recorded; `--out` gets `<device id> <event id>` lines.

    python -m tooling.sim.load_device --port 1883 --first 1 --count 250 --track-every 30 --seconds 60 \\
        --out sent.txt --crop face.jpg
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import selectors
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from facefleet.wire import CameraStats, DeviceStats, DeviceStatus, Topics, TrackEvent

_TYPES = ("track_started", "identity_confirmed", "track_ended")
CAMERA = "stage"
_READ_WRITE = selectors.EVENT_READ | selectors.EVENT_WRITE


def make_event(device_id: str, seq: int, crop_b64: str) -> TrackEvent:
    now = datetime.now(timezone.utc)
    kind = _TYPES[(seq - 1) % len(_TYPES)]
    known = kind != "track_started"
    return TrackEvent(
        event_id=uuid.uuid4().hex,
        seq=seq,
        type=kind,
        device_id=device_id,
        camera=CAMERA,
        track_id=(seq - 1) // len(_TYPES),
        ts=now,
        started_at=now,
        ended_at=now if kind == "track_ended" else None,
        duration_s=2.5 if kind == "track_ended" else None,
        person_id="p-load" if known else None,
        name="Load Person" if known else None,
        confidence=0.61 if known else 0.0,
        votes={"p-load": 12} if known else {},
        frames=12,
        best_crop_jpeg_b64=crop_b64 if kind == "track_ended" else None,
    )


@dataclass
class SimDevice:
    """One simulated device: its client, its event counter and what the broker acknowledged."""

    device_id: str
    client: mqtt.Client
    seq: int = 0
    connected: bool = False
    pending: dict[int, str] = field(default_factory=dict)  # mid -> event id
    acked: list[str] = field(default_factory=list)
    refused: int = 0
    ever_connected: bool = False


@dataclass(frozen=True)
class BrokerAddress:
    """Where the devices connect: host, port, optional TLS CA, optional passwords by device id."""

    host: str
    port: int
    ca_file: Path | None = None
    passwords: dict[str, str] = field(default_factory=dict)


class Fleet:
    """Devices sharing one selector loop. Not thread-safe: one thread calls everything."""

    def __init__(
        self, address: BrokerAddress, device_ids: list[str], crop_b64: str = "", topics: Topics | None = None
    ) -> None:
        self.address, self.crop_b64, self.topics = address, crop_b64, topics or Topics()
        self.selector = selectors.DefaultSelector()
        self.devices = [self._make(device_id) for device_id in device_ids]
        self._last_misc = 0.0

    def _make(self, device_id: str) -> SimDevice:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        device = SimDevice(device_id, client)
        if device_id in self.address.passwords:
            client.username_pw_set(device_id, self.address.passwords[device_id])
        if self.address.ca_file is not None:
            client.tls_set(ca_certs=str(self.address.ca_file))
        client.will_set(self.topics.status(device_id), self._status(device_id, "offline"), qos=1, retain=True)
        client.on_connect = lambda c, u, f, rc, p: self._on_connect(device, rc)
        client.on_disconnect = lambda c, u, f, rc, p: setattr(device, "connected", False)
        client.on_publish = lambda c, u, mid, rc, p: self._on_publish(device, mid, rc)
        client.on_socket_open = lambda c, u, sock: self._watch(sock, device, selectors.EVENT_READ, new=True)
        client.on_socket_close = lambda c, u, sock: self._forget(sock)
        client.on_socket_register_write = lambda c, u, sock: self._watch(sock, device, _READ_WRITE)
        client.on_socket_unregister_write = lambda c, u, sock: self._watch(sock, device, selectors.EVENT_READ)
        return device

    def _watch(self, sock: Any, device: SimDevice, events: int, new: bool = False) -> None:
        if new:
            self.selector.register(sock, events, device)
        else:
            self.selector.modify(sock, events, device)

    def _forget(self, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    @staticmethod
    def _status(device_id: str, state: Literal["online", "offline"]) -> bytes:
        return (
            DeviceStatus(
                device_id=device_id, state=state, ts=datetime.now(timezone.utc), agent_version="load", cameras=[CAMERA]
            )
            .model_dump_json()
            .encode()
        )

    def _on_connect(self, device: SimDevice, reason_code: ReasonCode) -> None:
        if reason_code.is_failure:
            return
        device.connected = device.ever_connected = True
        device.client.publish(
            self.topics.status(device.device_id), self._status(device.device_id, "online"), qos=1, retain=True
        )

    @staticmethod
    def _on_publish(device: SimDevice, mid: int, reason_code: ReasonCode) -> None:
        event_id = device.pending.pop(mid, None)
        if event_id is None:
            return
        if reason_code.is_failure:
            device.refused += 1
        else:
            device.acked.append(event_id)

    # driving it -----------------------------------------------------------------------------------------
    def connect(self, timeout_s: float = 60.0) -> int:
        """Connect every device (TCP + CONNECT), then pump until all have their CONNACK; how many did."""
        for device in self.devices:
            device.client.connect(self.address.host, self.address.port, keepalive=30)
        self.pump_until(lambda: all(d.connected for d in self.devices), timeout_s)
        return sum(d.connected for d in self.devices)

    def publish_event(self, device: SimDevice) -> None:
        device.seq += 1
        event = make_event(device.device_id, device.seq, self.crop_b64)
        info = device.client.publish(self.topics.events(device.device_id), event.model_dump_json(), qos=1)
        device.pending[info.mid] = event.event_id

    def publish_track(self, device: SimDevice) -> None:
        for _ in _TYPES:
            self.publish_event(device)

    def publish_stats(self, device: SimDevice) -> None:
        stats = DeviceStats(
            device_id=device.device_id,
            ts=datetime.now(timezone.utc),
            active_tracks=1,
            outbox_backlog=len(device.pending),
            cameras={CAMERA: CameraStats(fps=15.0, connected=True, reconnects=0)},
        )
        device.client.publish(self.topics.stats(device.device_id), stats.model_dump_json(), qos=1)

    def pump(self, timeout_s: float = 0.05) -> None:
        """One turn of the loop: socket reads and writes, keepalives once a second."""
        for key, mask in self.selector.select(timeout_s):
            client = key.data.client
            if mask & selectors.EVENT_READ:
                client.loop_read()
                sock = client.socket()
                while sock is not None and getattr(sock, "pending", lambda: 0)() > 0:  # TLS-buffered bytes
                    client.loop_read()
                    sock = client.socket()
            if mask & selectors.EVENT_WRITE:
                client.loop_write()
        if time.monotonic() - self._last_misc >= 1.0:
            self._last_misc = time.monotonic()
            for device in self.devices:
                self._keep_alive(device)

    @staticmethod
    def _keep_alive(device: SimDevice) -> None:
        """Pings when due; a device whose connection dropped reconnects, as an agent does."""
        if device.client.socket() is not None:
            device.client.loop_misc()
        elif device.ever_connected:
            with contextlib.suppress(OSError):
                device.client.reconnect()

    def pump_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Pump until `done()` is true (True) or `timeout_s` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            self.pump()
        return True

    def all_acked(self) -> bool:
        return all(not d.pending for d in self.devices)

    def run(self, seconds: float, track_every_s: float, stats_every_s: float) -> None:
        """Tracks and stats on schedule for `seconds`, then wait (up to 60 s) for every PUBACK."""
        count, started = len(self.devices), time.monotonic()
        next_track = [started + track_every_s * k / count for k in range(count)]
        next_stats = [started + stats_every_s * k / count for k in range(count)]
        while (now := time.monotonic()) - started < seconds:
            for k, device in enumerate(self.devices):
                if device.connected and now >= next_track[k]:
                    self.publish_track(device)
                    next_track[k] += track_every_s
                if device.connected and now >= next_stats[k]:
                    self.publish_stats(device)
                    next_stats[k] += stats_every_s
            self.pump()
        self.pump_until(self.all_acked, 60.0)

    def close(self) -> None:
        """A clean stop, as an agent's: retained `offline` status, then disconnect."""
        for device in self.devices:
            if device.connected:
                device.client.publish(
                    self.topics.status(device.device_id), self._status(device.device_id, "offline"), qos=1, retain=True
                )
        self.pump_until(lambda: not any(d.client.want_write() for d in self.devices), 10.0)
        for device in self.devices:
            device.client.disconnect()
        self.pump(0.1)


def read_passwords(path: Path | None) -> dict[str, str]:
    """`<device id> <password>` lines (blank lines skipped)."""
    if path is None:
        return {}
    return dict(line.split(None, 1) for line in path.read_text().splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="sim", help="device ids are <prefix>-<n>")
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--track-every", type=float, default=30.0, help="seconds between one device's tracks")
    parser.add_argument("--stats-every", type=float, default=10.0, help="seconds between one device's stats")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True, help="acknowledged `<device> <event id>` lines")
    parser.add_argument("--crop", type=Path, help="JPEG sent as the best face of each ended track")
    parser.add_argument("--ca-file", type=Path, help="CA of the broker's TLS certificate (TLS when given)")
    parser.add_argument("--passwords", type=Path, help="`<device id> <password>` lines; user name = device id")
    args = parser.parse_args()
    ids = [f"{args.prefix}-{n}" for n in range(args.first, args.first + args.count)]
    crop_b64 = base64.b64encode(args.crop.read_bytes()).decode() if args.crop else ""
    fleet = Fleet(BrokerAddress(args.host, args.port, args.ca_file, read_passwords(args.passwords)), ids, crop_b64)
    connected = fleet.connect()
    fleet.run(args.seconds, args.track_every, args.stats_every)
    fleet.close()
    args.out.write_text("".join(f"{d.device_id} {e}\n" for d in fleet.devices for e in d.acked))
    summary = {
        "devices": len(ids),
        "connected": connected,
        "published": sum(d.seq for d in fleet.devices),
        "acked": sum(len(d.acked) for d in fleet.devices),
        "refused": sum(d.refused for d in fleet.devices),
    }
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
