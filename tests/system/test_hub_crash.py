"""The hub killed (SIGKILL) during an enrollment upload and during gallery builds: after a restart the
database passes `PRAGMA integrity_check` (SQLite; on PostgreSQL the server outlives the hub), rows and files
agree (no orphan, no half gallery), and the interrupted request succeeds when retried."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx

from tests.conftest import LFW
from tests.system.conftest import System

# Enough photos that processing the upload takes seconds even on a fast, idle machine (the kill must land
# inside it), within the hub's 50-file limit per request.
PHOTOS = sorted((LFW / "images_deepfunneled").glob("*/*_0001.jpg"))[:48]


def check_consistent(fleet: System) -> None:
    data = fleet.hub_data
    if fleet.database_url is None:
        assert fleet.store_rows("PRAGMA integrity_check") == [("ok",)]
    samples = {(person, name) for person, name in fleet.store_rows("SELECT person_id, file_name FROM samples")}
    artifacts = {
        (kind, version): sha for kind, version, sha in fleet.store_rows("SELECT kind, version, sha256 FROM artifacts")
    }
    files = {(p.parent.name, p.name) for p in (data / "samples").glob("*/*") if p.is_file()}
    assert files == samples, "sample rows and files differ"
    folders = {(p.parent.name, p.name) for p in (data / "artifacts").glob("*/*") if p.parent.name != ".tmp"}
    assert folders == set(artifacts), "artifact rows and folders differ"
    for (kind, version), sha in artifacts.items():  # every gallery is whole: its file has the signed hash
        (file,) = [p for p in (data / "artifacts" / kind / version).iterdir() if p.suffix != ".json"]
        assert hashlib.sha256(file.read_bytes()).hexdigest() == sha
    assert not any((data / "artifacts" / ".tmp").glob("*"))


def kill_during(fleet: System, request: threading.Thread, after_s: float) -> None:
    request.start()
    time.sleep(after_s)
    fleet.kill("hub")
    request.join(timeout=30)
    fleet.start_hub()


def enroll(fleet: System, label: str, answers: list[httpx.Response | Exception]) -> None:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in PHOTOS]
    try:
        with httpx.Client(
            base_url=fleet.hub_url, timeout=120, headers={"Authorization": f"Bearer {fleet.admin_token}"}
        ) as client:
            answers.append(client.post("/api/samples/photos", data={"label": label}, files=files))
    except httpx.HTTPError as exc:
        answers.append(exc)


def build(fleet: System, answers: list[httpx.Response | Exception]) -> None:
    try:
        with httpx.Client(
            base_url=fleet.hub_url, timeout=120, headers={"Authorization": f"Bearer {fleet.admin_token}"}
        ) as client:
            answers.append(client.post("/api/galleries"))
    except httpx.HTTPError as exc:
        answers.append(exc)


def test_hub_killed_during_enrollment_and_gallery_builds(fleet: System) -> None:
    fleet.start_broker()
    api = fleet.start_hub()
    api.post(
        "/api/samples/photos",
        data={"label": "First"},
        files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in PHOTOS[:2]],
    ).raise_for_status()

    answers: list[httpx.Response | Exception] = []
    kill_during(fleet, threading.Thread(target=enroll, args=(fleet, "Interrupted", answers)), after_s=0.8)
    assert isinstance(answers[0], httpx.HTTPError), "the upload finished before the kill"
    check_consistent(fleet)
    api = fleet.api
    assert api is not None
    retry = api.post(
        "/api/samples/photos",
        data={"label": "Interrupted"},
        files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in PHOTOS],
    )
    assert retry.status_code == 201, retry.text
    check_consistent(fleet)

    for after_s in (0.05, 0.2, 0.5):  # somewhere in the build: gathering, writing, signing or committing
        answers = []
        kill_during(fleet, threading.Thread(target=build, args=(fleet, answers)), after_s)
        check_consistent(fleet)
    api = fleet.api
    version = api.post("/api/galleries").raise_for_status().json()["version"]
    manifest = api.get(f"/api/artifacts/gallery/{version}/manifest").raise_for_status().json()
    assert manifest["manifest"]["version"] == version
    check_consistent(fleet)
