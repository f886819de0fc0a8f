"""The visitors, tracks and suggestions API over real HTTP: scopes, naming through the enrollment path,
suggested samples (and their auto-accept bounds), "not this person"."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import LFW
from tests.hub.conftest import HubServer
from tests.hub.visitors.conftest import track_event

PERSON, STRANGER = "Colin_Powell", "Gerhard_Schroeder"


def _photo(name: str, n: int) -> tuple[str, tuple[str, bytes, str]]:
    return (
        "files",
        (f"{n}.jpg", (LFW / "images_deepfunneled" / name / f"{name}_{n:04d}.jpg").read_bytes(), "image/jpeg"),
    )


def _face(hub_server: HubServer, name: str, n: int) -> tuple[np.ndarray, bytes]:
    """Embedding and aligned crop (JPEG) of an LFW photo through the hub's own pipeline."""
    import cv2

    analysis, index = hub_server.hub.enroller.main_face(
        cv2.imread(str(LFW / "images_deepfunneled" / name / f"{name}_{n:04d}.jpg"))
    )
    crop = cv2.imencode(".jpg", cv2.cvtColor(analysis.crops_rgb[index], cv2.COLOR_RGB2BGR))[1].tobytes()
    return analysis.embeddings[index], crop


def _unknown_visitor(hub_server: HubServer, name: str = STRANGER, photos: range = range(1, 4)) -> str:
    for n in photos:
        vector, crop = _face(hub_server, name, n)
        track = hub_server.hub.visitors.on_event(track_event(f"unknown-{name}-{n}", vector, crop))
    return str(track.visitor_id)


def test_scopes(hub_server: HubServer) -> None:
    visitor = _unknown_visitor(hub_server, photos=range(1, 2))
    event = hub_server.hub.visitor_store.tracks(visitor_id=visitor)[0].event_id
    reader, admin, anonymous = (
        hub_server.client(hub_server.enroll),
        hub_server.client(hub_server.admin),
        hub_server.client(),
    )
    for path in (
        "/api/visitors",
        f"/api/visitors/{visitor}",
        f"/api/tracks/{event}/crop",
        "/api/tracks",
        "/api/suggestions",
    ):
        assert reader.get(path).status_code == 200, path
        assert anonymous.get(path).status_code == 401, path
    writes = [
        ("POST", f"/api/visitors/{visitor}/name", {"name": "X"}),
        ("POST", f"/api/visitors/{visitor}/merge", {"other_id": "v-0"}),
        ("POST", f"/api/visitors/{visitor}/ignore", None),
        ("DELETE", f"/api/visitors/{visitor}/ignore", None),
        ("DELETE", f"/api/visitors/{visitor}", None),
        ("POST", "/api/visitors/recluster", None),
        ("POST", f"/api/tracks/{event}/not-this-person", None),
        ("POST", "/api/tracks/from-sample", {"sample_id": "x"}),
        ("POST", f"/api/suggestions/{event}/accept", None),
        ("POST", f"/api/suggestions/{event}/reject", None),
    ]
    for method, path, body in writes:
        assert reader.request(method, path, json=body).status_code == 403, path
        assert anonymous.request(method, path, json=body).status_code == 401, path
    listed = reader.get("/api/visitors").json()
    assert listed["total_visitors"] == 1 and listed["retention_days"] == 30 and listed["visitors"][0]["id"] == visitor
    assert admin.post(f"/api/visitors/{visitor}/ignore").json()["ignored"] is True
    assert admin.post("/api/visitors/recluster").status_code == 200
    assert admin.delete(f"/api/visitors/{visitor}").json() == {"deleted": 1}
    assert reader.get(f"/api/visitors/{visitor}").status_code == 404


def test_naming_a_visitor_enrolls_its_crops_within_the_cap(start_hub) -> None:  # type: ignore[no-untyped-def]
    server = start_hub(enroll={"max_samples_per_person": 2})
    visitor = _unknown_visitor(server, PERSON, range(1, 5))
    admin = server.client(server.admin)
    assert admin.get(f"/api/visitors/{visitor}").json()["visitor"]["tracks"] == 4
    named = admin.post(f"/api/visitors/{visitor}/name", json={"name": "Colin Powell"})
    assert named.status_code == 201, named.text
    body = named.json()
    assert body["person"]["name"] == "Colin Powell" and body["faces_extracted"] == 2
    assert body["rejected"]["over_limit"] + body["rejected"]["duplicate"] == 2
    assert admin.get(f"/api/visitors/{visitor}").status_code == 404
    assert [p["samples"] for p in admin.get("/api/people").json()] == [2]
    again = _unknown_visitor(server, PERSON, range(5, 6))
    refused = admin.post(f"/api/visitors/{again}/name", json={"name": "Colin Powell"})
    assert refused.status_code == 422 and refused.json()["detail"]["rejected"]["over_limit"] == 1


def _enroll(admin, name: str, photos: range) -> str:  # type: ignore[no-untyped-def]
    answer = admin.post("/api/samples/photos", data={"label": name}, files=[_photo(name, n) for n in photos])
    assert answer.status_code == 201, answer.text
    return str(answer.json()["person"]["id"])


