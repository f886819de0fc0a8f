"""`facefleet load`: a fleet of simulated devices and M API clients against one broker and one hub, on loopback.

Mosquitto and the hub run as real processes (built like the demo). The devices (`tooling.sim.load_device`)
run a few hundred to a process, one MQTT client each, as agents do on the wire: retained status with a
last will, a track (three QoS 1 events, the last with a real face crop) every `track_every_s`, stats every
`stats_every_s`. Each API client enrolls LFW photos in a loop and, between uploads, reads
`GET /api/events/recent` and `GET /api/devices` as the page does. At the end the event ids the broker
acknowledged are compared with what the hub counted per device (it deduplicates by `event_id`), so "no loss"
means every acknowledged event reached the hub exactly once. The broker needs a file descriptor per device:
the harness raises its own soft `RLIMIT_NOFILE` (inherited by the broker) or says how far it cannot.
"""

from __future__ import annotations

import json
import math
import resource
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from tooling.sim import procs as system
from tooling.sim.broker import prepare_broker
from tooling.sim.procs import Processes, free_port, wait_for

DEVICES_PER_PROCESS = 250


@dataclass
class LoadReport:
    devices: int
    device_processes: int
    clients: int
    seconds: float
    track_every_s: float
    offered_events_per_s: float
    connected: int = 0
    registered_online: int = 0
    register_s: float = 0.0
    sent: int = 0
    received: int = 0
    lost: int = 0
    duplicates_dropped: int = 0
    ingest_events_per_s: float = 0.0
    enroll_requests: int = 0
    enroll_errors: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    hub_rss_mb_peak: float = 0.0
    broker_rss_mb_peak: float = 0.0
    open_files_limit: int = 0

    def lines(self) -> list[str]:
        out = [
            f"devices {self.devices} in {self.device_processes} processes, clients {self.clients}, "
            f"{self.seconds:.0f} s, a track every {self.track_every_s:g} s: offered "
            f"{self.offered_events_per_s:.1f} events/s",
            f"connected {self.connected}; online in the hub's registry {self.registered_online} after "
            f"{self.register_s:.1f} s (open files limit {self.open_files_limit})",
            f"events: sent {self.sent}, received {self.received}, lost {self.lost}, "
            f"repeats dropped {self.duplicates_dropped}; ingest {self.ingest_events_per_s:.1f} events/s",
            f"enrollments: {self.enroll_requests} requests, {self.enroll_errors} errors",
        ]
        out += [
            f"latency {name}: p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms (n={q['n']:.0f})"
            for name, q in self.latency_ms.items()
        ]
        out.append(f"RSS peak: hub {self.hub_rss_mb_peak:.0f} MB, broker {self.broker_rss_mb_peak:.0f} MB")
        return out


def quantiles(samples_ms: list[float]) -> dict[str, float]:
    """p50/p99 of latencies in ms (nearest rank); zeros for no samples."""
    if not samples_ms:
        return {"p50": 0.0, "p99": 0.0, "n": 0}
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": rank(0.5), "p99": rank(0.99), "n": len(ordered), "mean": statistics.fmean(ordered)}


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # the process ended
        pass
    return 0.0


def raise_open_files(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it) to at least `needed`; the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise RuntimeError(f"{needed} open files needed, the hard limit is {hard}: raise `ulimit -Hn` first")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return max(soft, needed)


