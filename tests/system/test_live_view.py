"""The demo's path as a test: enroll through the API, roll a gallery out, and watch the hub's live view in
headless Chromium show a real agent's tracks with identities, face crops and device status."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LFW
from tests.edge.scenes import ENROLLED
from tests.hub.conftest import CHROMEDRIVER, browser
from tests.system.conftest import System
from tooling.sim.procs import wait_for

__all__ = ["browser"]
pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")


def enroll_and_roll_out(fleet: System, device_id: str) -> str:
    api = fleet.api
    assert api is not None
    for folder in list(ENROLLED.values())[:2]:
        photos = [LFW / "images_deepfunneled" / folder / f"{folder}_{n:04d}.jpg" for n in range(1, 4)]
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
        api.post("/api/samples/photos", data={"label": folder.replace("_", " ")}, files=files).raise_for_status()
    version: str = api.post("/api/galleries").raise_for_status().json()["version"]
    wait_for(
        lambda: any(d["id"] == device_id and d["state"] == "online" for d in api.get("/api/devices").json()),
        "the agent online",
        90,
    )
    rollout = (
        api.post(
            "/api/rollouts",
            json={"kind": "gallery", "version": version, "devices": [device_id], "canaries": [device_id]},
        )
        .raise_for_status()
        .json()
    )
    wait_for(
        lambda: api.get(f"/api/rollouts/{rollout['id']}").json()["state"].startswith("completed"), "the rollout", 90
    )
    return version


def test_live_view_shows_real_tracks(fleet: System, people_clip: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    fleet.start_broker()
    api = fleet.start_hub()
    fleet.start_agent(
        "edge-1",
        people_clip,
        updates=True,
        cameras=[
            {
                "name": "door",
                "source": {"type": "file", "path": str(people_clip), "loop": True, "pacing": "every_frame"},
            }
        ],
    )
    enroll_and_roll_out(fleet, "edge-1")
    wait_for(
        lambda: any(e["name"] and e["type"] == "track_ended" for e in api.get("/api/events/recent").json()["events"]),
        "a recognised track",
        120,
    )

    browser.get(fleet.hub_url + "/")
    browser.find_element(By.ID, "token").send_keys(fleet.admin_token)
    browser.find_element(By.ID, "save-token").click()
    wait = WebDriverWait(browser, 30)
    crop_loaded = (
        "return [...document.querySelectorAll('#live img.crop')].some((img) => img.complete && img.naturalWidth > 0);"
    )
    wait.until(lambda driver: driver.execute_script(crop_loaded))
    identities = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "#live .live-identity")}
    assert identities & {"George W Bush", "Colin Powell"}, identities
    rows = browser.find_elements(By.CSS_SELECTOR, "#live .live-event")
    assert rows and "edge-1 / door" in rows[0].text
    assert "events" in browser.find_element(By.ID, "live-counts").text
    browser.find_element(By.CSS_SELECTOR, '#views a[data-route="devices"]').click()
    wait.until(lambda driver: "online" in driver.find_element(By.ID, "devices").text)
