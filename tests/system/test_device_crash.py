"""A device killed (SIGKILL) during a gallery or model download and during the swap comes back on a consistent
version (old or new, never a mix), reports it in its retained status, and then finishes the rollout
(the announcement is retained)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx

from edge.update.slots import SlotStore
from models.registry import default_model_dir
from tests.conftest import LFW
from tests.edge.conftest import Subscriber
from tests.system.conftest import System
from tests.system.slow_proxy import SlowProxy
from tooling.sim.procs import wait_for

PEOPLE = ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld")


def enroll(api: httpx.Client, folder: str) -> None:
    photos = [LFW / "images_deepfunneled" / folder / f"{folder}_{n:04d}.jpg" for n in range(1, 4)]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    api.post("/api/samples/photos", data={"label": folder}, files=files).raise_for_status()


def new_gallery(api: httpx.Client, folder: str) -> str:
    enroll(api, folder)
    return str(api.post("/api/galleries").raise_for_status().json()["version"])


def roll_out(api: httpx.Client, version: str) -> str:
    return str(
        api.post(
            "/api/rollouts", json={"kind": "gallery", "version": version, "devices": ["edge-1"], "canaries": ["edge-1"]}
        )
        .raise_for_status()
        .json()["id"]
    )


def running_gallery(fleet: System, kind: str = "galleries") -> str | None:
    """The version the slots say is current, after checking its file against its signed hash."""
    slots = SlotStore(fleet.workdir / "edge-1" / kind)
    version = slots.current_version()
    if version is not None:
        signed = slots.manifest(version)
        assert hashlib.sha256(slots.artifact(version).read_bytes()).hexdigest() == signed.manifest.sha256
    return version


def reported_gallery(fleet: System, field: str = "gallery_version") -> str:
    """The gallery (or model) version in the device's retained status, read by a fresh subscriber."""
    sub = fleet.subscriber("facefleet/edge-1/status", who="observer-2", fresh=True)
    try:
        sub.wait_for(lambda s: any(st["state"] == "online" for st in s.json("/status")), 60, "online status")
        return str([st for st in sub.json("/status") if st["state"] == "online"][-1][field])
    finally:
        sub.close()


def crash_and_recover(
    fleet: System, states: Subscriber, proxy: SlowProxy, rollout: str, kill_on: str, versions: tuple[str, ...], new: str
) -> None:
    """Kill the device when it reports `kill_on`; it must run one of `versions`, and after a restart `new`."""
    states.wait_for(
        lambda s: any(m["rollout_id"] == rollout and m["state"] == kill_on for m in s.json("/updates/state")),
        60,
        f"{kill_on} of {new}",
    )
    fleet.kill("edge-1")
    proxy.delay_s = 0.0  # the restarted device downloads at full speed
    assert running_gallery(fleet) in versions
    fleet.start_agent("edge-1", fleet.workdir / "clip.avi", updates=True)
    assert reported_gallery(fleet) in (*versions, new)  # new only if it already finished the retried update
    api = fleet.api
    assert api is not None
    wait_for(lambda: api.get(f"/api/rollouts/{rollout}").json()["state"].startswith("completed"), "the rollout", 90)
    wait_for(lambda: reported_gallery(fleet) == new, f"status with {new}", 30)
    assert running_gallery(fleet) == new


def test_device_killed_during_download_and_swap(fleet: System, people_clip: Path) -> None:
    (fleet.workdir / "clip.avi").symlink_to(people_clip)
    fleet.start_broker()
    proxy = SlowProxy(f"http://127.0.0.1:{fleet.hub_port}")
    states = fleet.subscriber("facefleet/edge-1/updates/state")
    try:
        api = fleet.start_hub(public_url=proxy.url)
        fleet.start_agent("edge-1", fleet.workdir / "clip.avi", updates=True)
        first = new_gallery(api, PEOPLE[0])
        wait_for(lambda: any(d["state"] == "online" for d in api.get("/api/devices").json()), "edge-1", 90)
        rollout = roll_out(api, first)
        wait_for(lambda: api.get(f"/api/rollouts/{rollout}").json()["state"].startswith("completed"), "v1", 90)

        second = new_gallery(api, PEOPLE[1])
        proxy.delay_s = 0.1  # about 10 KB/s: the download takes seconds
        rollout = roll_out(api, second)
        crash_and_recover(fleet, states, proxy, rollout, "downloading", (first,), second)  # mid-download: still old

        third = new_gallery(api, PEOPLE[2])
        rollout = roll_out(api, third)
        crash_and_recover(fleet, states, proxy, rollout, "verifying", (second, third), third)  # in verify/stage/switch
        log = fleet.procs.log_text("edge-1")
        assert "Traceback" not in log, log[-3000:]
    finally:
        states.close()
        proxy.close()


def test_device_killed_during_a_model_download(fleet: System, people_clip: Path) -> None:
    (fleet.workdir / "clip.avi").symlink_to(people_clip)
    fleet.start_broker()
    proxy = SlowProxy(f"http://127.0.0.1:{fleet.hub_port}", chunk_bytes=64 * 1024)
    states = fleet.subscriber("facefleet/edge-1/updates/state")
    try:
        api = fleet.start_hub(public_url=proxy.url)
        fleet.start_agent("edge-1", fleet.workdir / "clip.avi", updates=True)
        with (default_model_dir() / "sface.onnx").open("rb") as file:  # a good model: the one running now
            version = (
                api.post("/api/models", files={"file": ("sface.onnx", file, "application/octet-stream")})
                .raise_for_status()
                .json()["version"]
            )
        wait_for(lambda: any(d["state"] == "online" for d in api.get("/api/devices").json()), "edge-1", 90)
        gallery = new_gallery(api, PEOPLE[3])  # the model switches in with the gallery of its model id
        first = roll_out(api, gallery)
        wait_for(lambda: api.get(f"/api/rollouts/{first}").json()["state"].startswith("completed"), "gallery", 90)
        before = reported_gallery(fleet, "model_version")
        proxy.delay_s = 0.1  # 640 KB/s: the 38 MB model takes a minute
        rollout = str(
            api.post(
                "/api/rollouts",
                json={"kind": "model", "version": version, "devices": ["edge-1"], "canaries": ["edge-1"]},
            )
            .raise_for_status()
            .json()["id"]
        )
        states.wait_for(
            lambda s: any(m["rollout_id"] == rollout and m["state"] == "downloading" for m in s.json("/updates/state")),
            60,
            "the model download",
        )
        time.sleep(1)
        fleet.kill("edge-1")
        proxy.delay_s, proxy.chunk_bytes = 0.0, 1 << 20
        assert running_gallery(fleet, "models") is None  # still the bundled model: nothing half-installed
        fleet.start_agent("edge-1", fleet.workdir / "clip.avi", updates=True)
        assert reported_gallery(fleet, "model_version") in (before, version)  # never anything else
        # The retained announcement: the model downloads again, passes its probe and switches in.
        wait_for(lambda: api.get(f"/api/rollouts/{rollout}").json()["state"].startswith("completed"), "rollout", 120)
        wait_for(lambda: reported_gallery(fleet, "model_version") == version, f"status with model {version}", 30)
        assert running_gallery(fleet, "models") == version and running_gallery(fleet) == gallery
    finally:
        states.close()
        proxy.close()
