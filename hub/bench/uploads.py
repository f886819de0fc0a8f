"""Hostile uploads against a real hub process: peak memory, and search latency behind a long enrollment.

The hub runs as its own process (`facefleet.sim.procs`), so its peak resident memory is read from
`/proc/<pid>/status` (`VmHWM`, the high-water mark, which only ever grows): after a warm-up enrollment of
an ordinary 1080p photo, each probe's figure is how far the peak rose above that. The probes are small
files that declare huge images: a PNG of 6000x6000 (a few tens of KB), five of them in one request, an
8000x6000 mp4 of a few hundred KB (made here with OpenCV), and a real face photo upscaled to a 6000x6000
JPEG (which must be decoded reduced, not refused).

The second figure is a 1:N search sent while a 300-photo enrollment is being analyzed: its latency next to
the latency of the same search on an idle hub, and whether it came back before the enrollment did.
"""

from __future__ import annotations

import io
import secrets
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image

from facefleet.sim import procs as system
from facefleet.sim.procs import Processes, free_port, wait_for

Upload = list[tuple[str, tuple[str, bytes, str]]]


@dataclass(frozen=True)
class UploadProbe:
    """One hostile upload: what it was, the hub's answer, and the hub's peak RSS rise above the warm level."""

    what: str
    status: int
    detail: str
    seconds: float
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
        out += [f"{p.what}: HTTP {p.status} in {p.seconds:.1f} s, peak RSS +{p.peak_rise_mb:.0f} MB "
                f"({p.detail[:90]})" for p in self.probes]
        out.append(f"1:N search on an idle hub: {self.search_idle_s:.2f} s; during a 300-photo enrollment "
                   f"({self.enroll_s:.1f} s): {self.search_behind_enroll_s:.2f} s, answered "
                   f"{'before' if self.search_before_enroll_done else 'after'} the enrollment")
        return out


def png_bomb(width: int = 6000, height: int = 6000) -> bytes:
    """A gray PNG that is tiny on the wire (zlib) and width x height once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def upscaled_jpeg(photo: Path, width: int = 6000, height: int = 6000) -> bytes:
    """A real face photo stretched to width x height and saved as a JPEG (a large phone photo)."""
    image = cv2.imread(str(photo))
    assert image is not None, photo
    ok, data = cv2.imencode(".jpg", cv2.resize(image, (width, height)), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return data.tobytes()


def video_bomb(path: Path, width: int = 8000, height: int = 6000, frames: int = 3) -> bytes:
    """An mp4 (MPEG-4 part 2) of flat width x height frames: a few hundred KB."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 5.0, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    frame = np.full((height, width, 3), 100, np.uint8)
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def peak_rss_mb(pid: int) -> float:
    """The process's resident-set high-water mark (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


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
    """Runs uploads against the hub and records each answer with the peak RSS rise."""

    def __init__(self, client: httpx.Client, pid: int, figures: UploadFigures) -> None:
        self.client, self.pid, self.figures = client, pid, figures

    def send(self, what: str, path: str, files: Upload, label: str = "Bomb") -> UploadProbe:
        start = time.perf_counter()
        response = self.client.post(path, data={"label": label}, files=files)
        probe = UploadProbe(what, response.status_code, _detail(response), time.perf_counter() - start,
                            peak_rss_mb(self.pid) - self.figures.warm_peak_mb)
        self.figures.probes.append(probe)
        return probe


ENROLL_PHOTOS = 300  # LFW photos of the long enrollment: several seconds of analysis however fast the pipeline


def _start_hub(procs: Processes, workdir: Path) -> tuple[httpx.Client, int]:
    port, admin = free_port(), secrets.token_urlsafe(32)
    config = system.write_hub_config(workdir / "hub-bench.yaml", workdir / "hub-bench", port, None,
                                     pipeline={"detector": {"min_face_px": 40}},
                                     enroll={"max_upload_files": ENROLL_PHOTOS})
    client = system.start_hub(procs, config, port, admin, None, timeout_s=120, name="hub-bench")
    client.timeout = httpx.Timeout(600)
    return client, procs.started["hub-bench"].pid


def _bombs(probe: _Probe, data_dir: Path, workdir: Path) -> None:
    png = ("files", ("bomb.png", png_bomb(), "image/png"))
    probe.send("PNG declaring 6000x6000", "/api/samples/photos", [png])
    probe.send("five such PNGs in one request", "/api/samples/photos",
               [("files", (f"bomb{i}.png", png[1][1], "image/png")) for i in range(5)])
    video = video_bomb(workdir / "bomb.mp4")
    probe.send(f"8000x6000 mp4 of {len(video) // 1024} KB", "/api/samples/video",
               [("file", ("bomb.mp4", video, "video/mp4"))])
    jpeg = upscaled_jpeg(data_dir / "clips" / "people" / "obama" / "obama.jpg")
    probe.send(f"6000x6000 JPEG face photo of {len(jpeg) // 1024} KB", "/api/samples/photos",
               [("files", ("large.jpg", jpeg, "image/jpeg"))], label="Large Photo")


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
        _bombs(_Probe(client, pid, figures), data_dir, workdir)
        _search_behind_enrollment(client, pid, data_dir, figures)
    finally:
        client.close()
        procs.stop("hub-bench")
    return figures
