"""Enrollment at a device through the real hub over HTTP, with a real broker: the request and its one-use
token on the device's own topic, the upload's bounds, pending crops, confirm, reject, expiry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from facefleet.wire import MAX_CROP_BYTES, CollectRequest, DeviceStatus
from hub.db import utc_now
from hub.settings import MqttConfig
from tests.conftest import LFW
from tests.edge.conftest import Subscriber
from tests.edge.scenes import lfw_image
from tests.hub.conftest import CHROMEDRIVER, HubServer, library_state
from tests.hub.test_web import csp_and_script_errors

PERSON = "Colin_Powell"


@pytest.fixture(scope="module")
def crops(pipeline) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Aligned 112 px JPEG crops of one LFW person, as an agent uploads them."""
    out = []
    for n in range(1, 5):
        image = lfw_image(LFW, PERSON, n)
        faces = pipeline.detect(image)
        crop = pipeline.crops_of(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), faces.select(np.array([0])))[0]
        out.append(cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))[1].tobytes())
    return out


@pytest.fixture
def hub(start_hub, broker) -> Iterator[HubServer]:  # type: ignore[no-untyped-def]
    server: HubServer = start_hub(
        mqtt=MqttConfig(port=broker.port, client_id="hub-test"),
        collect={"max_seconds": 10, "max_crops": 5, "default_crops": 4},
    )
    deadline = time.monotonic() + 30
    while not server.hub.mqtt or not server.hub.mqtt.connected.is_set():
        assert time.monotonic() < deadline, "the hub did not connect to the broker"
        time.sleep(0.05)
    server.hub.fleet.on_status(DeviceStatus(device_id="door-1", state="online", cameras=["front"]))
    server.hub.fleet.on_status(DeviceStatus(device_id="door-2", state="online", cameras=["front"]))
    server.hub.devices.mark_offline("door-2")
    yield server


@pytest.fixture
def requests(broker) -> Iterator[Subscriber]:  # type: ignore[no-untyped-def]
    subscriber = Subscriber(broker.port, "facefleet/+/collect", fresh=True)
    time.sleep(0.5)  # subscribed before anything is asked
    yield subscriber
    subscriber.client.disconnect()
    subscriber.client.loop_stop()


def ask(hub: HubServer, requests: Subscriber, **body: object) -> tuple[dict[str, object], CollectRequest]:
    with hub.client(hub.enroll) as api:
        answer = api.post("/api/devices/door-1/collect", json={"camera": "front", "label": PERSON, **body})
    assert answer.status_code == 201, answer.text
    collection = answer.json()
    requests.wait_for(
        lambda s: any(p["collection_id"] == collection["id"] for p in s.json("/collect")),
        30,
        "the request on door-1's topic",
    )
    topic, payload = next((t, p) for t, p in requests.messages if json.loads(p)["collection_id"] == collection["id"])
    assert topic == "facefleet/door-1/collect"
    return collection, CollectRequest.model_validate_json(payload)


def upload(hub: HubServer, request: CollectRequest, crops: list[bytes], token: str | None = None) -> httpx.Response:
    files = [("files", (f"{n}.jpg", jpeg, "image/jpeg")) for n, jpeg in enumerate(crops)]
    with hub.client(token or request.token) as device:
        return device.post(f"/api/collections/{request.collection_id}/crops", files=files)


def stored_files(hub: HubServer) -> list[Path]:
    return sorted(p for p in (hub.hub.settings.data_dir / "collections").rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("device", "body", "status"),
    [
        ("door-1", {"camera": "back"}, 404),  # no such camera
        ("door-9", {}, 404),  # no such device
        ("door-2", {}, 409),  # offline
        ("door-1", {"seconds": 11}, 422),  # over collect.max_seconds
        ("door-1", {"max_crops": 6}, 422),  # over collect.max_crops
        ("door-1", {"label": ""}, 422),
    ],
)
def test_bad_requests_are_refused(hub: HubServer, device: str, body: dict[str, object], status: int) -> None:
    with hub.client(hub.enroll) as api:
        answer = api.post(f"/api/devices/{device}/collect", json={"camera": "front", "label": PERSON, **body})
    assert answer.status_code == status, answer.text
    assert hub.hub.collections.listed() == []


def test_a_device_cannot_ask_for_a_collection(hub: HubServer) -> None:
    for token in (hub.device_token("door-1"), hub.device):
        with hub.client(token) as device:
            answer = device.post("/api/devices/door-1/collect", json={"camera": "front", "label": PERSON})
        assert answer.status_code == 403, answer.text


