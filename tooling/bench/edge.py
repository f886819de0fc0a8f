"""`facefleet bench edge`: agent throughput per 640x360 camera with 0, 1 and 5 faces, two cameras on one
agent, the real 1080p crowd clip, the share of each stage, and the latency from a frame's capture to its
event at an MQTT subscriber (whole agent, real Mosquitto, the camera at its own pace).

Scenes are made from real photos: a frame of the Hamilton clip blurred past recognition as background,
LFW faces pasted on it with a little motion per frame so the tracker and the embed schedule work as live.
Throughput counts the processor's own time per frame (decoding is the reader thread's work in the agent).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.capture.frames import Frame
from edge.config import EdgeConfig, RecognitionConfig, TrackerConfig
from edge.frame_loop import EventSink
from edge.recognize.events import TrackEventRecord
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.processor import STAGES, CameraProcessor, embed_together
from facefleet.gallery import Gallery, build_gallery
from models.cohort import pipeline_cohort
from models.detect.mtcnn import DetectorConfig, MtcnnDetector
from models.detect.schedule import ScheduleConfig
from models.engines.blas import single_threaded_blas
from models.engines.ort_providers import OnnxRuntimeConfig
from models.imageio import load_image
from models.pipeline import FacePipeline, PipelineConfig

RESOLUTION_WH = (640, 360)
BENCH_PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder")


def faceless_background(data: Path, pipeline: FacePipeline) -> np.ndarray:
    """A real 640x360 scene (a Hamilton clip frame) with its faces blurred away, the rest left sharp. Faces
    are searched down to 12 px whatever the pipeline's `min_face_px` (which also bounds what it reports)."""
    base = pipeline.detector
    detector = MtcnnDetector(
        base.pnet, base.rnet, base.onet, base.config.model_copy(update={"min_face_px": 12}), base.cpu
    )
    cap = cv2.VideoCapture(str(data / "clips" / "short_hamilton_clip.mp4"))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise FileNotFoundError(f"cannot read the Hamilton clip under {data}")
    frame = cv2.resize(frame, RESOLUTION_WH)
    blurred = cv2.GaussianBlur(frame, (0, 0), 12)
    for _ in range(3):  # blurring one face can reveal a weaker one next to it
        for x1, y1, x2, y2 in detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).xyxy.astype(int):
            pad = (x2 - x1) // 2
            ys, xs = slice(max(y1 - pad, 0), y2 + pad), slice(max(x1 - pad, 0), x2 + pad)
            frame[ys, xs] = blurred[ys, xs]
    return frame


