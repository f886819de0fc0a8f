"""Bad input to `/api/stream`: each bad stream gets its close code and a reason, a good stream beside them
keeps going, and the hub's memory stays bounded."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
import websocket

from edge.stream_client import StreamClient, StreamClosed, stream_url
from facefleet.stream import (
    CLOSE_BAD_DATA,
    CLOSE_POLICY,
    CLOSE_SLOW_READER,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    CLOSE_UNSUPPORTED,
    FrameResult,
    Ready,
)
from tests.hub.streams.scenes import SINGER_FRAMES, clip_jpegs

BOUNDS = {"max_streams": 4, "max_frame_bytes": 256 * 1024, "send_queue": 2, "hello_timeout_s": 1.0}


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024


def tiny_jpeg(width: int = 64, height: int = 64) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))[1].tobytes()


def declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to declare `width` x `height`."""
    data = bytearray(tiny_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7], data[sof + 7 : sof + 9] = height.to_bytes(2, "big"), width.to_bytes(2, "big")
    return bytes(data)


def closed_by(url: str, token: str, camera: str, *messages: bytes | str) -> tuple[int, str]:
    """Open a stream, send the hello with `token` ('': no hello) and `messages`, read until the hub closes."""
    client = StreamClient(url, token or "unused", camera)
    client.ws.connect(client.url, timeout=60)  # type: ignore[no-untyped-call]
    try:
        if token:
            client.ws.send(client.hello.model_dump_json())
        for message in messages:
            try:
                client.ws.send(message) if isinstance(message, str) else client.ws.send_bytes(message)
            except OSError:  # the hub closed while this was being sent: its close frame is there to read
                break
        while True:
            client.receive()
    except StreamClosed as exc:
        return exc.code, exc.reason
    except (websocket.WebSocketException, OSError) as exc:  # the hub dropped the connection without a close
        return 0, repr(exc)
    finally:
        client.close()


