"""`facefleet load`: N simulated devices and M enrollment clients against one hub, on loopback.

Mosquitto and the hub run as real processes (built like the demo). Each device is a process publishing
TrackEvents at `rate` events/s (QoS 1); each client enrolls LFW photos in a loop and, between uploads,
reads `GET /api/events/recent` as the page does. At the end the event ids the broker acknowledged are
compared with what the hub counted per device (the hub deduplicates by `event_id`), so "no loss" means
every acknowledged event reached the hub exactly once.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from facefleet import procs as system
from facefleet.broker import prepare_broker
from facefleet.procs import AGENT_PASSWORD_ENV, Processes, free_port, wait_for


@dataclass
class LoadReport:
    devices: int
    clients: int
    seconds: float
    offered_events_per_s: float
    sent: int = 0
    received: int = 0
    lost: int = 0
    duplicates_dropped: int = 0
    ingest_events_per_s: float = 0.0
    enroll_requests: int = 0
    enroll_errors: int = 0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    hub_rss_mb_peak: float = 0.0

    def lines(self) -> list[str]:
        out = [f"devices {self.devices}, clients {self.clients}, {self.seconds:.0f} s, "
               f"offered {self.offered_events_per_s:.0f} events/s",
               f"events: sent {self.sent}, received {self.received}, lost {self.lost}, "
               f"repeats dropped {self.duplicates_dropped}; ingest {self.ingest_events_per_s:.1f} events/s",
               f"enrollments: {self.enroll_requests} requests, {self.enroll_errors} errors"]
        out += [f"latency {name}: p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms (n={q['n']:.0f})"
                for name, q in self.latency_ms.items()]
        out.append(f"hub RSS peak {self.hub_rss_mb_peak:.0f} MB")
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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Clients:
    """M threads enrolling photos and reading recent events until `stop`; latencies in ms by request kind."""

    def __init__(self, url: str, token: str, photos: list[Path], count: int) -> None:
        self.url, self.token, self.photos, self.count = url, token, photos, count
        self.latency_ms: dict[str, list[float]] = {"enroll": [], "events_recent": []}
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
                n += 1


def lfw_photos(lfw_dir: Path, count: int = 40) -> list[Path]:
    photos = sorted((lfw_dir / "images_deepfunneled").glob("*/*_0001.jpg"))[:count]
    if not photos:
        raise ValueError(f"no LFW photos under {lfw_dir}")
    return photos


def run_load(workdir: Path, data_dir: Path, devices: int, clients: int, seconds: float, rate: float) -> LoadReport:
    procs = Processes(workdir / "logs")
    hub_port = free_port()
    broker = prepare_broker(workdir, [f"sim-{k + 1}" for k in range(devices)], free_port(), free_port())
    admin = secrets.token_urlsafe(32)
    report = LoadReport(devices, clients, seconds, devices * rate)
    photos = lfw_photos(data_dir / "lfw")
    try:
        system.start_broker(procs, broker)
        config = system.write_hub_config(workdir / "hub.yaml", workdir / "hub", hub_port, broker,
                                         live_events=1000)
        api = system.start_hub(procs, config, hub_port, admin, broker)
        hub_pid = procs.started["hub"].pid
        wait_for(lambda: "facefleet_hub_events" in api.get("/metrics").text, "the hub's MQTT link", 30)
        users = _Clients(str(api.base_url), admin, photos, clients)
        peak = [rss_mb(hub_pid)]
        for k in range(devices):
            name = f"sim-{k + 1}"
            procs.start(name, [sys.executable, "-m", "facefleet.load_device", "--port", str(broker.tls_port),
                               "--ca-file", str(broker.ca_file), "--device-id", name, "--rate", str(rate),
                               "--seconds", str(seconds), "--out", str(workdir / f"sent-{k + 1}.txt"),
                               "--crop", str(photos[k % len(photos)])],
                        env={AGENT_PASSWORD_ENV: broker.passwords[name]})
        started = time.monotonic()
        for thread in users.threads:
            thread.start()
        for _ in tqdm(range(int(seconds)), desc="load", unit="s"):
            time.sleep(1)
            peak.append(rss_mb(hub_pid))
        users.stop.set()
        sent = _wait_devices(procs, workdir, devices, timeout_s=seconds + 60)
        report.sent = sum(sent.values())
        counts = _wait_received(api, sent, timeout_s=60)
        elapsed = time.monotonic() - started
        for thread in users.threads:
            thread.join(timeout=180)
        peak.append(rss_mb(hub_pid))
        by_device: dict[str, int] = counts["by_device"]
        report.received = sum(by_device.get(d, 0) for d in sent)
        report.lost = sum(max(0, n - by_device.get(d, 0)) for d, n in sent.items())
        report.duplicates_dropped = counts["duplicates"]
        report.ingest_events_per_s = report.received / elapsed
        report.enroll_requests = len(users.latency_ms["enroll"])
        report.enroll_errors = users.errors
        report.latency_ms = {kind: quantiles(v) for kind, v in users.latency_ms.items()}
        report.hub_rss_mb_peak = max(peak)
    finally:
        procs.stop_all()
    return report


def _wait_devices(procs: Processes, workdir: Path, devices: int, timeout_s: float) -> dict[str, int]:
    """Acknowledged events per simulated device, once each has exited."""
    deadline = time.monotonic() + timeout_s
    sent: dict[str, int] = {}
    for k in range(1, devices + 1):
        proc = procs.started[f"sim-{k}"]
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        if proc.returncode != 0:
            raise RuntimeError(f"sim-{k} failed: {procs.log_text(f'sim-{k}')[-2000:]}")
        sent[f"sim-{k}"] = len((workdir / f"sent-{k}.txt").read_text().split())
    return sent


def _wait_received(api: httpx.Client, sent: dict[str, int], timeout_s: float) -> dict[str, Any]:
    """The hub's counts, once it has every acknowledged event (or at `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts: dict[str, Any] = api.get("/api/events/recent", params={"limit": 1}).json()["counts"]
        by_device: dict[str, int] = counts["by_device"]
        if all(by_device.get(d, 0) >= n for d, n in sent.items()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)
