"""`facefleet-edge bench`: agent throughput per 640x360 camera with 0, 1 and 5 faces, the share of each
stage, and the latency from a frame's capture to its event arriving at an MQTT subscriber.

Scenes are made from real photos: a frame of the Hamilton clip blurred past recognition as background,
LFW faces pasted on it with a little motion per frame so the tracker and the embed schedule work as live.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config import EdgeConfig, RecognitionConfig, TrackerConfig
from edge.events import TrackEventRecord
from edge.frame_loop import EventSink
from edge.frames import Frame
from edge.processor import STAGES, CameraProcessor
from edge.recognizer import Recognizer, RecognizerHolder
from facefleet.gallery import Gallery
from models.mtcnn import DetectorConfig
from models.pipeline import FacePipeline, PipelineConfig

RESOLUTION_WH = (640, 360)
BENCH_PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder")


def faceless_background(data: Path, pipeline: FacePipeline) -> np.ndarray:
    """A real 640x360 scene (a Hamilton clip frame) with its faces blurred away, the rest left sharp."""
    cap = cv2.VideoCapture(str(data / "clips" / "short_hamilton_clip.mp4"))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise FileNotFoundError(f"cannot read the Hamilton clip under {data}")
    frame = cv2.resize(frame, RESOLUTION_WH)
    blurred = cv2.GaussianBlur(frame, (0, 0), 12)
    for _ in range(3):  # blurring one face can reveal a weaker one next to it
        for x1, y1, x2, y2 in pipeline.detect(frame).xyxy.astype(int):
            pad = (x2 - x1) // 2
            ys, xs = slice(max(y1 - pad, 0), y2 + pad), slice(max(x1 - pad, 0), x2 + pad)
            frame[ys, xs] = blurred[ys, xs]
    return frame


def make_scene(data: Path, background: np.ndarray, faces: int, frames: int,
               seed: int = 0) -> list[np.ndarray]:
    """`frames` BGR 640x360 frames with `faces` LFW faces (about 100 px) drifting a pixel or two a frame."""
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
        for k, patch in enumerate(patches):
            x = 20 + k * 122 + int(5 * np.sin(i / 6 + k)) + int(rng.integers(-1, 2))
            y = 130 + int(5 * np.cos(i / 7 + k)) + int(rng.integers(-1, 2))
            image[y:y + 100, x:x + 100] = patch
        out.append(image)
    return out


def throughput(pipeline: FacePipeline,
               frames: list[np.ndarray]) -> tuple[float, float, dict[str, float], float]:
    """Run one camera's processor over the frames: (fps, CPU seconds per frame, stage -> share of time,
    faces per frame). CPU time is what the figures mean on a machine shared with other work."""
    holder = RecognizerHolder(Recognizer(pipeline, Gallery.empty(pipeline.model_id, pipeline.embedder.dim)))
    processor = CameraProcessor("bench", holder, TrackerConfig(), RecognitionConfig())
    processor.process(Frame("bench", frames[0], datetime.now(timezone.utc), 1))  # warm-up
    totals = dict.fromkeys(STAGES, 0.0)
    faces = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i, image in enumerate(frames[1:], start=2):
        result = processor.process(Frame("bench", image, datetime.now(timezone.utc), i))
        faces += result.faces
        for stage, seconds in result.stage_s.items():
            totals[stage] += seconds
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    spent, n = sum(totals.values()) or 1.0, len(frames) - 1
    return n / elapsed, cpu / n, {s: t / spent for s, t in totals.items()}, faces / n


@contextlib.contextmanager
def mosquitto_broker(binary: str) -> Iterator[int]:
    """A throwaway Mosquitto on a free local port; yields the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    broker = subprocess.Popen([shutil.which(binary) or "/usr/sbin/mosquitto", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        yield port
    finally:
        broker.terminate()
        broker.wait(5)


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
        self.done = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("facefleet/+/events", qos=1)
        self.client.loop_start()

    def _on_message(self, _client: object, _userdata: object, msg: Any) -> None:
        event, now = json.loads(msg.payload), time.time()
        self.latencies.append((now - datetime.fromisoformat(event["ts"]).timestamp(),
                               now - self.stored.get((event["type"], event["track_id"]), now)))
        if event["type"] == "track_ended":
            self.done.set()

    def wrap(self, sink: EventSink) -> EventSink:
        """The agent's event sink, noting when each event is stored."""
        def store(records: list[TrackEventRecord]) -> None:
            self.stored.update({(r.type, r.track_id): time.time() for r in records})
            sink(records)
        return store


def event_latency(frames: list[np.ndarray], pipeline_config: PipelineConfig,
                  mosquitto: str) -> list[tuple[float, float]]:
    """Run the whole agent on the frames against a real broker; latencies as `LatencyProbe` measures them."""
    from edge.app import EdgeApp

    with tempfile.TemporaryDirectory() as tmp, mosquitto_broker(mosquitto) as port:
        video = Path(tmp) / "scene.avi"
        write_video(video, frames)
        probe = LatencyProbe(port)
        config = EdgeConfig.model_validate({
            "device_id": "bench", "state_dir": tmp, "pipeline": pipeline_config.model_dump(mode="json"),
            "cameras": [{"name": "bench",
                         "source": {"type": "file", "path": str(video), "pacing": "every_frame"}}],
            "mqtt": {"host": "127.0.0.1", "port": port}, "http": {"port": 0}, "updates": {"enabled": False}})
        app = EdgeApp(config)
        app.loop.sink = probe.wrap(app.store_events)
        app.start()
        probe.done.wait(300)
        app.stop()
        probe.client.loop_stop()
        return probe.latencies


def run_bench(data: Path, frames: int = 40, min_face_px: int = 40, mosquitto: str = "mosquitto") -> None:
    config = PipelineConfig(detector=DetectorConfig(min_face_px=min_face_px))
    pipeline = FacePipeline.from_config(config)
    print(f"edge agent benchmark: {RESOLUTION_WH[0]}x{RESOLUTION_WH[1]}, min_face_px={min_face_px}, "
          f"{frames} frames per scene, embed every {RecognitionConfig().embed_every_frames} frames per track")
    print(f"{'faces':>5} {'found':>6} {'fps':>6} {'ms/frame':>9} {'cpu ms':>7}  "
          + " ".join(f"{s:>8}" for s in STAGES))
    background = faceless_background(data, pipeline)
    for faces in (0, 1, 5):
        fps, cpu_s, shares, found = throughput(pipeline, make_scene(data, background, faces, frames))
        print(f"{faces:>5} {found:>6.1f} {fps:>6.2f} {1000 / fps:>9.1f} {1000 * cpu_s:>7.0f}  "
              + " ".join(f"{100 * shares[s]:>7.1f}%" for s in STAGES))
    if not (shutil.which(mosquitto) or Path("/usr/sbin/mosquitto").exists()):
        print("mosquitto not found: latency not measured")
        return
    for faces in (1, 5):
        latencies = event_latency(make_scene(data, background, faces, frames), config, mosquitto)
        if latencies:
            capture, outbox = (sorted(x) for x in zip(*latencies, strict=True))
            print(f"latency to an MQTT subscriber ({faces} face(s), {len(latencies)} events): from capture "
                  f"median {1000 * statistics.median(capture):.0f} ms, max {1000 * capture[-1]:.0f} ms; "
                  f"from outbox median {1000 * statistics.median(outbox):.1f} ms, "
                  f"max {1000 * outbox[-1]:.1f} ms")
