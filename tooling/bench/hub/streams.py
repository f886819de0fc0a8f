"""Thin cameras against one hub: N streams of a real clip at its frame rate, latency and drops per stream.

A broker and a hub run as their own processes (`tooling.sim.procs`, the shipped broker config); the
clip's enrolled people are in the hub's gallery. Each of N client threads streams the bundled clip scaled to
640x360 at its frame rate (29.97 fps; looped for `seconds`) to `/api/stream` as its own device, and reads
the results. Per stream: frames sent, processed and dropped (replaced by a newer one while the hub was
busy), frames processed per second, frame -> result latency on the socket (send to the result's arrival),
and frame -> MQTT event latency (send of the frame whose processing produced the event to its arrival at a
subscriber on the broker). The clients run in this process and the hub in its own, on the same machine:
their JPEG encoding was done beforehand, so the clients cost little beside the hub.
"""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt
import websocket
from paho.mqtt.enums import CallbackAPIVersion

from edge.stream_client import StreamClient, StreamClosed
from facefleet.stream import EventMessage, FrameResult
from tooling.sim import procs as system
from tooling.sim.broker import MONITOR_USER, prepare_broker
from tooling.sim.procs import Processes, free_port

CLIP = "clips/short_hamilton_clip.mp4"
PEOPLE = {"Lin-Manuel Miranda": "lin_manuel_miranda", "Alex Lacamoire": "alex_lacamoire", "Barack Obama": "obama"}
MIN_FPS = 10.0


@dataclass(frozen=True)
class StreamFigures:
    """One stream of one run. Latencies in ms (None when nothing came back)."""

    sent: int
    processed: int
    dropped: int
    fps: float
    result_p50_ms: float | None
    result_p99_ms: float | None
    events: int
    event_p50_ms: float | None
    event_p99_ms: float | None
    closed: str = ""


@dataclass
class StreamsRun:
    streams: int
    seconds: float
    per_stream: list[StreamFigures] = field(default_factory=list)

    @property
    def min_fps(self) -> float:
        return min((s.fps for s in self.per_stream), default=0.0)

    def lines(self) -> list[str]:
        out = [f"{self.streams} stream(s), {self.seconds:.0f} s: slowest stream {self.min_fps:.1f} fps processed"]
        for i, s in enumerate(self.per_stream):
            out.append(
                f"  stream {i}: sent {s.sent}, processed {s.processed} ({s.fps:.1f} fps), dropped {s.dropped}; "
                f"frame->result p50 {_ms(s.result_p50_ms)} p99 {_ms(s.result_p99_ms)}; {s.events} events, "
                f"frame->MQTT p50 {_ms(s.event_p50_ms)} p99 {_ms(s.event_p99_ms)}"
                + (f"; closed: {s.closed}" if s.closed else "")
            )
        return out


@dataclass
class StreamsFigures:
    frame_wh: tuple[int, int]
    source_fps: float
    runs: list[StreamsRun] = field(default_factory=list)

    @property
    def sustained(self) -> int:
        """The most streams of the runs whose every stream was processed at >= MIN_FPS (0: none)."""
        return max((r.streams for r in self.runs if r.min_fps >= MIN_FPS), default=0)

    def lines(self) -> list[str]:
        out = [f"thin cameras: {self.frame_wh[0]}x{self.frame_wh[1]} JPEG frames at {self.source_fps:.2f} fps"]
        for run in self.runs:
            out += run.lines()
        out.append(f"streams one hub sustains at >= {MIN_FPS:.0f} fps each (of those run): {self.sustained}")
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "frame_wh": self.frame_wh,
                "source_fps": self.source_fps,
                "sustained": self.sustained,
                "runs": [
                    {"streams": r.streams, "seconds": r.seconds, "per_stream": [s.__dict__ for s in r.per_stream]}
                    for r in self.runs
                ],
            },
            indent=2,
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49], 1), round(cuts[98], 1)


