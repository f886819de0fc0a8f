"""Hostile uploads against a real hub process: memory, and search latency behind a long enrollment.

The hub runs as its own process (`tooling.sim.procs`), so its memory is read from `/proc/<pid>/status`:
its resident set (`VmRSS`) before and after each probe, and its high-water mark (`VmHWM`, which only ever
grows): after a warm-up enrollment of an ordinary 1080p photo, each probe's peak figure is how far the
high-water mark rose above that. The probes (`tooling.bench.hub.hostile`) are small files that declare huge images
or lie about them: a PNG of 6000x6000 (a few tens of KB), five of them in one request, an 8000x6000 mp4 of a
few hundred KB, a real face photo upscaled to a 6000x6000 JPEG (which must be decoded reduced, not
refused), a Motion-JPEG AVI whose header and first frame are 64x64 and whose second frame is 16000x16000
(alone and four at once), and a 200 MB JSON body sent without a token (alone and three at once).

The second figure is a 1:N search sent while a 300-photo enrollment is being analyzed: its latency next to
the latency of the same search on an idle hub, and whether it came back before the enrollment did.
"""

from __future__ import annotations

import secrets
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tooling.bench.hub.hostile import lying_mjpeg, png_bomb, upscaled_jpeg, video_bomb
from tooling.sim import procs as system
from tooling.sim.procs import Processes, free_port, wait_for

Upload = list[tuple[str, tuple[str, bytes, str]]]


@dataclass(frozen=True)
class UploadProbe:
    """One hostile upload (or several at once): what it was, the hub's answer (the first one's), how long it
    took, the hub's resident set before and after (MB) and its peak's rise above the warm level (MB)."""

    what: str
    status: int
    detail: str
    seconds: float
    rss_before_mb: float
    rss_after_mb: float
    peak_rise_mb: float


@dataclass
class UploadFigures:
    warm_peak_mb: float = 0.0
    probes: list[UploadProbe] = field(default_factory=list)
    search_idle_s: float = 0.0
    search_behind_enroll_s: float = 0.0
    search_before_enroll_done: bool = False
    enroll_s: float = 0.0

    def lines(self) -> list[str]:
        out = [f"hub peak RSS after a 1080p enrollment (warm): {self.warm_peak_mb:.0f} MB"]
        out += [
            f"{p.what}: HTTP {p.status} in {p.seconds:.1f} s, RSS {p.rss_before_mb:.0f} -> "
            f"{p.rss_after_mb:.0f} MB, peak +{p.peak_rise_mb:.0f} MB ({p.detail[:90]})"
            for p in self.probes
        ]
        out.append(
            f"1:N search on an idle hub: {self.search_idle_s:.2f} s; during a 300-photo enrollment "
            f"({self.enroll_s:.1f} s): {self.search_behind_enroll_s:.2f} s, answered "
            f"{'before' if self.search_before_enroll_done else 'after'} the enrollment"
        )
        return out


def peak_rss_mb(pid: int) -> float:
    """The process's resident-set high-water mark (VmHWM), MB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """The process's resident set now (VmRSS), MB."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (USER_HZ = 100)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text[:200]


class _Probe:
    """Runs uploads against the hub and records each answer with its memory figures."""

    def __init__(self, client: httpx.Client, pid: int, figures: UploadFigures) -> None:
        self.client, self.pid, self.figures = client, pid, figures

    def send(self, what: str, path: str, files: Upload, label: str = "Bomb", copies: int = 1) -> UploadProbe:
        """One upload (or `copies` of it at once)."""
        return self.run(what, lambda: _answer(self.client.post(path, data={"label": label}, files=files)), copies)

    def run(self, what: str, request: Callable[[], tuple[int, str]], copies: int = 1) -> UploadProbe:
        """`copies` of a request at once; the row has the first one's answer."""
        before, start = rss_mb(self.pid), time.perf_counter()
        with ThreadPoolExecutor(copies) as pool:
            answers = list(pool.map(lambda _: request(), range(copies)))
        status, detail = answers[0]
        probe = UploadProbe(
            what,
            status,
            detail,
            time.perf_counter() - start,
            before,
            rss_mb(self.pid),
            peak_rss_mb(self.pid) - self.figures.warm_peak_mb,
        )
        self.figures.probes.append(probe)
        return probe