def test_suggested_samples_and_auto_accept_bounds(start_hub) -> None:  # type: ignore[no-untyped-def]
    server = start_hub(visitors={"suggest": {"auto_accept": True, "auto_accept_per_day": 1}})
    admin = server.client(server.admin)
    person = _enroll(admin, PERSON, range(1, 3))
    other = _enroll(admin, STRANGER, range(1, 3))
    intake = server.hub.visitors
    for n in (3, 4):
        vector, crop = _face(server, PERSON, n)
        intake.on_event(
            track_event(
                f"named-{n}-0000", vector, crop, person_id=person, confidence=0.75, votes={person: 4}, track_id=n
            )
        )
    auto = admin.get("/api/suggestions", params={"state": "accepted"}).json()
    assert [s["event_id"] for s in auto] == ["named-3-0000"] and auto[0]["auto"] is True
    pending = admin.get("/api/suggestions").json()
    assert [s["event_id"] for s in pending] == ["named-4-0000"]  # past the per-day bound: waits for a click
    assert admin.get(f"/api/people/{person}").json()["samples"] == 3
    vector, crop = _face(server, PERSON, 5)  # this track was named someone else on the way: never offered
    shown = track_event("named-5-0000", vector, None, person_id=other, confidence=0.5, track_id=5).model_copy(
        update={"type": "identity_changed", "template": None}
    )
    intake.on_event(shown)
    intake.on_event(track_event("named-5-0001", vector, crop, person_id=person, confidence=0.8, track_id=5))
    low = track_event("named-6-0000", vector, crop, person_id=person, confidence=0.5, track_id=6)
    intake.on_event(low)  # under min_confidence
    assert [s["event_id"] for s in admin.get("/api/suggestions").json()] == ["named-4-0000"]
    accepted = admin.post("/api/suggestions/named-4-0000/accept")
    assert accepted.status_code == 201, accepted.text
    assert admin.get(f"/api/people/{person}").json()["samples"] == 4
    assert admin.post("/api/suggestions/named-4-0000/reject").status_code == 422  # decided already


def test_a_suggestion_is_judged_on_its_crop_not_on_the_devices_template(start_hub) -> None:  # type: ignore[no-untyped-def]
    server = start_hub(visitors={"suggest": {"auto_accept": True, "auto_accept_per_day": 3}})
    admin = server.client(server.admin)
    person = _enroll(admin, PERSON, range(1, 3))
    _enroll(admin, STRANGER, range(1, 3))
    template, _ = _face(server, PERSON, 3)  # the enrolled person's own template ...
    for n, other in enumerate(("Tony_Blair", "George_W_Bush", "Donald_Rumsfeld")):
        _, crop = _face(server, other, 1)  # ... sent with another man's crop
        server.hub.visitors.on_event(
            track_event(
                f"forged-{n}-0000", template, crop, person_id=person, confidence=0.8, votes={person: 5}, track_id=10 + n
            )
        )
    offered = [
        s
        for state in ("pending", "accepted", "rejected")
        for s in admin.get("/api/suggestions", params={"state": state}).json()
    ]
    assert offered == [] and admin.get(f"/api/people/{person}").json()["samples"] == 2
    vector, crop = _face(server, PERSON, 3)  # the person's own face is still offered, and auto-accepted
    server.hub.visitors.on_event(
        track_event("genuine-3-0000", vector, crop, person_id=person, confidence=0.8, votes={person: 5}, track_id=3)
    )
    accepted = admin.get("/api/suggestions", params={"state": "accepted"}).json()
    assert [s["event_id"] for s in accepted] == ["genuine-3-0000"], server.hub.visitors.not_suggested
    assert admin.get(f"/api/people/{person}").json()["samples"] == 3


def test_not_this_person_from_a_track_and_from_a_sample(hub_server: HubServer) -> None:
    admin = hub_server.client(hub_server.admin)
    person = _enroll(admin, PERSON, range(1, 4))
    wrong = admin.post("/api/samples/photos", data={"label": PERSON}, files=[_photo(STRANGER, 1)]).json()
    wrong_sample = wrong["samples"][0]["id"]
    vector, crop = _face(hub_server, STRANGER, 2)
    hub_server.hub.visitors.on_event(track_event("misnamed-0001", vector, crop, person_id=person, confidence=0.5))
    assert [t["person_id"] for t in admin.get("/api/tracks", params={"person_id": person}).json()] == [person]
    fixed = admin.post("/api/tracks/misnamed-0001/not-this-person")
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["removed_samples"] == [wrong_sample] and fixed.json()["still_matches"] is False
    assert admin.get(f"/api/people/{person}").json()["samples"] == 3
    track = admin.get("/api/tracks", params={"visitor_id": fixed.json()["visitor"]["id"]}).json()
    assert [t["event_id"] for t in track] == ["misnamed-0001"] and track[0]["person_id"] is None
    sample = admin.get("/api/samples", params={"person_id": person}).json()[0]["id"]
    moved = admin.post("/api/tracks/from-sample", json={"sample_id": sample})
    assert moved.status_code == 201 and moved.json()["tracks"] == 1
    assert admin.get(f"/api/people/{person}").json()["samples"] == 2
    assert admin.post("/api/tracks/from-sample", json={"sample_id": sample}).status_code == 404


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x", "extra": 1}])
def test_bad_bodies_are_refused(hub_server: HubServer, body: dict) -> None:
    visitor = _unknown_visitor(hub_server, photos=range(1, 2))
    assert hub_server.client(hub_server.admin).post(f"/api/visitors/{visitor}/name", json=body).status_code == 422
