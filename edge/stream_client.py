"""A thin camera: frames of a local source sent to the hub's `/api/stream`, its results read back.

For a device that cannot run the nets (a small ARM board without an accelerator, an old camera box): it
only reads and JPEG-encodes frames. The hub recognises them with the agent's own processor and publishes
the track events under this device's id (hub/README.md, "Recognition on the hub"). The protocol is
`facefleet.stream`; the socket is `websocket-client`'s (plain threads, as the rest of the agent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import websocket

from facefleet.stream import PATH, REPLY, EventMessage, FrameResult, Hello, Ready

log = logging.getLogger(__name__)
Reply = Ready | FrameResult | EventMessage


class StreamClosed(Exception):
    """The hub closed the stream: its close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"stream closed by the hub ({code}): {reason}")
        self.code = code
        self.reason = reason


def stream_url(hub_url: str) -> str:
    """`http(s)://host:port` -> `ws(s)://host:port/api/stream`."""
    base = hub_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + PATH
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + PATH
    raise ValueError(f"hub URL {hub_url!r} is not http(s)://")


class StreamClient:
    """One stream: `connect` sends the hello and returns the hub's `Ready`; `send` a JPEG frame; `receive` the
    next reply (raises `StreamClosed` when the hub closes)."""

    def __init__(
        self, hub_url: str, token: str, camera: str = "cam0", device: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.url = stream_url(hub_url)
        self.hello = Hello(token=token, camera=camera, device=device)
        self.timeout_s = timeout_s
        self.ws = websocket.WebSocket()
        self._send_lock = threading.Lock()

    def connect(self) -> Ready:
        self.ws.connect(self.url, timeout=self.timeout_s)  # type: ignore[no-untyped-call]
        self.ws.send(self.hello.model_dump_json(exclude_none=True))
        first = self.receive()
        if not isinstance(first, Ready):
            raise StreamClosed(1002, f"expected ready, got {first.type}")
        return first

    def send(self, jpeg: bytes) -> None:
        with self._send_lock:
            self.ws.send_bytes(jpeg)

    def receive(self) -> Reply:
        """The next reply; raises `StreamClosed` with the hub's code and reason when it closes."""
        while True:
            opcode, frame = self.ws.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_TEXT:
                return REPLY.validate_json(frame.data)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data or b""
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                raise StreamClosed(code, data[2:].decode("utf-8", "replace"))

    def close(self) -> None:
        self.ws.close()


def source_frames(source: str, max_width: int = 1280) -> Iterator[tuple[np.ndarray, float]]:
    """(BGR frame, seconds until the next one) of a video file (at its frame rate), a camera index or an
    RTSP URL (as they come). Frames wider than `max_width` are scaled down before encoding."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise ValueError(f"cannot open source {source!r}")
    is_file = not source.isdigit() and "://" not in source
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    try:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                return
            if image.shape[1] > max_width:
                scale = max_width / image.shape[1]
                image = cv2.resize(image, (max_width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            yield image, (1.0 / fps if is_file else 0.0)
    finally:
        capture.release()


def encode_jpeg(image_bgr: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer.tobytes())


@dataclass
class StreamRun:
    """What `run_stream` saw: frames sent, frames the hub processed, the last dropped count, the close."""

    sent: int = 0
    processed: int = 0
    dropped: int = 0
    events: int = 0
    last_frame: int = 0
    closed: StreamClosed | None = None


def run_stream(
    client: StreamClient,
    frames: Iterator[tuple[np.ndarray, float]],
    on_reply: Callable[[Reply], None],
    stop: threading.Event | None = None,
) -> StreamRun:
    """Send `frames` at their pace while a thread reads the replies into `on_reply`; returns when the source
    has ended and the last frame's result arrived (or 10 s passed), `stop` is set, or the hub closed."""
    stop = stop or threading.Event()
    run = StreamRun()
    sent_all, caught_up = threading.Event(), threading.Event()

    def read() -> None:
        try:
            while True:
                reply = client.receive()
                if isinstance(reply, FrameResult):
                    run.processed, run.dropped, run.last_frame = run.processed + 1, reply.dropped, reply.frame
                elif isinstance(reply, EventMessage):
                    run.events += 1
                on_reply(reply)
                if sent_all.is_set() and run.last_frame >= run.sent:
                    caught_up.set()
        except StreamClosed as exc:
            if exc.code != 1000:  # 1000: the hub's answer to our own close
                run.closed = exc
        except (websocket.WebSocketException, OSError):
            pass  # closed by us
        finally:
            caught_up.set()
            stop.set()

    reader = threading.Thread(target=read, name="stream-replies", daemon=True)
    reader.start()
    next_at = time.monotonic()
    for image, interval in frames:
        if stop.is_set():
            break
        try:
            client.send(encode_jpeg(image))
        except (websocket.WebSocketException, OSError):
            break
        run.sent += 1
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    sent_all.set()
    if run.last_frame >= run.sent:
        caught_up.set()
    caught_up.wait(10.0)
    client.close()
    reader.join(5.0)
    return run
