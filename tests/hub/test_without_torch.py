"""The hub without its `training` extra: no hub module imports torch at import time, and a hub in a process
where `import torch` fails starts, serves over HTTP (enroll, search, gallery build, the page) and answers
retraining with a clear 503."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import hub
from tests.conftest import LFW, ROOT, free_port

# The retraining engine proper: these need torch and are imported only when a job starts.
TORCH_MODULES = {
    "hub.training.augment",
    "hub.training.margins",
    "hub.training.trainer",
    "hub.training.trunk",
    "hub.training.retrain",
}
PERSON = "Colin_Powell"


def _torch_after_import(modules: list[str]) -> list[str]:
    """The torch modules loaded after importing `modules` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return list(json.loads(out.stdout.splitlines()[-1]))


def test_hub_modules_do_not_import_torch() -> None:
    names = sorted(m.name for m in pkgutil.walk_packages(hub.__path__, "hub.") if not m.name.endswith("__main__"))
    assert "hub.app" in names and "hub.training.jobs" in names
    assert TORCH_MODULES <= set(names)  # the exemption names real modules
    assert _torch_after_import([n for n in names if n not in TORCH_MODULES]) == []
    assert "torch" in _torch_after_import(["hub.training.retrain"])  # the check above can fail


@pytest.fixture
def torchless_hub(tmp_path: Path) -> Iterator[tuple[httpx.Client, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hub.serve_without_torch", str(tmp_path / "hub"), str(free_port())],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "hub.log", "w"),
        text=True,
    )  # noqa: SIM115
    assert proc.stdout is not None and proc.stdin is not None
    started = json.loads(proc.stdout.readline() or "{}")
    assert "url" in started, (tmp_path / "hub.log").read_text()
    with httpx.Client(
        base_url=started["url"], headers={"Authorization": f"Bearer {started['admin']}"}, timeout=120
    ) as client:
        yield client, proc
    if proc.poll() is None:
        proc.kill()


def _photos(numbers: range) -> list[tuple[str, tuple[str, bytes, str]]]:
    folder = LFW / "images_deepfunneled" / PERSON
    return [("files", (f"{n}.jpg", (folder / f"{PERSON}_{n:04d}.jpg").read_bytes(), "image/jpeg")) for n in numbers]


def test_hub_serves_without_torch(torchless_hub: tuple[httpx.Client, subprocess.Popen[str]], browser) -> None:  # type: ignore[no-untyped-def]
    client, proc = torchless_hub
    enrolled = client.post("/api/samples/photos", data={"label": PERSON}, files=_photos(range(1, 4)))
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["faces_extracted"] >= 2
    _, (name, data, kind) = _photos(range(4, 5))[0]
    hits = client.post("/api/search", files={"file": (name, data, kind)}).json()["hits"]
    assert hits[0]["name"] == PERSON and hits[0]["score"] > 0.5
    gallery = client.post("/api/galleries")
    assert gallery.status_code == 201 and gallery.json()["people"] == 1
    assert client.get("/api/models/active").json()["model_id"] == "sface"

    availability = client.get("/api/training/availability").json()
    assert availability["available"] is False and "training" in availability["detail"]
    refused = client.post("/api/training")
    assert refused.status_code == 503 and "pip install" in refused.json()["detail"]
    assert client.get("/api/training").json() == []  # nothing queued
    _page_says_training_is_unavailable(browser, str(client.base_url), client.headers["Authorization"][7:])

    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    finished = json.loads(proc.stdout.readline())
    assert proc.wait(timeout=60) == 0
    assert finished["torch_modules"] == []


def _page_says_training_is_unavailable(browser, url: str, token: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/#/training")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "save-token").click()
    notice = browser.find_element(By.ID, "training-unavailable")
    WebDriverWait(browser, 60).until(lambda _: notice.is_displayed() and "training" in notice.text)
    assert not browser.find_element(By.ID, "train-start").is_enabled()
    assert "Hub model: sface" in browser.find_element(By.ID, "hub-model").text
