"""The whole loop, all real: an agent process plays the bundled clip with an empty gallery; its unknown tracks
reach the hub over Mosquitto and become visitors; in headless Chromium the review queue shows them, the
singer's visitor is named (enrolled through the enrollment path) and an audience visitor is ignored; on the
Devices & rollouts view the next signed gallery is built and rolled out with the agent as canary, and the page
shows the canary applied; on the clip's next loop the agent names the singer and reports the ignored visitor
as `ignored`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facefleet.gallery import Gallery
from tests.conftest import CLIPS, ROOT
from tests.hub.conftest import CHROMEDRIVER
from tests.hub.fleet.test_enroll_to_edge import EventLog, _agent_config, _wait, stop_agent
from tests.hub.test_web import csp_and_script_errors

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed"),
]
SINGER = "Lin-Manuel Miranda"


def _embedded_tracks(hub, min_frames: int) -> list:  # type: ignore[no-untyped-def]
    return [t for t in hub.visitor_store.tracks(limit=1000) if t.visitor_id and t.frames >= min_frames]


def test_visitor_named_and_ignored_in_the_page_reach_the_agent(mqtt_hub, broker, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    hub = mqtt_hub.hub
    config = _agent_config(
        tmp_path,
        CLIPS / "short_hamilton_clip.mp4",
        hub.settings.data_dir / "keys" / "hub.pub",
        broker.port,
        mqtt_hub.url,
    )
    log = EventLog(broker.port)
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "FACEFLEET_DEVICE_TOKEN": mqtt_hub.device_token("door-1")},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "agent.log", "wb"),
    )  # noqa: SIM115
    admin = mqtt_hub.client(mqtt_hub.admin)
    try:
        # the singer's close-up (130 frames) and the audience (64 frames) pool 8 or more embeddings each
        _wait(lambda: len(_embedded_tracks(hub, 8)) >= 2, "the singer and an audience face as visitors", 600, agent)
        singer, audience = sorted(_embedded_tracks(hub, 8), key=lambda t: t.started_at)[:2]
        assert singer.visitor_id != audience.visitor_id

        wait = WebDriverWait(browser, 60)
        browser.get(mqtt_hub.url + "/#/visitors")
        browser.find_element(By.ID, "token").send_keys(mqtt_hub.admin)
        browser.find_element(By.ID, "save-token").click()
        card = wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, f'.visitor[data-visitor-id="{singer.visitor_id}"]'))
        )
        wait.until(lambda _: "visit(s)" in card.find_element(By.CSS_SELECTOR, ".visitor-info").text)
        card.find_element(By.CSS_SELECTOR, ".visitor-name").send_keys(SINGER)
        card.find_element(By.CSS_SELECTOR, ".name-visitor").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"as {SINGER}"))
        person = next(p for p in admin.get("/api/people").json() if p["name"] == SINGER)
        assert person["samples"] >= 1
        ignore = browser.find_element(
            By.CSS_SELECTOR, f'.visitor[data-visitor-id="{audience.visitor_id}"] .ignore-visitor'
        )
        ignore.click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"ignoring {audience.visitor_id}"))
        browser.find_element(By.CSS_SELECTOR, '#views a[data-route="people"]').click()
        wait.until(lambda d: SINGER in [e.text for e in d.find_elements(By.CSS_SELECTOR, "#people .person-name")])

        # Devices & rollouts: build the gallery, tick the agent as target and canary, roll out, watch it apply
        browser.find_element(By.CSS_SELECTOR, '#views a[data-route="devices"]').click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#devices tr[data-device-id="door-1"]')))
        browser.find_element(By.ID, "build-gallery").click()
        WebDriverWait(browser, 600).until(ec.text_to_be_present_in_element((By.ID, "status"), "built (1 people)"))
        version = admin.get("/api/galleries").json()[-1]["version"]
        gallery = Gallery.load(hub.artifacts.file_path("gallery", version))
        assert gallery.names == (SINGER,) and gallery.ignores.ids == (audience.visitor_id,)
        wait.until(lambda d: d.find_element(By.ID, "rollout-version").get_attribute("value") == version)
        for box in ("rollout-target", "rollout-canary"):
            browser.find_element(By.CSS_SELECTOR, f'#devices .{box}[value="door-1"]').click()
        browser.find_element(By.ID, "rollout-start").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"of gallery {version} started (canary)"))
        rollout = admin.get("/api/rollouts").json()[0]
        assert [(d["device_id"], d["canary"]) for d in rollout["devices"]] == [("door-1", True)]
        applied = f'.rollout[data-rollout-id="{rollout["id"]}"] .progress.canary[data-state="applied"]'
        WebDriverWait(browser, 180).until(ec.presence_of_element_located((By.CSS_SELECTOR, applied)))
        completed = f'.rollout[data-rollout-id="{rollout["id"]}"][data-state="completed"]'
        WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, completed)))
        gallery_cell = '#devices tr[data-device-id="door-1"] .device-gallery'
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, gallery_cell), version))
        assert csp_and_script_errors(browser) == []

        def after(kind: str) -> list[dict]:
            with log.lock:
                return [e for e in log.events.values() if e["gallery_version"] == version and e["type"] == kind]

        _wait(lambda: any(e["name"] == SINGER for e in after("track_ended")), "the agent naming the singer", 600, agent)
        _wait(lambda: any(e["ignored"] for e in after("track_ended")), "an ignored track", 600, agent)
        ignored = [e for e in after("track_ended") if e["ignored"]]
        assert all(e["person_id"] is None and e["template"] for e in ignored)
        assert not any(e["name"] not in (None, SINGER) for e in after("track_ended"))
    finally:
        log.close()
        stop_agent(agent)
