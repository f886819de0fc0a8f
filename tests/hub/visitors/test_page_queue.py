"""The review queue in headless Chromium: sorted by visits, merge two, delete one, accept a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub.conftest import CHROMEDRIVER, HubServer
from tests.hub.visitors.conftest import track_event
from tests.hub.visitors.test_api import PERSON, _enroll, _face, _unknown_visitor

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")


def test_queue_merge_delete_accept(hub_server: HubServer, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    admin = hub_server.client(hub_server.admin)
    person = _enroll(admin, PERSON, range(1, 3))
    vector, crop = _face(hub_server, PERSON, 3)
    hub_server.hub.visitors.on_event(track_event("named-3-0000", vector, crop, person_id=person, confidence=0.75))
    frequent = _unknown_visitor(hub_server, "Gerhard_Schroeder", range(1, 4))
    rare = _unknown_visitor(hub_server, "Tony_Blair", range(1, 2))
    browser.get(hub_server.url + "/#/visitors")
    wait = WebDriverWait(browser, 60)
    browser.find_element(By.ID, "token").send_keys(hub_server.admin)
    browser.find_element(By.ID, "save-token").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#visitors .visitor")) == 2)
    order = [e.get_attribute("data-visitor-id") for e in browser.find_elements(By.CSS_SELECTOR, "#visitors .visitor")]
    assert order == [frequent, rare]  # most visits first
    for visitor in (frequent, rare):
        browser.find_element(By.CSS_SELECTOR, f'.visitor[data-visitor-id="{visitor}"] .select-visitor').click()
    browser.find_element(By.ID, "merge-visitors").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"merged into {frequent} (4 visits)"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#visitors .visitor")) == 1)

    browser.find_element(By.CSS_SELECTOR, ".suggestion .accept-suggestion").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"added 1 sample(s) to {PERSON}"))
    assert admin.get(f"/api/people/{person}").json()["samples"] == 3

    browser.execute_script("window.confirm = () => true;")
    browser.find_element(By.CSS_SELECTOR, f'.visitor[data-visitor-id="{frequent}"] .delete-visitor').click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"deleted visitor {frequent} (4 track(s))"))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#visitors .visitor"))
    assert admin.get("/api/visitors").json()["total_visitors"] == 0