def test_collect_upload_confirm(hub: HubServer, requests: Subscriber, crops: list[bytes]) -> None:
    collection, request = ask(hub, requests, seconds=3)
    assert collection["state"] == "requested" and request.max_crops == 4 and request.seconds == 3
    assert PERSON not in requests.messages[-1][1].decode()  # the device never learns the label

    assert upload(hub, request, crops, token=hub.enroll).status_code == 403  # not a collect token
    assert upload(hub, request, crops * 2).status_code == 400  # over the request's count: form refused
    assert upload(hub, request, [b"\xff\xd8 not a jpeg"]).status_code == 422
    png = cv2.imencode(".png", np.zeros((112, 112, 3), np.uint8))[1].tobytes()
    assert upload(hub, request, [crops[0], png]).status_code == 422  # every crop a JPEG, or nothing stored
    huge = cv2.imencode(".jpg", np.zeros((2000, 2000, 3), np.uint8))[1].tobytes()
    assert len(huge) <= MAX_CROP_BYTES
    assert upload(hub, request, [huge]).status_code == 422  # a JPEG, but no crop
    assert upload(hub, request, [crops[0] + b"\0" * MAX_CROP_BYTES]).status_code == 422  # over 64 KiB
    assert stored_files(hub) == []

    stored = upload(hub, request, crops)
    assert stored.status_code == 201, stored.text
    assert stored.json()["state"] == "pending" and stored.json()["crops"] == 4
    assert upload(hub, request, crops).status_code == 401  # one use: replay refused
    assert len(stored_files(hub)) == 4

    with hub.client(hub.enroll) as api:
        pending = api.get("/api/collections", params={"state": "pending"}).json()
        assert [c["id"] for c in pending] == [collection["id"]]
        thumbnail = api.get(pending[0]["crop_urls"][0])
        assert thumbnail.status_code == 200 and thumbnail.content == crops[0]
        people_before = library_state(hub.hub)[0]
        confirmed = api.post(f"/api/collections/{collection['id']}/confirm")
        assert confirmed.status_code == 201, confirmed.text
        assert confirmed.json()["person"]["name"] == PERSON and confirmed.json()["faces_extracted"] >= 1
        assert library_state(hub.hub)[0] == people_before + 1
        assert api.post(f"/api/collections/{collection['id']}/confirm").status_code == 409  # enrolled once
        assert api.get("/api/collections").json()[0]["state"] == "confirmed"
    assert stored_files(hub) == []


def test_reject_and_expiry_delete_crops(hub: HubServer, requests: Subscriber, crops: list[bytes]) -> None:
    first, first_request = ask(hub, requests)
    assert upload(hub, first_request, crops[:2]).status_code == 201
    with hub.client(hub.enroll) as api:
        rejected = api.delete(f"/api/collections/{first['id']}")
        assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
        assert api.post(f"/api/collections/{first['id']}/confirm").status_code == 409
    assert stored_files(hub) == []

    second, second_request = ask(hub, requests)
    assert upload(hub, second_request, crops[:2]).status_code == 201
    third, third_request = ask(hub, requests)
    assert hub.hub.collections.expire(utc_now() + timedelta(days=30)) == 2  # pending and requested alike
    assert stored_files(hub) == []
    assert upload(hub, third_request, crops[:2]).status_code == 401  # its token went with it
    states = {c.id: c.state for c in hub.hub.collections.listed()}
    assert states == {first["id"]: "rejected", second["id"]: "expired", third["id"]: "expired"}


def test_expired_token_stores_nothing(hub: HubServer, requests: Subscriber, crops: list[bytes]) -> None:
    collection, request = ask(hub, requests)
    with hub.hub.db.transaction() as db:  # the token's own expiry passes (the sweep has not run)
        db.execute(
            "UPDATE tokens SET expires = ? WHERE name = ?",
            [(utc_now() - timedelta(seconds=1)).isoformat(), f"collect {collection['id']}"],
        )
    assert upload(hub, request, crops).status_code == 401
    assert stored_files(hub) == [] and hub.hub.collections.get(str(collection["id"])).state == "requested"


def test_upload_bounds_before_reading(hub: HubServer, requests: Subscriber, crops: list[bytes]) -> None:
    _, request = ask(hub, requests)
    url = f"/api/collections/{request.collection_id}/crops"
    with hub.client(request.token) as device:
        declared = device.post(
            url,
            content=b"x" * (5 * (MAX_CROP_BYTES + 1024) + 1),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert declared.status_code == 413
        chunked = device.post(
            url, content=iter([b"--x\r\n"] * 3), headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert chunked.status_code == 411
    assert upload(hub, request, crops).status_code == 201  # the token was not spent by the refusals


@pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")
def test_collect_review_confirm_in_browser(
    hub: HubServer,
    requests: Subscriber,
    crops: list[bytes],  # type: ignore[no-untyped-def]
    browser,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(hub.url + "/#/people")
    browser.find_element(By.ID, "token").send_keys(hub.enroll)
    browser.find_element(By.ID, "save-token").click()
    for field, value in (("collect-device", "door-1"), ("collect-camera", "front"), ("collect-label", PERSON)):
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "collect-start").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"door-1 collects {PERSON}"))
    requests.wait_for(lambda s: bool(s.json("/collect")), 30, "the request on door-1's topic")
    request = CollectRequest.model_validate_json(requests.messages[-1][1])
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.collection[data-state="requested"]'))

    assert upload(hub, request, crops[:3]).status_code == 201  # what the agent does
    thumbnails_loaded = (
        "const imgs = document.querySelectorAll('.collection[data-state=\"pending\"] img');"
        "return imgs.length === 3 && [...imgs].every((i) => i.complete && i.naturalWidth === 112);"
    )
    wait.until(lambda d: d.execute_script(thumbnails_loaded))
    browser.find_element(By.CSS_SELECTOR, ".collection .confirm-collection").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"of {PERSON} enrolled"))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".collection"))
    assert [p.name for p in hub.hub.library.people()] == [PERSON]
    assert csp_and_script_errors(browser) == []
