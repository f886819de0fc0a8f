"""Any camera, end to end in headless Chromium whose fake camera plays the bundled clip's singer: enroll him
through the collection page (the other people of the clip from their photos), sign a gallery, then stream the
same camera from the "recognise me" page: he is named on the page and in a track event on MQTT under the
device the page streams as."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import CHROMEDRIVER, HubServer, chrome
from tests.hub.fake_camera import camera_flags, write_y4m
from tests.hub.fleet.test_enroll_to_edge import EventLog
from tests.hub.streams.scenes import CLIP, CLIPS, PEOPLE, SINGER, SINGER_FRAMES
from tests.hub.test_web import csp_and_script_errors

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed"),
]


def _enroll_the_others_from_photos(server: HubServer) -> None:
    with server.client(server.enroll) as client:
        for label, folder in PEOPLE.items():
            if label == SINGER:
                continue
            files = [
                ("files", (p.name, p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg"))
                for p in sorted((CLIPS / "people" / folder).iterdir())
            ]
            assert client.post("/api/samples/photos", data={"label": label}, files=files).status_code == 201


def _enroll_through_the_collection_page(browser: Any, server: HubServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 240)
    browser.get(server.url + "/collect")
    browser.find_element(By.ID, "token").send_keys(server.enroll)
    browser.find_element(By.ID, "save-token").click()
    browser.find_element(By.ID, "collect-label").send_keys(SINGER)
    browser.find_element(By.ID, "camera-start").click()
    wait.until(ec.element_to_be_clickable((By.ID, "collect-record"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "collect-result"), "Kept"))
    assert csp_and_script_errors(browser) == []
    browser.find_element(By.ID, "recognise-link").click()


def test_a_person_enrolled_from_a_camera_is_recognised_streaming_from_it(
    mqtt_hub: HubServer,
    broker,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    _enroll_the_others_from_photos(mqtt_hub)
    camera = write_y4m(CLIP, *SINGER_FRAMES, tmp_path / "singer.y4m", width=640)
    log = EventLog(broker.port)
    browser: Any = chrome(*camera_flags(camera))
    try:
        _enroll_through_the_collection_page(browser, mqtt_hub)
        with mqtt_hub.client(mqtt_hub.enroll) as client:
            people = {p["name"]: p for p in client.get("/api/people").json()}
        assert set(people) == set(PEOPLE) and people[SINGER]["samples"] >= 5
        with mqtt_hub.client(mqtt_hub.admin) as client:
            assert client.post("/api/galleries").status_code in (200, 201)

        wait = WebDriverWait(browser, 240)
        assert browser.current_url == mqtt_hub.url + "/recognise"
        browser.find_element(By.ID, "stream-token").send_keys(mqtt_hub.device_token("phone-1"))
        browser.find_element(By.ID, "stream-camera").clear()
        browser.find_element(By.ID, "stream-camera").send_keys("selfie")
        browser.find_element(By.ID, "start").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "stream-status"), "streaming as phone-1/selfie"))
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#faces li.named"), SINGER))
        wait.until(ec.text_to_be_present_in_element((By.ID, "events"), f"identity_confirmed: {SINGER}"))
        wait.until(
            lambda _: any(
                e["type"] == "identity_confirmed" and e["device_id"] == "phone-1" and e["camera"] == "selfie"
                for e in log.named(SINGER)
            )
        )
        browser.find_element(By.ID, "stop").click()
        wait.until(
            lambda _: any(e["type"] == "track_ended" and e["device_id"] == "phone-1" for e in log.named(SINGER))
        )  # stopping ends the tracks, as a lost camera
        assert csp_and_script_errors(browser) == []  # the page works under its Content-Security-Policy
        with log.lock:
            names = {e["name"] for e in log.events.values()}
        assert names <= {None, SINGER}  # the singer only: no one else is named from his camera
    finally:
        browser.quit()
        log.close()
