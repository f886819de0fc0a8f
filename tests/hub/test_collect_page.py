"""The collection page in headless Chromium whose camera plays a real clip: enroll the person in front of it
through the page, see the kept samples, and find that person from a photo through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import CHROMEDRIVER, HubServer, chrome, library_state
from tests.hub.fake_camera import camera_flags, write_y4m
from tests.hub.test_web import csp_and_script_errors

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")

PHONE_WH = (390, 844)  # a phone held upright, in CSS pixels


def test_enroll_from_the_camera_on_a_phone_sized_page(hub_server: HubServer, shared_data: Path,
                                                       tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # the singer, waist up and frontal (frames 83-216 of the clip, short_hamilton_clip.truth.yaml)
    camera = write_y4m(shared_data / "clips" / "short_hamilton_clip.mp4", 83, 216, tmp_path / "singer.y4m")
    driver: Any = chrome(*camera_flags(camera))
    try:
        driver.set_window_size(*PHONE_WH)
        wait = WebDriverWait(driver, 120)
        driver.get(hub_server.url + "/")
        driver.find_element(By.LINK_TEXT, "Collect from a camera").click()
        assert driver.title == "FaceFleet collect"
        recognise = driver.find_element(By.ID, "recognise-link")
        assert recognise.get_attribute("href") == hub_server.url + "/static/recognise.html"
        driver.find_element(By.ID, "token").send_keys(hub_server.enroll)
        driver.find_element(By.ID, "save-token").click()
        driver.find_element(By.ID, "collect-label").send_keys("Lin-Manuel Miranda")
        driver.find_element(By.ID, "camera-start").click()
        wait.until(ec.element_to_be_clickable((By.ID, "collect-record"))).click()

        wait.until(ec.text_to_be_present_in_element((By.ID, "collect-result"), "Kept"))
        thumbnails_loaded = ("const imgs = [...document.querySelectorAll('#collect-samples-kept .sample img')];"
                             "return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth === 112);")
        wait.until(lambda d: d.execute_script(thumbnails_loaded))
        shown = len(driver.find_elements(By.CSS_SELECTOR, "#collect-samples-kept .sample"))
        people, samples, _ = library_state(hub_server.hub)
        assert people == 1 and samples == shown >= 5  # 32 frames of a moving singer: several distinct views
        fits = "return document.documentElement.scrollWidth <= window.innerWidth;"
        assert driver.execute_script(fits)  # no sideways scrolling on a phone
        assert csp_and_script_errors(driver) == []

        driver.find_element(By.CSS_SELECTOR, "#collect-samples-kept .delete-sample").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#collect-samples-kept .sample")) == shown - 1)
        assert library_state(hub_server.hub)[1] == shown - 1
    finally:
        driver.quit()

    photo = shared_data / "clips" / "people" / "lin_manuel_miranda" / "lin-manuel-miranda.png"
    with hub_server.client(hub_server.enroll) as client:
        found = client.post("/api/search", files={"file": (photo.name, photo.read_bytes(), "image/png")}).json()
    assert found["face_found"] and found["hits"][0]["name"] == "Lin-Manuel Miranda"
