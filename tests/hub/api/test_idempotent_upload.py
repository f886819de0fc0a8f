"""Uploads the collection page makes (a Motion-JPEG body under an Idempotency-Key) over real HTTP: a retry
stores once, a failed or cut-off upload stores nothing, and the same key then still works."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from hub.library.upload_keys import UploadAlreadyStored
from tests.hub.conftest import HubServer, library_state
from tooling.bench.hub.hostile import gray_jpeg

LABEL = "Lin-Manuel Miranda"


@pytest.fixture(scope="module")
def mjpeg(shared_data: Path) -> bytes:
    """Every 4th frame of the singer's close-up (frames 83-216 of the clip) as JPEGs one after another."""
    capture = cv2.VideoCapture(str(shared_data / "clips" / "short_hamilton_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 83)
    frames = []
    for index in range(83, 217):
        ok, frame = capture.read()
        assert ok
        if index % 4 == 0:
            frames.append(cv2.imencode(".jpg", frame)[1].tobytes())
    capture.release()
    return b"".join(frames)


def post(server: HubServer, body: bytes, key: str, label: str = LABEL) -> httpx.Response:
    with server.client(server.enroll, timeout=120) as client:
        return client.post(
            "/api/samples/video",
            data={"label": label, "max_samples": "8"},
            files={"file": ("camera.mjpeg", body, "video/x-motion-jpeg")},
            headers={"Idempotency-Key": key},
        )


def spooled(server: HubServer) -> list[Path]:
    root = server.hub.settings.data_dir / "uploads"
    return list(root.iterdir()) if root.is_dir() else []


def test_a_retry_after_the_commit_stores_nothing_again(hub_server: HubServer, mjpeg: bytes) -> None:
    first = post(hub_server, mjpeg, "key-retry-0001")
    assert first.status_code == 201, first.text
    kept = [s["id"] for s in first.json()["samples"]]
    state = library_state(hub_server.hub)
    assert state[:2] == (1, len(kept)) and 3 <= len(kept) <= 8
    again = post(hub_server, mjpeg, "key-retry-0001")  # the answer was lost: the page sends it again
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert [s["id"] for s in again.json()["samples"]] == kept
    assert again.json()["person"]["id"] == first.json()["person"]["id"]
    assert library_state(hub_server.hub) == state
    assert post(hub_server, mjpeg, "key-retry-0001", "Someone Else").status_code == 409  # a key is one upload
    assert post(hub_server, mjpeg, "bad key!").status_code == 422
    fresh = post(hub_server, mjpeg, "key-retry-0002")  # a new recording of the same person adds to them
    assert fresh.status_code in (201, 422)  # 422: every face a duplicate of the first upload's
    assert library_state(hub_server.hub)[0] == 1


def test_concurrent_tries_with_one_key_store_once(hub_server: HubServer, mjpeg: bytes) -> None:
    answers: list[httpx.Response] = []
    tries = [
        threading.Thread(target=lambda: answers.append(post(hub_server, mjpeg, "key-twice-0001"))) for _ in range(2)
    ]
    for t in tries:
        t.start()
    for t in tries:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert answers[0].json()["samples"] == answers[1].json()["samples"]
    assert library_state(hub_server.hub)[:2] == (1, len(answers[0].json()["samples"]))


def test_a_cut_off_upload_stores_nothing_and_its_retry_stores_once(hub_server: HubServer, mjpeg: bytes) -> None:
    before = library_state(hub_server.hub)
    request = httpx.Request(
        "POST",
        hub_server.url + "/api/samples/video",
        data={"label": LABEL},
        files={"file": ("camera.mjpeg", mjpeg, "video/x-motion-jpeg")},
        headers={"Authorization": f"Bearer {hub_server.enroll}", "Idempotency-Key": "key-cut-0001"},
    )
    body = request.read()
    head = (
        f"POST /api/samples/video HTTP/1.1\r\nHost: {request.url.host}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host")
        + "\r\n"
    )
    with socket.create_connection((request.url.host, request.url.port or 80)) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])  # the phone loses its link halfway
    deadline = time.monotonic() + 30
    while spooled(hub_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spooled(hub_server) == [] and library_state(hub_server.hub) == before
    retried = post(hub_server, mjpeg, "key-cut-0001")
    assert retried.status_code == 201
    assert library_state(hub_server.hub)[:2] == (1, len(retried.json()["samples"]))


def test_a_refused_upload_stores_nothing_and_the_key_stays_free(hub_server: HubServer, mjpeg: bytes) -> None:
    before = library_state(hub_server.hub)
    lying = mjpeg[: len(mjpeg) // 2]
    lying = lying[: lying.rindex(b"\xff\xd8")] + gray_jpeg(5000, 5000) + mjpeg  # a 25 MP frame midway
    refused = post(hub_server, lying, "key-refused-01")
    assert refused.status_code == 422 and "frame limit" in refused.text
    assert library_state(hub_server.hub) == before and spooled(hub_server) == []
    assert post(hub_server, mjpeg, "key-refused-01").status_code == 201  # nothing was stored under the key


def test_the_key_is_claimed_in_the_storing_transaction(
    start_hub: Callable[..., HubServer], mjpeg: bytes, tmp_path: Path
) -> None:
    """Two tries that both got past the early check (they raced): the second learns of the first when it
    stores, even where the first filled the person's room (the key is checked before the room)."""
    server = start_hub(enroll={"max_samples_per_person": 4})
    library, enroller = server.hub.library, server.hub.enroller
    video = tmp_path / "v.mjpeg"
    video.write_bytes(mjpeg)
    tickets = [library.begin_upload(LABEL, "key-race-0001") for _ in range(2)]  # both before either stores
    reports = [enroller.from_video(video, "v", np.zeros((0, 0), np.float32)) for _ in range(2)]
    person, samples = library.add_samples(tickets[0], reports[0].accepted, reports[0].model_id, 4)
    with pytest.raises(UploadAlreadyStored) as raised:
        library.add_samples(tickets[1], reports[1].accepted, reports[1].model_id, 4)
    assert raised.value.stored.person_id == person.id
    assert raised.value.stored.sample_ids == tuple(s.id for s in samples)
    assert library_state(server.hub)[:2] == (1, 4)