def make_scene(
    data: Path,
    background: np.ndarray,
    faces: int,
    frames: int,
    seed: int = 0,
    on_off_frames: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """`frames` BGR 640x360 frames with `faces` LFW faces (about 100 px) drifting a pixel or two a frame;
    with `on_off_frames` (shown, hidden) they come and go, so that tracks start and end again and again."""
    lfw = data / "lfw" / "images_deepfunneled"
    patches = []
    for name in BENCH_PEOPLE[:faces]:
        photo = cv2.imread(str(lfw / name / f"{name}_0010.jpg"))
        if photo is None:
            raise FileNotFoundError(f"LFW photo of {name} missing under {lfw}")
        patches.append(cv2.resize(photo[50:200, 50:200], (100, 100)))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        image = background.copy()
        hidden = on_off_frames is not None and i % sum(on_off_frames) >= on_off_frames[0]
        for k, patch in enumerate([] if hidden else patches):
            x = 20 + k * 122 + int(5 * np.sin(i / 6 + k)) + int(rng.integers(-1, 2))
            y = 130 + int(5 * np.cos(i / 7 + k)) + int(rng.integers(-1, 2))
            image[y : y + 100, x : x + 100] = patch
        out.append(image)
    return out


@dataclass
class Throughput:
    """One scenario: frames per second of processing, CPU ms per frame, stage -> share of time, faces per
    frame. CPU time is what the figures mean on a machine shared with other work."""

    fps: float
    cpu_ms: float
    shares: dict[str, float]
    faces: float


def bench_gallery(data: Path, pipeline: FacePipeline, people: int) -> Gallery:
    """A gallery of `people` LFW people from their photo 1 (the scenes' people first, then others with several
    photos), with the impostor cohort when there is one; empty for 0 people."""
    if people <= 0:
        return Gallery.empty(pipeline.model_id, pipeline.embedder.dim)
    lfw = data / "lfw" / "images_deepfunneled"
    others = sorted(p.name for p in lfw.iterdir() if p.name not in BENCH_PEOPLE and (p / f"{p.name}_0002.jpg").exists())
    names, embeddings = [], []
    for name in [*BENCH_PEOPLE, *others][:people]:
        analysis = pipeline.analyze(load_image(lfw / name / f"{name}_0001.jpg"))
        if len(analysis.faces):
            names.append(name)
            embeddings.append(analysis.embeddings[analysis.faces.nearest_centre((250, 250))])
    return build_gallery(
        "bench",
        pipeline.model_id,
        names,
        names,
        np.stack(embeddings),
        np.arange(len(names)),
        cohort=pipeline_cohort(pipeline),
    )


def _processor(pipeline: FacePipeline, camera: str, detection: ScheduleConfig, gallery: Gallery) -> CameraProcessor:
    holder = ModelGalleryHolder(ModelGallery(pipeline, gallery))
    return CameraProcessor(camera, holder, TrackerConfig(), RecognitionConfig(), detection)


def throughput(
    pipeline: FacePipeline,
    frames: Iterable[np.ndarray],
    detection: ScheduleConfig,
    cameras: int = 1,
    gallery: Gallery | None = None,
) -> Throughput:
    """Run `cameras` processors over the frames, every frame to each camera, as the agent's frame loop
    does a round (one inference thread; the cameras' faces embedded in one batch); fps is per camera. The
    first frame warms up and is not counted. gallery: matched against (default: an empty one)."""
    gallery = gallery or Gallery.empty(pipeline.model_id, pipeline.embedder.dim)
    processors = [_processor(pipeline, f"bench{c}", detection, gallery) for c in range(cameras)]
    totals, faces, n, busy, cpu = dict.fromkeys(STAGES, 0.0), 0, 0, 0.0, 0.0
    for i, image in enumerate(frames, start=1):
        start, cpu_start = time.perf_counter(), time.process_time()
        pending = [p.begin(Frame(p.camera, image, datetime.now(timezone.utc), i)) for p in processors]
        results = [p.finish(f, e) for p, f, e in zip(processors, pending, embed_together(pending), strict=True)]
        if i == 1:
            continue
        busy, cpu = busy + time.perf_counter() - start, cpu + time.process_time() - cpu_start
        for result in results:
            faces += result.faces
            for stage, seconds in result.stage_s.items():
                totals[stage] += seconds
        n += 1
    spent, processed = sum(totals.values()) or 1.0, max(n * cameras, 1)
    return Throughput(
        n / busy if busy else 0.0, 1000 * cpu / processed, {s: t / spent for s, t in totals.items()}, faces / processed
    )


def crowd_frames(data: Path, count: int) -> Iterator[np.ndarray]:
    """The first `count` BGR frames of the real 1080p crowd clip, decoded one at a time."""
    capture = cv2.VideoCapture(str(data / "clips" / "crowd_1080p.mp4"))
    try:
        for _ in range(count):
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


@contextlib.contextmanager
def mosquitto_broker(binary: str) -> Iterator[int]:
    """A throwaway Mosquitto on a free local port; yields the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    broker = subprocess.Popen(
        [shutil.which(binary) or "/usr/sbin/mosquitto", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, timeout_s=10.0)
        yield port
    finally:
        broker.terminate()
        broker.wait(5)


def _wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen on port {port}") from None
            time.sleep(0.05)


def write_video(path: Path, frames: list[np.ndarray], empty_tail: int = 20) -> None:
    """MJPG file of the frames, then empty frames so that every track ends."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, RESOLUTION_WH)
    for image in frames + [np.zeros_like(frames[0])] * empty_tail:
        writer.write(image)
    writer.release()


class LatencyProbe:
    """Subscribes to the events; per event, seconds since its frame's capture and since it was stored."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.latencies: list[tuple[float, float]] = []
        self.stored: dict[tuple[str, int], float] = {}
        self._arrived = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("facefleet/+/events", qos=1)
        self.client.loop_start()

    def _on_message(self, _client: object, _userdata: object, msg: Any) -> None:
        event, now = json.loads(msg.payload), time.time()
        with self._arrived:
            self.latencies.append(
                (
                    now - datetime.fromisoformat(event["ts"]).timestamp(),
                    now - self.stored.get((event["type"], event["track_id"]), now),
                )
            )
            self._arrived.notify_all()

    def wait_all(self, timeout_s: float) -> bool:
        """Wait until as many events arrived as the agent stored."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.latencies) >= len(self.stored), timeout_s)

    def wrap(self, sink: EventSink) -> EventSink:
        """The agent's event sink, noting when each event is stored."""

        def store(records: list[TrackEventRecord]) -> None:
            self.stored.update({(r.type, r.track_id): time.time() for r in records})
            sink(records)

        return store


@dataclass(frozen=True)
class LatencyRun:
    """Capture -> subscriber seconds per event, and what the agent reported about itself meanwhile."""

    latencies: list[tuple[float, float]]
    dropped: int
    fps: float


def event_latency(
    frames: list[np.ndarray], pipeline_config: PipelineConfig, detection: ScheduleConfig, mosquitto: str
) -> LatencyRun:
    """The whole agent on a file camera that plays at its own 25 fps (frames the agent is too slow for are
    dropped, as a live camera's are), against a real broker."""
    from edge.app import EdgeApp

    with tempfile.TemporaryDirectory() as tmp, mosquitto_broker(mosquitto) as port:
        video = Path(tmp) / "scene.avi"
        write_video(video, frames)
        probe = LatencyProbe(port)
        config = EdgeConfig.model_validate(
            {
                "device_id": "bench",
                "state_dir": tmp,
                "pipeline": pipeline_config.model_dump(mode="json"),
                "detection": detection.model_dump(mode="json"),
                "cameras": [{"name": "bench", "source": {"type": "file", "path": str(video), "pacing": "realtime"}}],
                "mqtt": {"host": "127.0.0.1", "port": port},
                "http": {"port": 0},
                "updates": {"enabled": False},
            }
        )
        app = EdgeApp(config)
        app.loop.sink = probe.wrap(app.store_events)
        app.start()
        deadline = time.monotonic() + 60 + len(frames) / 5
        while not app.readers[0].finished and time.monotonic() < deadline:
            time.sleep(0.1)
        fps, dropped = app.loop.fps("bench"), app.loop.dropped["bench"]
        app.stop()
        probe.wait_all(timeout_s=10.0)
        probe.client.loop_stop()
        return LatencyRun(probe.latencies, dropped, fps)


def _print_table_row(label: str, run: Throughput) -> None:
    print(
        f"  {label:24s} {run.faces:>6.1f} {run.fps:>7.2f} {1000 / max(run.fps, 1e-9):>9.1f} {run.cpu_ms:>7.0f}  "
        + " ".join(f"{100 * run.shares[s]:>7.1f}%" for s in STAGES)
    )


def run_bench(
    data: Path,
    frames: int = 40,
    min_face_px: int = 40,
    mosquitto: str = "mosquitto",
    precision: str = "fp32",
    latency_frames: int = 500,
    json_path: Path | None = None,
    full_every_frames: int = ScheduleConfig().full_every_frames,
    gallery_people: int = 0,
) -> dict[str, float]:
    """gallery_people: the processors match against a gallery of this many LFW people (the scenes' people
    among them) with the impostor cohort; 0: an empty gallery (nothing is matched)."""
    single_threaded_blas()  # as the agent (models/engines/blas.py)
    config = PipelineConfig(
        detector=DetectorConfig(min_face_px=min_face_px),
        backend=OnnxRuntimeConfig(precision="int8" if precision == "int8" else "fp32"),
    )
    pipeline = FacePipeline.from_config(config)
    detection = ScheduleConfig(full_every_frames=full_every_frames)
    print(
        f"edge agent benchmark: min_face_px={min_face_px}, {precision}, {frames} frames per scenario, embed every "
        f"{RecognitionConfig().embed_every_frames} frames per track, the whole detector every {full_every_frames} "
        f"frame(s); fps = processed frames per second of processing, per camera"
    )
    print(
        f"  {'scenario':24s} {'found':>6} {'fps':>7} {'ms/frame':>9} {'cpu ms':>7}  "
        + " ".join(f"{s:>8}" for s in STAGES)
    )
    background = faceless_background(data, pipeline)
    gallery = bench_gallery(data, pipeline, gallery_people)
    print(f"  gallery: {len(gallery.person_ids)} people, cohort {len(gallery.cohort)}")
    figures: dict[str, float] = {}
    for faces, key in ((0, "fps_640x360_0faces"), (1, "fps_640x360_1face"), (5, "fps_640x360_5faces")):
        run = throughput(pipeline, make_scene(data, background, faces, frames), detection, gallery=gallery)
        _print_table_row(f"640x360, {faces} face(s)", run)
        figures[key] = round(run.fps, 2)
    run = throughput(pipeline, make_scene(data, background, 1, frames), detection, cameras=2, gallery=gallery)
    _print_table_row("2 cameras 640x360, 1 face", run)
    figures["fps_two_cameras_each"] = round(run.fps, 2)
    run = throughput(pipeline, crowd_frames(data, frames), detection, gallery=gallery)
    _print_table_row("1920x1080 crowd clip", run)
    figures["fps_1080p_crowd"] = round(run.fps, 2)
    if not (shutil.which(mosquitto) or Path("/usr/sbin/mosquitto").exists()):
        print("mosquitto not found: latency not measured")
    else:
        figures.update(_latency(data, background, config, detection, mosquitto, latency_frames))
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2, sort_keys=True))
        print(f"figures written to {json_path}")
    return figures


def _latency(
    data: Path, background: np.ndarray, config: PipelineConfig, detection: ScheduleConfig, mosquitto: str, frames: int
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for faces in (1, 5):
        run = event_latency(
            make_scene(data, background, faces, frames, on_off_frames=(30, 20)), config, detection, mosquitto
        )
        if not run.latencies:
            print(f"latency ({faces} face(s)): no events arrived")
            continue
        capture, outbox = (np.array(x) * 1000 for x in zip(*run.latencies, strict=True))
        p50, p99 = float(np.percentile(capture, 50)), float(np.percentile(capture, 99))
        print(
            f"latency to an MQTT subscriber, {faces} face(s), camera at 25 fps, {len(capture)} events: from capture "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {capture.max():.0f} ms; from the outbox p50 "
            f"{np.percentile(outbox, 50):.1f} ms; agent at {run.fps:.1f} fps, {run.dropped} camera frames dropped"
        )
        if faces == 1:
            figures.update(
                latency_ms_p50=round(p50, 1),
                latency_ms_p99=round(p99, 1),
                latency_events=len(capture),
                latency_run_dropped_frames=run.dropped,
            )
    return figures
