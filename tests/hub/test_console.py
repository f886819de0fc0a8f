"""The hub page as a console in headless Chromium: deep links and the back button, a person's page (samples,
sightings plot and crops), search by photo, repeats grouped with a count, a phone-width layout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from facefleet.wire import TrackEvent
from tests.conftest import LFW
from tests.hub.conftest import CHROMEDRIVER, HubServer
from tests.hub.test_web import csp_and_script_errors
from tests.hub.visitors.conftest import track_event
from tests.hub.visitors.test_api import PERSON, _enroll, _face
from tooling.visitor_eval.hubs import T0

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")
PHONE_WH = (390, 844)


def _sightings(hub_server: HubServer, person: str) -> None:
    """Three named tracks of `person`: two at door-1/front, one at door-1/back, a minute apart; and one live
    track that sent three events (started, identity confirmed, ended)."""
    for n, camera in enumerate(("front", "front", "back")):
        vector, crop = _face(hub_server, PERSON, 3 + n % 2)
        at = T0 + timedelta(minutes=n)
        hub_server.hub.visitors.on_event(
            track_event(
                f"seen-000{n}",
                vector,
                crop,
                person_id=person,
                confidence=0.75,
                camera=camera,
                track_id=n + 1,
                started_at=at,
                ended_at=at + timedelta(seconds=20),
                ts=at,
            )
        )
    vector, crop = _face(hub_server, PERSON, 3)
    for n, kind in enumerate(("track_started", "identity_confirmed", "track_ended")):
        event = track_event(f"live-000{n}", vector, crop, person_id=person, track_id=7, seq=n + 1)
        if kind != "track_ended":  # only the end carries the template and the crop
            event = TrackEvent.model_validate(
                {**event.model_dump(), "type": kind, "template": None, "best_crop_jpeg_b64": None}
            )
        hub_server.hub.events.add(event)


def _tab(browser, name: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, f'#views a[data-route="{name}"]').click()


def _shown(browser, view: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(browser.execute_script("return document.body.dataset.rendered === arguments[0];", view))


def test_console_views_in_browser(hub_server: HubServer, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    admin = hub_server.client(hub_server.admin)
    person = _enroll(admin, PERSON, range(1, 3))
    _sightings(hub_server, person)
    wait = WebDriverWait(browser, 60)
    browser.get(hub_server.url + "/")
    browser.find_element(By.ID, "token").send_keys(hub_server.admin)
    browser.find_element(By.ID, "save-token").click()
    wait.until(lambda d: _shown(d, "live"))  # no route: the Live view

    # Live: the track's three events are one row that says so
    rows = browser.find_elements(By.CSS_SELECTOR, "#live tr.live-event")
    assert [r.find_element(By.CLASS_NAME, "live-count").text for r in rows] == ["×3"]
    assert rows[0].find_element(By.CLASS_NAME, "live-identity").text == person  # an event names by id here

    # a deep link opens one person: samples, a plot with a mark per sighting on a lane per camera, crops
    browser.get(hub_server.url + f"/#/people/{person}")
    wait.until(lambda d: _shown(d, "person"))
    assert browser.find_element(By.ID, "person-name").text == PERSON
    assert "2 sample(s)" in browser.find_element(By.ID, "person-coverage").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#person-samples .sample")) == 2
    marks = browser.find_elements(By.CSS_SELECTOR, "#person-timeline svg rect.sighting")
    assert sorted(m.get_attribute("data-event-id") for m in marks) == ["seen-0000", "seen-0001", "seen-0002"]
    lanes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#person-timeline .lane-name")]
    assert lanes == ["door-1/back", "door-1/front"]
    xs = {m.get_attribute("data-event-id"): float(m.get_attribute("x")) for m in marks}
    assert xs["seen-0000"] < xs["seen-0001"] < xs["seen-0002"]  # time runs left to right
    crops_loaded = (
        "return [...document.querySelectorAll('#person-sightings img')]"
        ".filter((i) => i.complete && i.naturalWidth === 112).length;"
    )
    wait.until(lambda d: d.execute_script(crops_loaded) == 3)

    # search by photo from the Search tab; the back button returns to the person
    _tab(browser, "search")
    wait.until(lambda d: d.current_url.endswith("#/search") and _shown(d, "search"))
    photo = LFW / "images_deepfunneled" / PERSON / f"{PERSON}_0005.jpg"
    browser.find_element(By.ID, "search-photo").send_keys(str(photo))
    browser.find_element(By.ID, "search-start").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "1 match(es)"))
    hit = browser.find_element(By.CSS_SELECTOR, "#search-results .search-hit")
    assert hit.find_element(By.CLASS_NAME, "search-name").text == PERSON
    assert float(hit.find_element(By.CLASS_NAME, "search-score").text) > 0.3
    assert len(hit.find_elements(By.CSS_SELECTOR, "img.search-sample")) == 2
    browser.back()
    wait.until(lambda d: _shown(d, "person") and d.current_url.endswith(f"#/people/{person}"))

    # Visitors: the person's suggestions from one camera are one card, counted
    suggested = admin.get("/api/suggestions").json()
    per_camera = {c: sum(s["camera"] == c for s in suggested) for c in ("front", "back")}
    _tab(browser, "visitors")
    wait.until(lambda d: _shown(d, "visitors"))
    cards = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#suggestions .suggestion") or None)
    assert sorted(int(c.get_attribute("data-count")) for c in cards) == sorted(n for n in per_camera.values() if n)
    named = browser.find_elements(By.CSS_SELECTOR, "#named-tracks .named-track")
    assert sorted(c.get_attribute("data-count") for c in named) == ["1", "2"]  # back once, front twice
    assert csp_and_script_errors(browser) == []


def test_phone_width_fits_without_sideways_scroll(hub_server: HubServer, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    admin = hub_server.client(hub_server.admin)
    person = _enroll(admin, PERSON, range(1, 3))
    _sightings(hub_server, person)
    browser.set_window_size(*PHONE_WH)
    wait = WebDriverWait(browser, 60)
    browser.get(hub_server.url + "/")
    browser.find_element(By.ID, "token").send_keys(hub_server.admin)
    browser.find_element(By.ID, "save-token").click()
    inner_width = browser.execute_script("return window.innerWidth;")
    for route, view in (
        ("live", "live"),
        ("people", "people"),
        (f"people/{person}", "person"),
        ("visitors", "visitors"),
        ("devices", "devices"),
        ("search", "search"),
        ("training", "training"),
    ):
        browser.get(hub_server.url + f"/#/{route}")
        wait.until(lambda d: _shown(d, view))  # noqa: B023 (waited for within the iteration)
        width = browser.execute_script("return document.documentElement.scrollWidth;")
        assert width <= inner_width, (route, width, inner_width)  # wide tables scroll inside their own box
