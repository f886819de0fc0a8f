"""The agent's side of a collection: which requests it takes, and the upload over real HTTP, retried after a
hub error and given up when the token expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from edge.capture.frames import Frame
from edge.config import CollectConfig
from edge.deliver.collect_upload import CollectDesk
from edge.recognize.processor import FrameResult, PooledFaces, TrackSighting
from facefleet.wire import CollectRequest

NOW = datetime.now(timezone.utc)
BOX = (300.0, 160.0, 340.0, 200.0)


class FakeHub(ThreadingHTTPServer):
    """Answers the queued statuses in turn (then 201), recording each request's path, headers and body."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.seen: list[tuple[str, str, bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler) -> None:  # noqa: N802, N805
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                self.seen.append((handler.path, handler.headers["Authorization"], body))
                handler.send_response(self.statuses.pop(0) if self.statuses else 201)
                handler.send_header("Content-Length", "0")
                handler.end_headers()

            def log_message(handler, *args: object) -> None:  # noqa: N805
                """Quiet."""

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def hub_factory() -> Iterator[list[FakeHub]]:
    hubs: list[FakeHub] = []
    yield hubs
    for hub in hubs:
        hub.shutdown()
        hub.server_close()


def serve(hubs: list[FakeHub], statuses: list[int]) -> FakeHub:
    hub = FakeHub(statuses)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    hubs.append(hub)
    return hub


def request(camera: str = "front", seconds: float = 0.2, expires_s: float = 60.0) -> bytes:
    now = datetime.now(timezone.utc)
    return (
        CollectRequest(
            collection_id="ab" * 16,
            camera=camera,
            seconds=seconds,
            max_crops=3,
            token="ffc_" + "t" * 40,
            expires=now + timedelta(seconds=expires_s),
            ts=now,
        )
        .model_dump_json()
        .encode()
    )


def frame_with_face(camera: str, index: int) -> tuple[Frame, FrameResult]:
    crop = np.full((1, 112, 112, 3), index * 20 % 255, np.uint8)
    embedding = np.zeros((1, 8), np.float32)
    embedding[0, index % 8] = 1.0
    pooled = PooledFaces(np.array([0]), np.array([1]), crop, embedding, np.array([0.9], np.float32), np.array([BOX]))
    result = FrameResult([], 1, 1, {}, sightings=(TrackSighting(1, True, True, BOX),), pooled=pooled)
    return Frame(camera, np.zeros((360, 640, 3), np.uint8), NOW, index), result


def wait_until(check: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_requests_it_cannot_serve_are_ignored() -> None:
    desk = CollectDesk({"front"}, "http://127.0.0.1:9", None, CollectConfig())
    desk.on_message("t", b"{not json")
    desk.on_message("t", request(camera="back"))  # no such camera here
    desk.on_message("t", request(expires_s=-1))  # expired on the way
    assert desk.collecting == set()
    desk.on_message("t", request())
    desk.on_message("t", request())  # one at a time per camera
    assert desk.collecting == {"front"}


def test_upload_is_retried_after_a_hub_error(hub_factory: list[FakeHub]) -> None:
    hub = serve(hub_factory, [503])
    desk = CollectDesk({"front"}, f"http://127.0.0.1:{hub.server_port}", None, CollectConfig())
    desk.start()
    try:
        desk.on_message("t", request(seconds=0.3))
        for index in range(6):
            desk.observe(*frame_with_face("front", index))
            desk.observe(*frame_with_face("other", index))  # a camera not collecting: nothing happens
        time.sleep(0.3)
        desk.observe(*frame_with_face("front", 6))  # past its time: the collection ends
        wait_until(lambda: desk.uploaded == 1)
    finally:
        desk.stop()
    assert len(hub.seen) == 2  # the 503, then the stored upload
    path, authorization, body = hub.seen[-1]
    assert path == f"/api/collections/{'ab' * 16}/crops" and authorization == "Bearer ffc_" + "t" * 40
    assert body.count(b'name="files"') == 3  # max_crops of the seven distinct crops
    assert desk.collecting == set()


def test_upload_gives_up_when_the_token_expires(hub_factory: list[FakeHub]) -> None:
    hub = serve(hub_factory, [500] * 100)
    desk = CollectDesk({"front"}, f"http://127.0.0.1:{hub.server_port}", None, CollectConfig())
    desk.start()
    try:
        desk.on_message("t", request(seconds=0.1, expires_s=3))
        desk.observe(*frame_with_face("front", 0))
        wait_until(lambda: not desk.collecting and len(hub.seen) >= 1)
        time.sleep(4)  # past the token's expiry: no more attempts
        attempts = len(hub.seen)
        time.sleep(2)
        assert len(hub.seen) == attempts and desk.uploaded == 0
    finally:
        desk.stop()
