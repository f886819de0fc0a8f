"""The "recognise me" page in headless Chromium whose fake camera plays the bundled clip: the singer is named
on the page and in a track event on MQTT under the device the page streams as."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub.conftest import CHROMEDRIVER, chrome
from tests.hub.fleet.test_enroll_to_edge import EventLog
from tests.hub.streams.scenes import SINGER, SINGER_FRAMES, clip_video, enroll_and_sign
from tests.hub.test_web import csp_and_script_errors

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")]


def test_recognise_page_names_the_person_in_front_of_the_camera(mqtt_hub, broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    enroll_and_sign(mqtt_hub)
    camera = clip_video(tmp_path / "singer.y4m", *SINGER_FRAMES)
    log = EventLog(broker.port)
    browser = chrome("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={camera}")
    try:
        wait = WebDriverWait(browser, 240)
        browser.get(mqtt_hub.url + "/recognise")  # type: ignore[attr-defined]
        browser.find_element(By.ID, "stream-token").send_keys(mqtt_hub.device_token("phone-1"))  # type: ignore[attr-defined]
        browser.find_element(By.ID, "stream-camera").clear()  # type: ignore[attr-defined]
        browser.find_element(By.ID, "stream-camera").send_keys("selfie")  # type: ignore[attr-defined]
        browser.find_element(By.ID, "start").click()  # type: ignore[attr-defined]
        wait.until(ec.text_to_be_present_in_element((By.ID, "stream-status"), "streaming as phone-1/selfie"))
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#faces li.named"), SINGER))
        wait.until(ec.text_to_be_present_in_element((By.ID, "events"), f"identity_confirmed: {SINGER}"))
        wait.until(lambda _: any(e["type"] == "identity_confirmed" and e["device_id"] == "phone-1"
                                 and e["camera"] == "selfie" for e in log.named(SINGER)))
        browser.find_element(By.ID, "stop").click()  # type: ignore[attr-defined]
        wait.until(lambda _: any(e["type"] == "track_ended" and e["device_id"] == "phone-1"
                                 for e in log.named(SINGER)))  # stopping ends the tracks, as a lost camera
        assert csp_and_script_errors(browser) == []  # the page works under its Content-Security-Policy
    finally:
        browser.quit()  # type: ignore[attr-defined]
        log.close()
