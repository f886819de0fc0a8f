"""Deleting a person is a versioned fact, checked with real processes (Mosquitto, the hub, an edge agent):

- galleries built before the deletion are revoked on the hub (410), the next gallery is built without the
  person, and once it is rolled out the agent has dropped the revoked gallery from its `previous` slot
  (the revocation travels in the new gallery's signed manifest); the audit lists who deleted whom;
- an upload for the person that is being analyzed when the delete lands fails and does not re-create them;
- a hub killed (SIGKILL) during a video enrollment leaves no raw video behind after its restart.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from edge.update.slots import SlotStore
from facefleet.gallery import Gallery
from tests.conftest import LFW
from tests.system.conftest import System
from tooling.bench.hub.uploads import cpu_seconds
from tooling.sim import procs as system
from tooling.sim.procs import wait_for

PEOPLE = ("George_W_Bush", "Colin_Powell")


def enroll(api: httpx.Client, folder: str, photos: int = 3) -> str:
    paths = [LFW / "images_deepfunneled" / folder / f"{folder}_{n:04d}.jpg" for n in range(1, photos + 1)]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    response = api.post("/api/samples/photos", data={"label": folder}, files=files).raise_for_status()
    return str(response.json()["person"]["id"])


def roll_out(api: httpx.Client, version: str) -> None:
    rollout = api.post("/api/rollouts", json={"kind": "gallery", "version": version, "devices": ["edge-1"]})
    rollout_id = rollout.raise_for_status().json()["id"]
    wait_for(lambda: api.get(f"/api/rollouts/{rollout_id}").json()["state"] == "completed", f"rollout {version}", 120)


def fetchable_people(fleet: System, tmp_path: Path) -> dict[str, tuple[str, ...] | int]:
    """Every gallery the hub lists, as edge-1 sees it with its bound device token (a target of every rollout
    here): the person ids in its file, or the HTTP status."""
    api = fleet.api
    assert api is not None
    seen: dict[str, tuple[str, ...] | int] = {}
    auth = {"Authorization": f"Bearer {fleet.device_token('edge-1')}"}
    with httpx.Client(base_url=fleet.hub_url, headers=auth) as device:
        for gallery in api.get("/api/galleries").raise_for_status().json():
            response = device.get(f"/api/artifacts/gallery/{gallery['version']}/file")
            if response.status_code != 200:
                seen[gallery["version"]] = response.status_code
                continue
            path = tmp_path / f"{gallery['version']}.sqlite"
            path.write_bytes(response.content)
            seen[gallery["version"]] = Gallery.load(path).person_ids
    return seen


def test_deleted_person_is_revoked_everywhere(fleet: System, people_clip: Path, tmp_path: Path) -> None:
    (fleet.workdir / "clip.avi").symlink_to(people_clip)
    fleet.start_broker()
    api = fleet.start_hub()
    fleet.start_agent("edge-1", fleet.workdir / "clip.avi", updates=True)
    gone, kept = enroll(api, PEOPLE[0]), enroll(api, PEOPLE[1])
    before = api.post("/api/galleries").raise_for_status().json()["version"]
    wait_for(lambda: any(d["state"] == "online" for d in api.get("/api/devices").json()), "edge-1 online", 90)
    roll_out(api, before)

    front_desk = system.create_token(fleet.hub_config, fleet.admin_token, fleet.broker, "enroll", "front-desk")
    deleted = httpx.delete(f"{fleet.hub_url}/api/people/{gone}", headers={"Authorization": f"Bearer {front_desk}"})
    assert deleted.status_code == 200, deleted.text
    device = {"Authorization": f"Bearer {fleet.device_token('edge-1')}"}
    for part in ("manifest", "file"):  # revoked on the hub: gone for good, not just missing
        assert httpx.get(f"{fleet.hub_url}/api/artifacts/gallery/{before}/{part}", headers=device).status_code == 410

    after = api.post("/api/galleries").raise_for_status().json()["version"]
    roll_out(api, after)
    fetchable = fetchable_people(fleet, tmp_path)
    assert fetchable[before] == 410 and fetchable[after] == (kept,), fetchable
    assert all(status == 410 or gone not in status for status in fetchable.values()), fetchable
    slots = SlotStore(fleet.workdir / "edge-1" / "galleries")
    wait_for(lambda: before not in slots.versions(), "the agent to purge the revoked gallery", 30)
    assert slots.current_version() == after and slots.previous_version() != before
    for version in slots.versions():
        assert gone not in Gallery.load(slots.artifact(version)).person_ids

    audit = api.get("/api/audit/deletions").raise_for_status().json()
    assert [(a["person_id"], a["person_name"], a["token_name"]) for a in audit] == [(gone, PEOPLE[0], "front-desk")]
    assert audit[0]["revoked_galleries"] == [before] and audit[0]["deleted_at"]


def test_delete_during_an_upload_fails_the_upload(fleet: System) -> None:
    fleet.start_broker()
    api = fleet.start_hub(enroll={"max_upload_files": 300})
    person = enroll(api, PEOPLE[0], photos=1)
    # 300 photos take the hub tens of CPU-seconds to analyze, however fast its pipeline is
    photos = sorted((LFW / "images_deepfunneled").glob("*/*_0001.jpg"))[:300]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    answers: list[httpx.Response] = []
    upload = threading.Thread(
        target=lambda: answers.append(api.post("/api/samples/photos", data={"label": PEOPLE[0]}, files=files)),
        daemon=True,
    )
    pid = fleet.procs.started["hub"].pid
    cpu_before = cpu_seconds(pid)
    upload.start()
    # 2 CPU-seconds into the request the hub is analyzing its photos (300 take far longer): delete now.
    wait_for(lambda: cpu_seconds(pid) - cpu_before > 2.0 or not upload.is_alive(), "the upload to run", 120, 0.05)
    assert upload.is_alive(), "the upload finished before the delete could land inside it"
    assert api.delete(f"/api/people/{person}").raise_for_status().json()["deleted"] == 1
    upload.join(timeout=300)
    assert answers[0].status_code == 409, answers[0].text[:300]
    assert "deleted" in answers[0].json()["detail"]
    assert [p for p in api.get("/api/people").json() if p["name"] == PEOPLE[0]] == []
    assert fleet.store_rows("SELECT COUNT(*) FROM samples") == [(0,)]
    assert not [p for p in (fleet.hub_data / "samples").rglob("*") if p.is_file()]


def test_kill_during_video_enrollment_leaves_no_raw_video(fleet: System, shared_data: Path) -> None:
    fleet.start_broker()
    api = fleet.start_hub()
    video = (shared_data / "clips" / "short_hamilton_clip.mp4").read_bytes()

    def upload() -> None:
        try:
            api.post(
                "/api/samples/video",
                data={"label": "Hamilton", "max_frames": "200"},
                files=[("file", ("clip.mp4", video, "video/mp4"))],
            )
        except httpx.HTTPError:
            pass  # the hub dies under it

    def raw_copies() -> list[Path]:
        return [p for p in fleet.hub_data.rglob("*") if p.is_file() and p.stat().st_size == len(video)]

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    wait_for(raw_copies, "the raw video on the hub's disk", 120, 0.02)
    fleet.kill("hub")
    thread.join(timeout=30)
    assert raw_copies(), "precondition: the kill found the raw video on disk"
    fleet.start_hub()
    assert raw_copies() == []
