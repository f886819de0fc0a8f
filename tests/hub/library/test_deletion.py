"""Person deletion on the hub (in-process, real HTTP): revoked galleries answer 410 and lose their file,
the next gallery's signed manifest lists them, revoked artifacts cannot be rolled out, a gallery holding a
person deleted while it was built is refused, and the audit lists who deleted whom (admin only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facefleet.gallery import build_gallery
from facefleet.signing import load_public_key, verify_manifest
from facefleet.wire import DeviceStatus
from hub.errors import ConflictError
from hub.settings import MqttConfig
from tests.conftest import LFW
from tests.hub.conftest import HubServer
from tests.hub.fleet.test_home_assistant import Observer
from tests.hub.visitors.conftest import track_event
from tests.hub.visitors.test_api import _face
from tooling.sim.procs import wait_for


def enroll(server: HubServer, folder: str) -> str:
    paths = [LFW / "images_deepfunneled" / folder / f"{folder}_{n:04d}.jpg" for n in (1, 2)]
    with server.client(server.enroll) as client:
        response = client.post(
            "/api/samples/photos",
            data={"label": folder},
            files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths],
        )
    assert response.status_code == 201, response.text
    return str(response.json()["person"]["id"])


def test_deletion_revokes_galleries_and_the_next_one_says_so(mqtt_hub: HubServer) -> None:
    hub_server = mqtt_hub  # a broker, so a rollout request gets as far as the artifact check
    gone, kept = enroll(hub_server, "George_W_Bush"), enroll(hub_server, "Colin_Powell")
    admin, device = hub_server.client(hub_server.admin), hub_server.client(hub_server.device)
    before = admin.post("/api/galleries").json()["version"]
    # The device token is bound to edge-test: a target of `before`, so what it gets is the revocation's answer.
    started = admin.post("/api/rollouts", json={"kind": "gallery", "version": before, "devices": ["edge-test"]})
    assert started.status_code == 201, started.text
    assert device.get(f"/api/artifacts/gallery/{before}/manifest").status_code == 200
    with hub_server.client(hub_server.enroll) as client:
        deleted = client.delete(f"/api/people/{gone}").json()
    assert deleted == {"deleted": 2, "revoked_galleries": [before]}
    for part in ("manifest", "file"):
        assert device.get(f"/api/artifacts/gallery/{before}/{part}").status_code == 410
    with hub_server.client(hub_server.device_token("lobby-1")) as other:  # never a target: refused as before
        assert other.get(f"/api/artifacts/gallery/{before}/manifest").status_code == 403
    folder = hub_server.hub.artifacts.root / "gallery" / before
    assert [p.name for p in folder.iterdir()] == ["manifest.json"]  # the templates are gone from disk too
    listed = {g["version"]: g["revoked"] for g in admin.get("/api/galleries").json()}
    assert listed[before] != ""
    refused = admin.post("/api/rollouts", json={"kind": "gallery", "version": before, "devices": ["x"]})
    assert refused.status_code == 410 and "revoked" in refused.json()["detail"]

    after = admin.post("/api/galleries").json()["version"]
    signed = hub_server.hub.artifacts.manifest("gallery", after)
    manifest = verify_manifest(load_public_key(hub_server.hub.artifacts.public_key_pem), signed)
    assert manifest.revokes == [before]
    with hub_server.hub.db.read() as db:
        holds = [r[0] for r in db.execute("SELECT person_id FROM gallery_people WHERE version = ?", [after])]
    assert holds == [kept]

    audit = admin.get("/api/audit/deletions").json()
    assert [(a["person_id"], a["person_name"], a["token_name"], a["samples"]) for a in audit] == [
        (gone, "George_W_Bush", "test-enroll", 2)
    ]
    with hub_server.client(hub_server.enroll) as client:
        assert client.get("/api/audit/deletions").status_code == 403  # the audit is for admins
    admin.close()
    device.close()


def test_a_gallery_holding_a_person_deleted_meanwhile_is_refused(hub_server: HubServer) -> None:
    gone = enroll(hub_server, "Tony_Blair")
    hub = hub_server.hub
    found = hub.library.embeddings()
    gallery = build_gallery(
        "99990101.0001",
        hub.library.model_id,
        [gone],
        ["Tony_Blair"],
        found.vectors,
        np.zeros(len(found.vectors), np.int64),
    )
    with hub_server.client(hub_server.enroll) as client:
        client.delete(f"/api/people/{gone}").raise_for_status()  # lands after the templates were made
    path = hub.settings.data_dir / "built-elsewhere.sqlite"
    gallery.write(path)
    with pytest.raises(ConflictError, match="deleted while it was built"):
        hub.artifacts.add_gallery_file(path, gallery.version, hub.library.model_id, gallery.dim, 1, 1)
    assert [r.version for r in hub.artifacts.signed("gallery")] == []
    assert np.array_equal(found.person_ids, np.array([gone] * len(found.person_ids), object))


def test_galleries_from_before_the_index_are_indexed_at_start(hub_server: HubServer) -> None:
    person = enroll(hub_server, "Donald_Rumsfeld")
    with hub_server.client(hub_server.admin) as admin:
        version = admin.post("/api/galleries").json()["version"]
    with hub_server.hub.db.transaction() as db:  # as a hub before the people index left it
        db.execute("DELETE FROM gallery_people")
    hub_server.hub.artifacts.clean_tmp()  # what a start runs
    with hub_server.client(hub_server.enroll) as client:
        assert client.delete(f"/api/people/{person}").json()["revoked_galleries"] == [version]


def _device(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="door-1", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _publish(client: mqtt.Client, topic: str, payload: str) -> None:
    client.publish(topic, payload, qos=1, retain=topic.endswith("/status")).wait_for_publish(10)


def _named_track(server: HubServer, person_id: str, name: str, photo: int, track_id: int) -> list[str]:
    """A device's events of one track named `name`: confirmed, then ended with its template and crop."""
    vector, crop = _face(server, name, photo)
    ended = track_event(
        f"track-{name}-{photo}",
        vector,
        crop,
        person_id=person_id,
        name=name,
        confidence=0.8,
        votes={person_id: 6},
        track_id=track_id,
    )
    confirmed = ended.model_copy(
        update={
            "event_id": f"seen-{name}-{photo}",
            "type": "identity_confirmed",
            "template": None,
            "best_crop_jpeg_b64": None,
        }
    )
    return [confirmed.model_dump_json(), ended.model_dump_json()]