def _answer(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, _detail(response)


def unauthenticated_body(url: str, size_bytes: int) -> tuple[int, str]:
    """POST a JSON body of `size_bytes` (one long name) to /api/people without a token, 1 MB at a time until
    the hub answers or has taken it all; the hub's status and the start of its answer."""
    address = urlsplit(url)
    head = (
        f"POST /api/people HTTP/1.1\r\nHost: {address.hostname}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size_bytes}\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=600) as sock:
        sock.sendall(head + b'{"name": "')
        sent, chunk = 10, b"x" * (1024 * 1024)
        try:
            while sent < size_bytes - 2 and not select.select([sock], [], [], 0)[0]:  # stop once it answers
                sock.sendall(chunk[: size_bytes - 2 - sent])
                sent += min(len(chunk), size_bytes - 2 - sent)
            if sent >= size_bytes - 2:
                sock.sendall(b'"}')
        except OSError:  # the hub closed the connection: its answer is waiting
            pass
        reply = sock.recv(4096)
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, reply.split(b"\r\n\r\n", 1)[-1][:200].decode("latin-1")


ENROLL_PHOTOS = 300  # LFW photos of the long enrollment: several seconds of analysis however fast the pipeline


def _start_hub(procs: Processes, workdir: Path) -> tuple[httpx.Client, int]:
    port, admin = free_port(), secrets.token_urlsafe(32)
    config = system.write_hub_config(
        workdir / "hub-bench.yaml",
        workdir / "hub-bench",
        port,
        None,
        pipeline={"detector": {"min_face_px": 40}},
        enroll={"max_upload_files": ENROLL_PHOTOS},
    )
    client = system.start_hub(procs, config, port, admin, None, timeout_s=120, name="hub-bench")
    client.timeout = httpx.Timeout(600)
    return client, procs.started["hub-bench"].pid


def _bombs(probe: _Probe, data_dir: Path, workdir: Path) -> None:
    png = ("files", ("bomb.png", png_bomb(), "image/png"))
    probe.send("PNG declaring 6000x6000", "/api/samples/photos", [png])
    probe.send(
        "five such PNGs in one request",
        "/api/samples/photos",
        [("files", (f"bomb{i}.png", png[1][1], "image/png")) for i in range(5)],
    )
    video = video_bomb(workdir / "bomb.mp4")
    probe.send(
        f"8000x6000 mp4 of {len(video) // 1024} KB", "/api/samples/video", [("file", ("bomb.mp4", video, "video/mp4"))]
    )
    jpeg = upscaled_jpeg(data_dir / "clips" / "people" / "obama" / "obama.jpg")
    probe.send(
        f"6000x6000 JPEG face photo of {len(jpeg) // 1024} KB",
        "/api/samples/photos",
        [("files", ("large.jpg", jpeg, "image/jpeg"))],
        label="Large Photo",
    )
    avi = [("file", ("lying.avi", lying_mjpeg(), "video/x-msvideo"))]
    probe.send(
        f"Motion-JPEG declaring 64x64, second frame 16000x16000, of {len(avi[0][1][1]) // 1024} KB",
        "/api/samples/video",
        avi,
    )
    probe.send("four such Motion-JPEGs at once", "/api/samples/video", avi, copies=4)


def _bodies(probe: _Probe, url: str) -> None:
    size = 200 * 1024 * 1024
    probe.run("200 MB JSON body without a token", lambda: unauthenticated_body(url, size))
    probe.run("three such bodies at once", lambda: unauthenticated_body(url, size), copies=3)


def _search_behind_enrollment(client: httpx.Client, pid: int, data_dir: Path, figures: UploadFigures) -> None:
    lfw = data_dir / "lfw" / "images_deepfunneled"
    query = [("file", ("q.jpg", (lfw / "Colin_Powell" / "Colin_Powell_0002.jpg").read_bytes(), "image/jpeg"))]
    idle = []
    for _ in range(3):
        start = time.perf_counter()
        client.post("/api/search", files=query).raise_for_status()
        idle.append(time.perf_counter() - start)
    figures.search_idle_s = statistics.median(idle)
    photos = sorted(lfw.glob("*/*_0001.jpg"))[:ENROLL_PHOTOS]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    done = threading.Event()

    def enroll() -> None:
        start = time.perf_counter()
        try:
            client.post("/api/samples/photos", data={"label": "Long Upload"}, files=files)
        finally:
            figures.enroll_s = time.perf_counter() - start
            done.set()

    cpu_before = cpu_seconds(pid)
    thread = threading.Thread(target=enroll, daemon=True)
    thread.start()
    # The enrollment is being analyzed once the hub has spent 1 CPU-second on it (parsing the form is a
    # small part of that; the photos take many seconds): a condition, not a fixed sleep.
    wait_for(lambda: cpu_seconds(pid) - cpu_before > 1.0 or done.is_set(), "the enrollment to run", 300, 0.05)
    start = time.perf_counter()
    client.post("/api/search", files=query).raise_for_status()
    figures.search_behind_enroll_s = time.perf_counter() - start
    figures.search_before_enroll_done = not done.is_set()
    thread.join(timeout=600)


def run_upload_bench(procs: Processes, workdir: Path, data_dir: Path) -> UploadFigures:
    """Start a hub process, warm it with a 1080p photo, send the bombs, then time search behind enrollment."""
    figures = UploadFigures()
    client, pid = _start_hub(procs, workdir)
    try:
        warm = [("files", ("obama-1080p.jpg", (data_dir / "clips" / "obama-1080p.jpg").read_bytes(), "image/jpeg"))]
        client.post("/api/samples/photos", data={"label": "Warm Up"}, files=warm).raise_for_status()
        figures.warm_peak_mb = peak_rss_mb(pid)
        probe = _Probe(client, pid, figures)
        _bombs(probe, data_dir, workdir)
        _bodies(probe, str(client.base_url))
        _search_behind_enrollment(client, pid, data_dir, figures)
    finally:
        client.close()
        procs.stop("hub-bench")
    return figures
