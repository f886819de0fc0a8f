"""Screenshots of each view of the hub's page at a desktop and a phone width, for a reviewer who does not
run a browser (`facefleet demo --screenshots DIR` takes them of the demo's hub before it stops). The tests drive
the page with the same headless Chromium.

Headless Chromium through Selenium (the `hub` extra): the token goes into the page's localStorage as the
page's own form puts it, each view is opened by its hash route, and a shot is taken once the page says the
view has drawn its data (`body[data-rendered]`) and its images have loaded.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
VIEWPORTS_WH = {"desktop": (1280, 800), "phone": (390, 844)}
VIEWS = ("live", "people", "person", "visitors", "devices", "search", "training")
IMAGES_LOADED = "return [...document.images].every((img) => img.complete);"


@dataclass(frozen=True)
class Shot:
    view: str
    viewport: str
    path: Path


def headless_chrome(*extra_flags: str) -> WebDriver:
    """Headless Chromium that keeps its console log (CSP violations are reported there)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in (
        *extra_flags,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def sign_in(driver: WebDriver, hub_url: str, token: str) -> None:
    """Keep `token` where the page's own token form keeps it."""
    driver.get(hub_url + "/")
    driver.execute_script("localStorage.setItem('facefleet-token', arguments[0]);", token)


def wait_until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s:g} s")
        time.sleep(0.1)


def open_view(driver: WebDriver, hub_url: str, route: str, view: str, timeout_s: float = 60.0) -> None:
    """Open `#/route` afresh and wait until `view` has drawn its data and every image has loaded."""
    driver.get("about:blank")
    driver.get(f"{hub_url}/#/{route}")
    wait_until(
        lambda: driver.execute_script("return document.body.dataset.rendered;") == view, timeout_s, f"the {view} view"
    )
    wait_until(lambda: driver.execute_script(IMAGES_LOADED), timeout_s, f"the {view} view's images")


def first_person(hub_url: str, token: str) -> str | None:
    """The id of the person with the most samples (the fullest person page), or None without people."""
    people = httpx.get(f"{hub_url}/api/people", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    people.raise_for_status()
    ranked = sorted(people.json(), key=lambda p: -int(p["samples"]))
    return str(ranked[0]["id"]) if ranked else None


def take_screenshots(hub_url: str, token: str, out_dir: Path) -> list[Shot]:
    """A PNG of each view at each viewport (`<view>-<viewport>.png`), plus the collection page; the person
    page shows the person with the most samples (left out when there is nobody)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    person = first_person(hub_url, token)
    routes = [(v, f"people/{person}" if v == "person" else v) for v in VIEWS if v != "person" or person]
    driver = headless_chrome()
    shots = []
    try:
        sign_in(driver, hub_url, token)
        for viewport, (width, height) in VIEWPORTS_WH.items():
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": viewport == "phone"},
            )
            for view, route in routes:
                open_view(driver, hub_url, route, view)
                shots.append(Shot(view, viewport, out_dir / f"{view}-{viewport}.png"))
                driver.save_screenshot(str(shots[-1].path))
            driver.get(f"{hub_url}/collect")
            shots.append(Shot("collect", viewport, out_dir / f"collect-{viewport}.png"))
            driver.save_screenshot(str(shots[-1].path))
    finally:
        driver.quit()
    return shots