def clip_jpegs(path: Path, width: int = 640, height: int = 360) -> tuple[list[bytes], float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    jpegs = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        jpegs.append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    capture.release()
    return jpegs, fps


class _EventClock:
    """Arrival time (monotonic) of each track event on the broker, by event id."""

    def __init__(self, port: int, password: str) -> None:
        self.arrived: dict[str, float] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=MONITOR_USER)
        self.client.username_pw_set(MONITOR_USER, password)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("facefleet/+/events", qos=1)
        self.client.loop_start()

    def _on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self.arrived.setdefault(json.loads(message.payload)["event_id"], time.monotonic())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class _Camera(threading.Thread):
    """One thin camera: sends the clip at its frame rate for `seconds`, reads the results on another thread."""

    def __init__(self, url: str, token: str, device: str, jpegs: list[bytes], fps: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.client = StreamClient(url, token, "cam", device)
        self.jpegs, self.fps, self.seconds = jpegs, fps, seconds
        self.sent_at: dict[int, float] = {}
        self.result_ms: list[float] = []
        self.event_frames: dict[str, int] = {}  # event id -> frame whose processing produced it
        self.processed = self.dropped = 0
        self.closed = ""
        self.start_event = threading.Event()

    def frames(self) -> Iterator[bytes]:
        count = round(self.seconds * self.fps)
        for i in range(count):
            yield self.jpegs[i % len(self.jpegs)]

    def run(self) -> None:
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        self.start_event.wait()
        start = time.monotonic()
        for n, jpeg in enumerate(self.frames(), 1):
            self.sent_at[n] = time.monotonic()
            try:
                self.client.send(jpeg)
            except OSError:
                break
            time.sleep(max(0.0, start + n / self.fps - time.monotonic()))
        time.sleep(2.0)  # the last results
        self.client.close()
        reader.join(5)

    def _read(self) -> None:
        frame = 0
        try:
            while True:
                reply = self.client.receive()
                if isinstance(reply, FrameResult):
                    frame = reply.frame
                    self.processed, self.dropped = self.processed + 1, reply.dropped
                    self.result_ms.append(1000 * (time.monotonic() - self.sent_at[frame]))
                elif isinstance(reply, EventMessage):
                    self.event_frames[reply.event.event_id] = frame
        except StreamClosed as exc:
            if exc.code != 1000:  # 1000: the answer to our own close
                self.closed = f"{exc.code} {exc.reason}"
        except (OSError, websocket.WebSocketException):
            pass  # our own close

    def figures(self, arrived: dict[str, float]) -> StreamFigures:
        event_ms = [1000 * (arrived[e] - self.sent_at[f]) for e, f in self.event_frames.items() if e in arrived]
        result_p50, result_p99 = _percentiles(self.result_ms)
        event_p50, event_p99 = _percentiles(event_ms)
        return StreamFigures(
            len(self.sent_at),
            self.processed,
            self.dropped,
            round(self.processed / self.seconds, 2),
            result_p50,
            result_p99,
            len(self.event_frames),
            event_p50,
            event_p99,
            self.closed,
        )


def run_streams_bench(
    procs: Processes, workdir: Path, data_dir: Path, counts: list[int], seconds: float
) -> StreamsFigures:
    """Broker and hub processes, the clip's people enrolled and signed into a gallery, then one run per count."""
    jpegs, fps = clip_jpegs(data_dir / CLIP)
    broker = prepare_broker(workdir, [], free_port(), free_port())
    system.start_broker(procs, broker)
    port, admin = free_port(), secrets.token_urlsafe(32)
    config = system.write_hub_config(
        workdir / "hub-streams.yaml", workdir / "hub", port, broker, stream={"max_streams": max(counts) + 1}
    )
    client = system.start_hub(procs, config, port, admin, broker, name="hub-streams")
    for label, folder in PEOPLE.items():
        files = [
            ("files", (p.name, p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg"))
            for p in sorted((data_dir / "clips" / "people" / folder).iterdir())
        ]
        client.post("/api/samples/photos", data={"label": label}, files=files).raise_for_status()
    client.post("/api/galleries").raise_for_status()
    clock = _EventClock(broker.plain_port, broker.passwords[MONITOR_USER])
    figures = StreamsFigures((640, 360), fps)
    try:
        for count in counts:
            cameras = [
                _Camera(str(client.base_url), admin, f"thin-{count}-{i}", jpegs, fps, seconds) for i in range(count)
            ]
            for camera in cameras:
                camera.client.connect()
                camera.start()
            for camera in cameras:
                camera.start_event.set()
            for camera in cameras:
                camera.join(seconds + 30)
            time.sleep(1.0)  # the last events through the broker
            figures.runs.append(StreamsRun(count, seconds, [c.figures(clock.arrived) for c in cameras]))
    finally:
        clock.close()
        client.close()
    return figures