def _files_holding(root: Path, needles: list[bytes]) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)
    )


def test_deleting_a_person_removes_every_place_their_face_or_name_is_kept(  # type: ignore[no-untyped-def]
    start_hub, broker, hub_database: str | None
) -> None:
    server = start_hub(
        mqtt=MqttConfig(port=broker.port, client_id="hub-test"),
        home_assistant={"enabled": True},
        visitors={"suggest": {"min_margin": 0.0}},
    )
    hub, admin = server.hub, server.client(server.admin)
    gone, kept = enroll(server, "Colin_Powell"), enroll(server, "Gerhard_Schroeder")
    observer = Observer(broker.port)
    device = _device(broker.port)
    try:
        _publish(
            device,
            "facefleet/door-1/status",
            DeviceStatus(device_id="door-1", state="online", cameras=["front"]).model_dump_json(),
        )
        for payload in [
            *_named_track(server, kept, "Gerhard_Schroeder", 3, 1),
            *_named_track(server, gone, "Colin_Powell", 3, 2),
        ]:
            _publish(device, "facefleet/door-1/events", payload)
        wait_for(lambda: hub.suggestions.find(gone), "the person's suggested sample", 30)
        camera_state = "facefleet/_ha/camera/door-1/front"
        observer.wait(camera_state, lambda p: gone.encode() in p, "the camera sensor naming the person")
        with hub.db.read() as db:
            embeddings = [
                bytes(r[0])
                for r in db.execute(
                    "SELECT e.embedding FROM sample_embeddings e JOIN samples s ON s.id = e.sample_id "
                    "WHERE s.person_id = ?",
                    [gone],
                ).fetchall()
            ]
            templates = [
                bytes(r[0])
                for r in db.execute("SELECT template FROM ended_tracks WHERE person_id = ?", [gone]).fetchall()
            ]
        crops = [hub.visitor_store.crop_path(t.event_id) for t in hub.visitor_store.tracks(person_id=gone)]
        assert len(embeddings) == 2 and len(templates) == 1 and all(p.exists() for p in crops)

        assert admin.delete(f"/api/people/{gone}").status_code == 200
        # the library: rows, embeddings of every model, sample crops (as before)
        assert not (hub.library.samples_dir / gone).exists()
        # the stored tracks the agents named them in, their crops and templates, and their suggestions
        assert admin.get("/api/tracks", params={"person_id": gone}).json() == []
        assert admin.get("/api/tracks/track-Colin_Powell-3/crop").status_code == 404
        assert not any(p.exists() for p in crops)
        assert [
            s
            for state in ("pending", "accepted", "rejected")
            for s in admin.get("/api/suggestions", params={"state": state}).json()
            if s["person_id"] == gone
        ] == []
        # the live view's recent events (their name and best crop)
        recent = admin.get("/api/events/recent").json()["events"]
        assert [e["event_id"] for e in recent if e["person_id"] == gone or e["name"] == "Colin_Powell"] == []
        assert {e["person_id"] for e in recent} == {kept}
        # Home Assistant: the person's sensor, and the camera sensor whose state names them
        observer.wait(camera_state, lambda p: gone.encode() not in p, "the camera sensor without the person")
        person_config = hub.home_assistant.config_topic(hub.home_assistant.person_object(gone))
        observer.wait(person_config, lambda p: p == b"", "the person's sensor removed")
        # the database files, the write-ahead log included (SQLite; PostgreSQL: see "SQLite or PostgreSQL")
        if hub_database is None:
            assert _files_holding(hub.settings.data_dir, embeddings + templates) == []
        # what stays: the other person's track and the deletion's record
        assert [t["person_id"] for t in admin.get("/api/tracks").json()] == [kept]
        # an agent still on a gallery with them names them until the next gallery: stored as a stranger
        _publish(device, "facefleet/door-1/events", _named_track(server, gone, "Colin_Powell", 4, 3)[1])
        wait_for(lambda: hub.visitors.counts.unknown == 1, "the track after the deletion", 30)
        assert admin.get("/api/tracks/track-Colin_Powell-4/crop").status_code == 200
        assert admin.get("/api/tracks", params={"person_id": gone}).json() == []
        assert [a["person_name"] for a in admin.get("/api/audit/deletions").json()] == ["Colin_Powell"]
    finally:
        device.disconnect()
        device.loop_stop()
        observer.close()


def test_a_deleted_persons_embeddings_do_not_stay_in_the_write_ahead_log(
    hub_server: HubServer, hub_database: str | None
) -> None:
    if hub_database is not None:
        pytest.skip("PostgreSQL's WAL is the server's (hub/README.md, 'SQLite or PostgreSQL')")
    gone = enroll(hub_server, "Ariel_Sharon")
    with hub_server.hub.db.read() as db:
        embeddings = [bytes(r[0]) for r in db.execute("SELECT embedding FROM sample_embeddings").fetchall()]
    data_dir = hub_server.hub.settings.data_dir
    assert _files_holding(data_dir, embeddings) == ["hub.sqlite-wal"]  # where a commit leaves them
    with hub_server.client(hub_server.enroll) as client:
        client.delete(f"/api/people/{gone}").raise_for_status()
    assert _files_holding(data_dir, embeddings) == []