class _Clients:
    """M threads enrolling photos and reading the page's lists until `stop`; latencies in ms by request."""

    def __init__(self, url: str, token: str, photos: list[Path], count: int) -> None:
        self.url, self.token, self.photos, self.count = url, token, photos, count
        self.latency_ms: dict[str, list[float]] = {"enroll": [], "events_recent": [], "devices": []}
        self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(count)]

    def _timed(self, kind: str, send: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        answer: httpx.Response | None
        try:
            answer = send(*args, **kwargs)
        except httpx.HTTPError:
            answer = None
        with self.lock:
            self.latency_ms[kind].append((time.perf_counter() - started) * 1000)
            if answer is None or answer.status_code >= 400:
                self.errors += 1

    def _run(self, k: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=120) as api:
            n = 0
            while not self.stop.is_set():
                photo = self.photos[(k + n * self.count) % len(self.photos)]
                files = [("files", (photo.name, photo.read_bytes(), "image/jpeg"))]
                label = f"load {k}.{n}"  # a new person each time: a repeated photo would be a refused duplicate
                self._timed("enroll", api.post, "/api/samples/photos", data={"label": label}, files=files)
                self._timed("events_recent", api.get, "/api/events/recent", params={"limit": 50})
                self._timed("devices", api.get, "/api/devices")
                n += 1


def lfw_photos(lfw_dir: Path, count: int = 40) -> list[Path]:
    photos = sorted((lfw_dir / "images_deepfunneled").glob("*/*_0001.jpg"))[:count]
    if not photos:
        raise ValueError(f"no LFW photos under {lfw_dir}")
    return photos


def run_load(
    workdir: Path,
    data_dir: Path,
    devices: int,
    clients: int,
    seconds: float,
    track_every_s: float = 30.0,
    stats_every_s: float = 10.0,
) -> LoadReport:
    procs = Processes(workdir / "logs")
    hub_port = free_port()
    admin = secrets.token_urlsafe(32)
    groups = math.ceil(devices / DEVICES_PER_PROCESS)
    report = LoadReport(devices, groups, clients, seconds, track_every_s, devices * 3 / track_every_s)
    report.open_files_limit = raise_open_files(devices + 512)
    photos = lfw_photos(data_dir / "lfw")
    device_ids = [f"sim-{k + 1}" for k in range(devices)]  # load_device's default prefix
    broker = prepare_broker(workdir, device_ids, free_port(), free_port())
    passwords = workdir / "device-passwords.txt"  # each device logs in as itself, over TLS, as agents do
    passwords.write_text("".join(f"{d} {broker.passwords[d]}\n" for d in device_ids))
    try:
        system.start_broker(procs, broker)
        config = system.write_hub_config(workdir / "hub.yaml", workdir / "hub", hub_port, broker, live_events=1000)
        api = system.start_hub(procs, config, hub_port, admin, broker)
        pids = {"hub": procs.started["hub"].pid, "broker": procs.started["mosquitto"].pid}
        wait_for(lambda: "facefleet_hub_events" in api.get("/metrics").text, "the hub's MQTT link", 30)
        started = time.monotonic()
        for g in range(groups):
            first, count = g * DEVICES_PER_PROCESS + 1, min(DEVICES_PER_PROCESS, devices - g * DEVICES_PER_PROCESS)
            procs.start(
                f"fleet-{g}",
                [
                    sys.executable,
                    "-m",
                    "tooling.sim.load_device",
                    "--port",
                    str(broker.tls_port),
                    "--ca-file",
                    str(broker.ca_file),
                    "--passwords",
                    str(passwords),
                    "--first",
                    str(first),
                    "--count",
                    str(count),
                    "--track-every",
                    str(track_every_s),
                    "--stats-every",
                    str(stats_every_s),
                    "--seconds",
                    str(seconds),
                    "--out",
                    str(workdir / f"sent-{g}.txt"),
                    "--crop",
                    str(photos[g % len(photos)]),
                ],
            )
        report.registered_online = _wait_registered(api, devices, timeout_s=120)
        report.register_s = time.monotonic() - started
        peaks = _drive(procs, api, admin, photos, clients, seconds, pids, report)
        report.hub_rss_mb_peak, report.broker_rss_mb_peak = peaks["hub"], peaks["broker"]
        sent = _wait_fleet(procs, workdir, groups, report, timeout_s=seconds + 120)
        counts = _wait_received(api, sent, timeout_s=max(60.0, seconds))  # a backlog queued for the hub drains
        by_device: dict[str, int] = counts["by_device"]
        report.received = sum(min(n, by_device.get(d, 0)) for d, n in sent.items())
        report.lost = sum(max(0, n - by_device.get(d, 0)) for d, n in sent.items())
        report.duplicates_dropped = counts["duplicates"]
        report.ingest_events_per_s = report.received / (time.monotonic() - started)
    finally:
        procs.stop_all()
    return report


def _drive(
    procs: Processes,
    api: httpx.Client,
    token: str,
    photos: list[Path],
    clients: int,
    seconds: float,
    pids: dict[str, int],
    report: LoadReport,
) -> dict[str, float]:
    """The API clients for `seconds` while the fleet publishes; peak RSS of hub and broker (MB)."""
    users = _Clients(str(api.base_url), token, photos, clients)
    peaks = {name: rss_mb(pid) for name, pid in pids.items()}
    for thread in users.threads:
        thread.start()
    for _ in tqdm(range(int(seconds)), desc="load", unit="s"):
        time.sleep(1)
        for name in ("hub", "mosquitto"):  # device processes may finish first: their clock started earlier
            if procs.started[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {procs.log_dir / (name + '.log')}")
        peaks = {name: max(peaks[name], rss_mb(pid)) for name, pid in pids.items()}
    users.stop.set()
    for thread in users.threads:
        thread.join(timeout=180)
    report.enroll_requests = len(users.latency_ms["enroll"])
    report.enroll_errors = users.errors
    report.latency_ms = {kind: quantiles(v) for kind, v in users.latency_ms.items()}
    return {name: max(peaks[name], rss_mb(pid)) for name, pid in pids.items()}


def _wait_registered(api: httpx.Client, devices: int, timeout_s: float) -> int:
    """How many devices the hub's registry shows online, once all are (or at `timeout_s`)."""

    def online() -> int:
        return sum(d["state"] == "online" for d in api.get("/api/devices").json())

    wait_for(lambda: online() >= devices, f"{devices} devices online in the registry", timeout_s, every_s=1.0)
    return online()


def _wait_fleet(procs: Processes, workdir: Path, groups: int, report: LoadReport, timeout_s: float) -> dict[str, int]:
    """Acknowledged events per simulated device, once every device process has exited."""
    deadline = time.monotonic() + timeout_s
    sent: Counter[str] = Counter()
    for g in range(groups):
        proc = procs.started[f"fleet-{g}"]
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        if proc.returncode != 0:
            raise RuntimeError(f"fleet-{g} failed: {procs.log_text(f'fleet-{g}')[-2000:]}")
        sent.update(line.split()[0] for line in (workdir / f"sent-{g}.txt").read_text().splitlines())
        report.connected += json.loads(procs.log_text(f"fleet-{g}").strip().splitlines()[-1])["connected"]
    report.sent = sum(sent.values())
    return dict(sent)


def _wait_received(api: httpx.Client, sent: dict[str, int], timeout_s: float) -> dict[str, Any]:
    """The hub's counts, once it has every acknowledged event (or at `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts: dict[str, Any] = api.get("/api/events/recent", params={"limit": 1}).json()["counts"]
        by_device: dict[str, int] = counts["by_device"]
        if all(by_device.get(d, 0) >= n for d, n in sent.items()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)
