"""Retraining through the hub's HTTP API: a real job on enrolled LFW people, its gate report, and the released
model and gallery registered as signed artifacts the devices can download."""

from __future__ import annotations

import time

import httpx

from facefleet.signing import load_public_key, verify_manifest
from facefleet.wire import SignedManifest
from tests.conftest import LFW

QUICK = {
    "max_steps": 40,
    "eval_every": 10,
    "patience_steps": 40,
    "augmented_copies": 1,
    "batch_size": 16,
    "gate": {"precisions": ["fp32"]},
}


def _people_with_photos(count: int) -> list[str]:
    """LFW people with at least `count` photos, in name order (no LFW evaluation runs in these tests)."""
    folders = sorted((LFW / "images_deepfunneled").iterdir())
    return [f.name for f in folders if len(list(f.glob("*.jpg"))) >= count][:8]


def _enroll(admin: httpx.Client, people: list[str], photos: int) -> None:
    for name in people:
        files = [
            (
                "files",
                (f"{n}.jpg", (LFW / "images_deepfunneled" / name / f"{name}_{n:04d}.jpg").read_bytes(), "image/jpeg"),
            )
            for n in range(1, photos + 1)
        ]
        answer = admin.post("/api/samples/photos", data={"label": name}, files=files)
        assert answer.status_code == 201, answer.text


def _wait_finished(admin: httpx.Client, job_id: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = admin.get(f"/api/training/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(1.0)
    raise AssertionError(f"training job {job_id} did not finish in {timeout_s} s")


def test_training_job_over_http(hub_server) -> None:
    admin = hub_server.client(hub_server.admin)
    many = _people_with_photos(6)
    _enroll(admin, many[:1], 6)
    refused = admin.post("/api/training", json=QUICK)
    assert refused.status_code == 422 and "people" in refused.json()["detail"]
    assert admin.get("/api/training/train-99").status_code == 404
    assert hub_server.client(hub_server.enroll).post("/api/training", json=QUICK).status_code == 403

    _enroll(admin, many[1:4], 6)
    started = admin.post("/api/training", json=QUICK)
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    assert admin.post("/api/training", json=QUICK).status_code == 409  # one job at a time
    assert admin.get("/api/people").status_code == 200  # the API keeps serving while it trains

    job = _wait_finished(admin, job_id, 600)
    assert job["state"] == "done", job["error"]
    report = job["report"]
    assert report["people"] == 4 and report["steps"] >= 1 and report["checks"]
    assert report["conversion_max_abs_diff"] < 1e-3 and report["export_max_abs_diff"] < 1e-3
    assert report["released"], report["reasons"]

    model, gallery = job["released_model"], job["released_gallery"]
    galleries = {g["version"]: g for g in admin.get("/api/galleries").json()}
    assert galleries[gallery]["model_id"] == report["version"] and galleries[gallery]["people"] == 4
    device = hub_server.client(hub_server.admin)  # no rollout targets a device yet: admins read every artifact
    public_key = load_public_key(admin.get("/api/signing-key").content)
    for kind, version in (("model", model), ("gallery", gallery)):
        signed = SignedManifest.model_validate_json(device.get(f"/api/artifacts/{kind}/{version}/manifest").content)
        manifest = verify_manifest(public_key, signed)
        assert manifest.model_id == report["version"]
        assert len(device.get(f"/api/artifacts/{kind}/{version}/file").content) == manifest.size


def test_cancel_a_running_job(hub_server) -> None:
    admin = hub_server.client(hub_server.admin)
    many = _people_with_photos(6)
    _enroll(admin, many[4:6], 4)
    job_id = admin.post("/api/training", json={**QUICK, "max_steps": 100000, "patience_steps": 100000}).json()["job_id"]
    admin.post(f"/api/training/{job_id}/cancel")
    assert _wait_finished(admin, job_id, 120)["state"] == "cancelled"
    assert admin.post("/api/training", json=QUICK).status_code == 202  # the slot is free again
