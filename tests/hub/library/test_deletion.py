"""Person deletion on the hub (in-process, real HTTP): revoked galleries answer 410 and lose their file,
the next gallery's signed manifest lists them, revoked artifacts cannot be rolled out, a gallery holding a
person deleted while it was built is refused, and the audit lists who deleted whom (admin only)."""

from __future__ import annotations

import numpy as np
import pytest

from facefleet.gallery import build_gallery
from facefleet.signing import load_public_key, verify_manifest
from hub.library.library import ConflictError
from tests.conftest import LFW
from tests.hub.conftest import HubServer


def enroll(server: HubServer, folder: str) -> str:
    paths = [LFW / "images_deepfunneled" / folder / f"{folder}_{n:04d}.jpg" for n in (1, 2)]
    with server.client(server.enroll) as client:
        response = client.post("/api/samples/photos", data={"label": folder},
                               files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths])
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
    manifest = verify_manifest(load_public_key(hub_server.hub.public_key_pem), signed)
    assert manifest.revokes == [before]
    with hub_server.hub.db.read() as db:
        holds = [r[0] for r in db.execute("SELECT person_id FROM gallery_people WHERE version = ?", [after])]
    assert holds == [kept]

    audit = admin.get("/api/audit/deletions").json()
    assert [(a["person_id"], a["person_name"], a["token_name"], a["samples"]) for a in audit] == [
        (gone, "George_W_Bush", "test-enroll", 2)]
    with hub_server.client(hub_server.enroll) as client:
        assert client.get("/api/audit/deletions").status_code == 403  # the audit is for admins
    admin.close()
    device.close()


def test_a_gallery_holding_a_person_deleted_meanwhile_is_refused(hub_server: HubServer) -> None:
    gone = enroll(hub_server, "Tony_Blair")
    hub = hub_server.hub
    found = hub.library.embeddings()
    gallery = build_gallery("99990101.0001", hub.library.model_id, [gone], ["Tony_Blair"], found.vectors,
                            np.zeros(len(found.vectors), np.int64))
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
