"""The collection page in headless Chromium whose camera plays a real clip: enroll the person in front of it
through the page, see the kept samples, and find that person from a photo through the API; and lose the
hub's answer to the upload on the way back, which the page retries and the hub stores once."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import CHROMEDRIVER, HubServer, chrome, library_state
from tests.hub.fake_camera import camera_flags, write_y4m
from tests.hub.test_web import csp_and_script_errors

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")

PHONE_WH = (390, 844)  # a phone held upright, in CSS pixels
UPLOAD = b"POST /api/samples/video "


class LoseFirstAnswer:
    """A TCP proxy in front of the hub that forwards everything but the answer to the first video upload:
    when the hub starts answering it, the browser's connection is closed (a phone that loses its link just
    after sending). Counts the video uploads that pass."""

    def __init__(self, hub_port: int) -> None:
        self.hub_port = hub_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.uploads = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                browser, _ = self.listener.accept()
            except OSError:
                return
            hub = socket.create_connection(("127.0.0.1", self.hub_port))
            lose = threading.Event()
            threading.Thread(target=self._to_hub, args=(browser, hub, lose), daemon=True).start()
            threading.Thread(target=self._to_browser, args=(hub, browser, lose), daemon=True).start()

    def _to_hub(self, browser: socket.socket, hub: socket.socket, lose: threading.Event) -> None:
        try:
            while data := browser.recv(1 << 16):
                if data.startswith(UPLOAD):
                    with self._lock:
                        self.uploads += 1
                        if self.uploads == 1:
                            lose.set()
                hub.sendall(data)
        except OSError:
            pass
        finally:
            _close(hub)

    def _to_browser(self, hub: socket.socket, browser: socket.socket, lose: threading.Event) -> None:
        try:
            while (data := hub.recv(1 << 16)) and not lose.is_set():
                browser.sendall(data)
        except OSError:
            pass
        finally:
            _close(browser)

    def close(self) -> None:
        self.listener.close()


def _close(peer: socket.socket) -> None:
    """Close a connection at once, also for the thread still reading from it (close alone would not wake it)."""
    try:
        peer.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    peer.close()


def test_enroll_from_the_camera_on_a_phone_sized_page(hub_server: HubServer, shared_data: Path, tmp_path: Path) -> None:
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
        assert recognise.get_attribute("href") == hub_server.url + "/recognise"
        driver.find_element(By.ID, "token").send_keys(hub_server.enroll)
        driver.find_element(By.ID, "save-token").click()
        driver.find_element(By.ID, "collect-label").send_keys("Lin-Manuel Miranda")
        driver.find_element(By.ID, "camera-start").click()
        wait.until(ec.element_to_be_clickable((By.ID, "collect-record"))).click()

        wait.until(ec.text_to_be_present_in_element((By.ID, "collect-result"), "Kept"))
        thumbnails_loaded = (
            "const imgs = [...document.querySelectorAll('#collect-samples-kept .sample img')];"
            "return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth === 112);"
        )
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
        page = client.get("/collect")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text and "style=" not in page.text and "<style" not in page.text
        found = client.post("/api/search", files={"file": (photo.name, photo.read_bytes(), "image/png")}).json()
    assert found["face_found"] and found["hits"][0]["name"] == "Lin-Manuel Miranda"


def test_an_answer_lost_on_the_way_back_is_retried_and_stored_once(
    hub_server: HubServer, shared_data: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    camera = write_y4m(shared_data / "clips" / "short_hamilton_clip.mp4", 83, 216, tmp_path / "singer.y4m")
    proxy = LoseFirstAnswer(hub_server.hub.settings.port)
    driver: Any = chrome(*camera_flags(camera))
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(f"http://127.0.0.1:{proxy.port}/collect")  # loopback: the camera is allowed without HTTPS
        driver.find_element(By.ID, "token").send_keys(hub_server.enroll)
        driver.find_element(By.ID, "save-token").click()
        driver.find_element(By.ID, "collect-label").send_keys("Lin-Manuel Miranda")
        seconds = driver.find_element(By.ID, "collect-seconds")
        seconds.clear()
        seconds.send_keys("2")
        driver.find_element(By.ID, "camera-start").click()
        wait.until(ec.element_to_be_clickable((By.ID, "collect-record"))).click()
        kept = ec.text_to_be_present_in_element((By.ID, "collect-result"), "Kept")
        assert wait.until(lambda d: kept(d) or "gave up" in d.find_element(By.ID, "status").text) is True, (
            driver.find_element(By.ID, "status").text
        )
        shown = len(driver.find_elements(By.CSS_SELECTOR, "#collect-samples-kept .sample"))
        assert csp_and_script_errors(driver) == []
    finally:
        driver.quit()
        proxy.close()
    assert proxy.uploads >= 2  # the first answer was lost and the upload sent again
    people, samples, _ = library_state(hub_server.hub)
    assert people == 1 and samples == shown >= 3  # stored once, and the page shows what was stored