class GoodStream(threading.Thread):
    """A thin camera streaming the singer's close-up in a loop, one frame at a time, until stopped."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.client = StreamClient(url, token, "good")
        self.jpegs = clip_jpegs(*SINGER_FRAMES)
        self.processed = 0
        self.failed: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self.client.connect()
            while not self.stop.is_set():
                self.client.send(self.jpegs[self.processed % len(self.jpegs)])
                while not isinstance(self.client.receive(), FrameResult):
                    pass
                self.processed += 1
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.failed = exc

    def processed_after(self, frames: int, timeout_s: float = 120.0) -> bool:
        """True once `frames` more frames are processed (or False after `timeout_s`)."""
        target = self.processed + frames
        for _ in range(int(timeout_s * 10)):
            if self.processed >= target or self.failed:
                break
            self.stop.wait(0.1)
        return self.processed >= target


@pytest.fixture
def bounded_hub(start_hub):  # type: ignore[no-untyped-def]
    return start_hub(stream=BOUNDS)


def test_bad_streams_are_closed_with_reasons_and_a_good_one_keeps_going(bounded_hub) -> None:  # type: ignore[no-untyped-def]
    url, device = bounded_hub.url, bounded_hub.device_token("thin-1")
    collect = bounded_hub.hub.tokens.create_collect(
        "collect-thin-1", "thin-1", datetime.now(timezone.utc) + timedelta(minutes=5)
    )[1]
    good = GoodStream(url, device)
    good.start()
    assert good.processed_after(3)
    rss_before = rss_mb()
    cases = {  # what is sent -> the close code and words of its reason
        "unknown token": (("wrong-token",), CLOSE_POLICY, "unknown or revoked token"),
        "enroll token": ((bounded_hub.enroll,), CLOSE_POLICY, "needs a device token"),
        "admin token naming no device": ((bounded_hub.admin,), CLOSE_POLICY, "an admin token and a device name"),
        "a device's one-use collect token": ((collect,), CLOSE_POLICY, "needs a device token"),
        "garbage bytes": ((device, os.urandom(5000)), CLOSE_UNSUPPORTED, "no JPEG start marker"),
        "text frame": ((device, "hello again"), CLOSE_UNSUPPORTED, "binary JPEG frame"),
        "huge frame": ((device, b"\xff\xd8" + os.urandom(300 * 1024)), CLOSE_TOO_BIG, "at most 262144"),
        "header declaring 30000x30000": ((device, declaring(30000, 30000)), CLOSE_BAD_DATA, "declares 30000x30000"),
        "JPEG start and garbage": ((device, b"\xff\xd8" + os.urandom(5000)), CLOSE_BAD_DATA, "frame header"),
        "a good frame, then a lying one": (
            (device, tiny_jpeg(), declaring(60000, 60000)),
            CLOSE_BAD_DATA,
            "frame 2: frame header declares 60000x60000",
        ),
    }
    for n, (case, ((token, *messages), code, words)) in enumerate(cases.items()):
        got = closed_by(url, token, f"bad-{n}", *messages)
        assert got[0] == code and words in got[1], (case, got)
    for _ in range(5):  # 20 MB frames cost no memory: each is cut off as it arrives (the client may see only
        # the connection reset, as the hub closes while it is still sending)
        code, reason = closed_by(url, device, "huge", b"\xff\xd8" + os.urandom(20 * 1024 * 1024))
        assert code == CLOSE_TOO_BIG or "ConnectionReset" in reason or "BrokenPipe" in reason, reason
    assert rss_mb() - rss_before < 200
    with bounded_hub.client() as http:
        metrics = http.get("/metrics").text
    assert "facefleet_hub_streams_refused_total 4.0" in metrics  # the four tokens
    assert 'facefleet_hub_streams_closed_total{code="1007"} 3.0' in metrics
    assert good.processed_after(3) and good.failed is None, good.failed  # the good stream kept its way
    good.stop.set()
    good.join(30)


def test_no_hello_and_too_many_streams(bounded_hub) -> None:  # type: ignore[no-untyped-def]
    url, device = bounded_hub.url, bounded_hub.device_token("thin-1")
    assert closed_by(url, "", "silent") == (CLOSE_POLICY, "no hello within 1 s")
    good = GoodStream(url, device)
    good.start()
    assert good.processed_after(3)

    def connect(n: int) -> str:
        """A stream held open: 'ready', or the reason it was refused."""
        client = StreamClient(url, device, f"flood-{n}", timeout_s=120)
        try:
            ready = client.connect()
            assert isinstance(ready, Ready)
            held.append(client)
            return "ready"
        except StreamClosed as exc:
            client.close()
            return f"{exc.code}"

    held: list[StreamClient] = []
    with ThreadPoolExecutor(100) as pool:
        answers = Counter(pool.map(connect, range(100)))
    assert answers == {"ready": BOUNDS["max_streams"] - 1, f"{CLOSE_TRY_LATER}": 100 - BOUNDS["max_streams"] + 1}
    assert good.processed_after(3) and good.failed is None, good.failed
    for client in held:
        client.close()
    assert closed_by(url, device, "good", tiny_jpeg())[0] == CLOSE_TRY_LATER  # that camera streams already
    good.stop.set()
    good.join(30)


@pytest.mark.slow
def test_a_client_that_never_reads_is_closed(bounded_hub) -> None:  # type: ignore[no-untyped-def]
    """Tiny frames, results never read: the WebSocket keepalive (its pings are never answered) or, when the
    socket's buffers fill first, the hub's full `send_queue` closes the stream, and the hub stops reading."""
    ws = websocket.WebSocket(sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    ws.connect(stream_url(bounded_hub.url), timeout=60)  # type: ignore[no-untyped-call]
    ws.settimeout(10)
    client = StreamClient(bounded_hub.url, bounded_hub.device_token("thin-1"), "deaf")
    client.ws = ws
    ws.send(client.hello.model_dump_json())
    frame, stop = tiny_jpeg(), time.monotonic() + 300
    try:
        while time.monotonic() < stop:
            ws.send_bytes(frame)
            time.sleep(0.002)
    except (websocket.WebSocketException, OSError):
        pass  # the hub stopped reading
    assert time.monotonic() < stop, "the hub never closed the stream"
    assert bounded_hub.hub.streams.open_streams == 0
    try:  # the unread results, then the close
        while True:
            client.receive()
    except StreamClosed as exc:
        assert (exc.code, exc.reason) in (
            (1011, "keepalive ping timeout"),
            (CLOSE_SLOW_READER, "2 results waiting unread; read them"),
        ), exc
    except (websocket.WebSocketException, OSError):
        pass  # the connection ended before the close frame could be sent
    finally:
        ws.close()
