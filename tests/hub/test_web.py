"""The web page in headless Chromium: enroll from a photo, see the thumbnail, delete it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.conftest import CHROMEDRIVER, HubServer, chrome, library_state

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")


def csp_and_script_errors(driver) -> list[str]:  # type: ignore[no-untyped-def]
    """Content-Security-Policy violations, uncaught script errors and failed loads of files (not API calls:
    a 403 for a scope the token lacks is the page working) in the console since the last call."""
    messages = [entry["message"] for entry in driver.get_log("browser")]
    return [
        m
        for m in messages
        if "Content Security Policy" in m
        or "Refused to" in m
        or "Uncaught" in m
        or ("Failed to load" in m and "/api/" not in m)
    ]


@pytest.fixture
def offline_browser() -> Iterator[object]:
    """A browser for which no host but the hub's (127.0.0.1) resolves: a site without internet."""
    driver = chrome("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    yield driver
    driver.quit()  # type: ignore[attr-defined]


def test_enroll_view_delete_in_browser(hub_server: HubServer, browser, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(hub_server.url + "/#/people")
    assert browser.title == "FaceFleet hub: People"
    browser.find_element(By.ID, "token").send_keys(hub_server.enroll)
    browser.find_element(By.ID, "save-token").click()
    browser.find_element(By.ID, "label").send_keys("Barack Obama")
    photo = shared_data / "clips" / "people" / "obama" / "obama.jpg"
    browser.find_element(By.ID, "photos").send_keys(str(photo))
    browser.find_element(By.ID, "enroll-photos").click()

    wait.until(ec.text_to_be_present_in_element((By.ID, "enroll-result"), "1 face(s) extracted"))
    thumbnail_loaded = (
        "const img = document.querySelector('.sample img');"
        "return img !== null && img.complete && img.naturalWidth === 112;"
    )
    wait.until(lambda driver: driver.execute_script(thumbnail_loaded))
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#people .person-name")]
    assert names == ["Barack Obama"]
    assert library_state(hub_server.hub)[1] == 1

    browser.find_element(By.CSS_SELECTOR, ".sample .delete-sample").click()
    wait.until(lambda driver: not driver.find_elements(By.CSS_SELECTOR, ".sample"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "deleted 1 sample"))
    assert library_state(hub_server.hub)[1:] == (0, [])
    assert csp_and_script_errors(browser) == []  # the page works under its Content-Security-Policy, no violation


def test_page_refuses_framing_and_inline_code(hub_server: HubServer) -> None:
    with hub_server.client() as client:
        for path in ("/", "/static/app.js", "/docs", "/healthz"):
            headers = client.get(path).headers
            policy = headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, path
            assert "unsafe-inline" not in policy or path == "/docs", path  # only the docs pages need inline styles
            assert "script-src" not in policy, path  # scripts fall back to default-src 'self': no inline script
        page = client.get("/").text
    assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_api_docs_render_without_internet(hub_server: HubServer, offline_browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    with hub_server.client() as client:
        operations = sum(len(methods) for methods in client.get("/openapi.json").json()["paths"].values())
    wait = WebDriverWait(offline_browser, 60)
    offline_browser.get(hub_server.url + "/docs")
    rendered = "return document.querySelectorAll('.opblock').length;"
    wait.until(lambda driver: driver.execute_script(rendered) == operations)
    assert "/api/people" in offline_browser.page_source
    assert csp_and_script_errors(offline_browser) == []
    offline_browser.get(hub_server.url + "/redoc")
    rendered = "return document.querySelectorAll('[data-section-id*=\"operation/\"]').length;"
    wait.until(lambda driver: driver.execute_script(rendered) >= operations)
    # ReDoc's bundle hard-codes its "powered by" logo from its CDN; the policy blocks that image, and nothing
    # else may be blocked or fail.
    errors = csp_and_script_errors(offline_browser)
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in e for e in errors), errors


def test_start_and_cancel_retraining_in_browser(hub_server: HubServer, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.conftest import LFW

    admin = hub_server.client(hub_server.admin)
    for name in ("Colin_Powell", "Tony_Blair"):
        files = [
            (
                "files",
                (f"{n}.jpg", (LFW / "images_deepfunneled" / name / f"{name}_{n:04d}.jpg").read_bytes(), "image/jpeg"),
            )
            for n in range(1, 4)
        ]
        assert admin.post("/api/samples/photos", data={"label": name}, files=files).status_code == 201
    browser.get(hub_server.url + "/#/training")
    wait = WebDriverWait(browser, 60)
    browser.find_element(By.ID, "token").send_keys(hub_server.admin)
    browser.find_element(By.ID, "save-token").click()
    steps = browser.find_element(By.ID, "train-steps")
    steps.clear()
    steps.send_keys("100000")
    browser.find_element(By.ID, "train-start").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "training job train-1 started"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#training tr[data-state="running"]')))
    browser.find_element(By.ID, "train-cancel").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#training tr[data-state="cancelled"]')))
    assert admin.get("/api/training/train-1").json()["state"] == "cancelled"


def test_people_show_coverage_in_browser(hub_server: HubServer, browser, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from hub.library.coverage import ADVICE
    from tests.conftest import LFW

    people = shared_data / "clips" / "people"
    with hub_server.client(hub_server.enroll) as client:
        assert client.post("/api/people", json={"name": "<b>Nobody</b>"}).status_code == 201  # markup in a name
        for label, paths in (
            ("Lin-Manuel Miranda", [people / "lin_manuel_miranda" / "lin-manuel-miranda.png"]),
            (
                "Colin Powell",
                [LFW / "images_deepfunneled" / "Colin_Powell" / f"Colin_Powell_{n:04d}.jpg" for n in range(1, 5)],
            ),
        ):
            files = [("files", (p.name, p.read_bytes(), f"image/{p.suffix[1:].replace('jpg', 'jpeg')}")) for p in paths]
            assert client.post("/api/samples/photos", data={"label": label}, files=files).status_code == 201
    wait = WebDriverWait(browser, 60)
    browser.get(hub_server.url + "/#/people")
    browser.find_element(By.ID, "token").send_keys(hub_server.enroll)
    browser.find_element(By.ID, "save-token").click()
    # two photos enrolled on the page: the answer and the new row say what to add
    browser.find_element(By.ID, "label").send_keys("Barack Obama")
    browser.find_element(By.ID, "photos").send_keys(
        "\n".join(str(people / "obama" / n) for n in ("obama.jpg", "obama2.jpg"))
    )
    browser.find_element(By.ID, "enroll-photos").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "enroll-result"), "Coverage: " + ADVICE["few_views"]))
    shown = "return document.querySelectorAll('#people .person-coverage').length;"
    wait.until(lambda driver: driver.execute_script(shown) == 4)
    rows = {
        row.find_element(By.CLASS_NAME, "person-name").text: row.find_element(By.CLASS_NAME, "person-coverage")
        for row in browser.find_elements(By.CSS_SELECTOR, "#people tbody tr")
    }
    levels = {name: (c.get_attribute("data-level"), c.text) for name, c in rows.items()}
    assert levels == {
        "<b>Nobody</b>": ("none", ADVICE["none"]),
        "Barack Obama": ("few_views", ADVICE["few_views"]),
        "Colin Powell": ("good", ADVICE["good"]),
        "Lin-Manuel Miranda": ("one_view", ADVICE["one_view"]),
    }
    assert not browser.find_elements(By.CSS_SELECTOR, "#people b")  # names and advice are text, never markup
    assert "3 view(s)" in (rows["Barack Obama"].get_attribute("title") or "")
    assert csp_and_script_errors(browser) == []
