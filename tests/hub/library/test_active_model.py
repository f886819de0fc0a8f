"""The hub's active model: switching re-embeds the library in the background and switches at the end, all
or nothing; a failure or a restart leaves the old model active and the switch resumable.

The switched-to model is the real SFace file registered as a `model` artifact under another model id, so
the mechanics run in seconds (tests/hub/training/test_release_to_edge.py switches to a really retrained model)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from hub.db import now_iso
from hub.library.embeddings import ModelChangedError
from hub.library.library import PersonDeletedError
from tests.conftest import LFW
from tests.hub.conftest import HubServer

COPY = "sface-copy"
PEOPLE = {"Colin_Powell": range(1, 4), "Tony_Blair": range(1, 4)}


def photos(name: str, numbers: range) -> list[tuple[str, tuple[str, bytes, str]]]:
    folder = LFW / "images_deepfunneled" / name
    return [("files", (f"{n}.jpg", (folder / f"{name}_{n:04d}.jpg").read_bytes(), "image/jpeg")) for n in numbers]


def enroll(admin: httpx.Client, people: dict[str, range]) -> int:
    stored = 0
    for name, numbers in people.items():
        answer = admin.post("/api/samples/photos", data={"label": name}, files=photos(name, numbers))
        assert answer.status_code == 201, answer.text
        stored += answer.json()["faces_extracted"]
    return stored


def register_copy(server: HubServer) -> str:
    """The SFace file as a `model` artifact of another model id; returns its artifact version."""
    from models.registry import default_model_dir

    return server.hub.artifacts.add_model(default_model_dir() / "sface.onnx", COPY, 128, base_model="sface").version


def wait_switch(admin: httpx.Client, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        active = admin.get("/api/models/active").json()
        if active["reembed"] and active["reembed"]["state"] != "running":
            return active
        time.sleep(0.2)
    raise AssertionError("the re-embedding did not finish")


def test_switch_reembeds_then_builds_for_either_model(hub_server: HubServer) -> None:
    admin = hub_server.client(hub_server.admin)
    stored = enroll(admin, PEOPLE)
    version = register_copy(hub_server)
    assert hub_server.client(hub_server.enroll).post(f"/api/models/{version}/activate").status_code == 403
    assert admin.post("/api/models/20000101.0001/activate").status_code == 404
    assert admin.post(f"/api/models/{version}/activate").status_code == 202
    active = wait_switch(admin)
    assert active["reembed"]["state"] == "done", active["reembed"]["error"]
    assert (active["model_id"], active["version"], active["previous_model_id"]) == (COPY, version, "sface")
    assert active["reembed"]["done"] == active["reembed"]["total"] == stored
    assert active["embeddings"] == {"sface": stored, COPY: stored}  # the old ones are kept
    assert hub_server.hub.models.pipeline.model_id == COPY

    old = hub_server.hub.library.embeddings(model_id="sface")
    new = hub_server.hub.library.embeddings()
    assert new.model_id == COPY and new.sample_ids == old.sample_ids
    # the same weights on the stored (JPEG) crops: nearly the embeddings enrollment made
    assert np.einsum("ij,ij->i", old.vectors, new.vectors).min() > 0.95

    added = enroll(admin, {"Gerhard_Schroeder": range(1, 3)})  # embedded by the new active model only
    assert admin.get("/api/models/active").json()["embeddings"] == {"sface": stored, COPY: stored + added}
    built = admin.post("/api/galleries").json()
    assert built["model_id"] == COPY and built["people"] == 3
    for_old = admin.post("/api/galleries", json={"model_id": "sface"}).json()
    assert for_old["model_id"] == "sface" and for_old["people"] == 3  # the newcomer embedded for it on the way
    assert admin.get("/api/models/active").json()["embeddings"]["sface"] == stored + added
    unknown = admin.post("/api/galleries", json={"model_id": "no-such-model"})
    assert unknown.status_code == 422 and "no file for model" in unknown.json()["detail"]
    assert admin.post(f"/api/models/{version}/activate").json()["model_id"] == COPY  # active already: no job


def test_a_failed_switch_leaves_the_old_model_and_can_be_restarted(hub_server: HubServer) -> None:
    admin = hub_server.client(hub_server.admin)
    stored = enroll(admin, PEOPLE)
    broken = admin.get("/api/samples").json()[-1]["id"]
    hub_server.hub.library.sample_path(broken).write_bytes(b"not a JPEG any more")
    version = register_copy(hub_server)
    admin.post(f"/api/models/{version}/activate")
    failed = wait_switch(admin)
    assert failed["reembed"]["state"] == "failed" and broken in failed["reembed"]["error"]
    assert failed["model_id"] == "sface" and hub_server.hub.models.pipeline.model_id == "sface"
    assert failed["embeddings"]["sface"] == stored  # nothing of the old model was lost
    _, (name, data, kind) = photos("Colin_Powell", range(4, 5))[0]
    assert admin.post("/api/search", files={"file": (name, data, kind)}).json()["hits"][0]["name"] == "Colin_Powell"

    assert admin.delete(f"/api/samples/{broken}").status_code == 200
    admin.post(f"/api/models/{version}/activate")
    done = wait_switch(admin)
    assert done["reembed"]["state"] == "done" and done["model_id"] == COPY
    assert done["embeddings"][COPY] == stored - 1


def test_a_restart_midway_resumes_the_switch(start_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = start_hub(data_dir=tmp_path / "hub")
    admin = first.client(first.admin)
    stored = enroll(admin, PEOPLE)
    version = register_copy(first)
    # The state a hub stopped mid-job leaves: a running job, half of the new embeddings written.
    library = first.hub.library
    half = library.embeddings()
    keep = len(half.sample_ids) // 2
    library.embedding_store.store(COPY, list(half.sample_ids[:keep]), half.vectors[:keep])
    with first.hub.db.transaction() as db:
        db.insert(
            "reembeds",
            {
                "id": "interrupted",
                "model_id": COPY,
                "version": version,
                "state": "running",
                "done": keep,
                "total": stored,
                "error": "",
                "created": now_iso(),
                "updated": now_iso(),
            },
        )
    assert admin.get("/api/models/active").json()["model_id"] == "sface"
    first.stop()

    second = start_hub(data_dir=tmp_path / "hub")
    active = wait_switch(second.client(second.admin))
    assert active["reembed"]["id"] == "interrupted" and active["reembed"]["state"] == "done"
    assert active["model_id"] == COPY and active["embeddings"] == {"sface": stored, COPY: stored}
    assert second.hub.models.pipeline.model_id == COPY


def test_max_samples_per_person(start_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    limit = 3
    server = start_hub(data_dir=tmp_path / "hub", enroll={"max_samples_per_person": limit})
    admin = server.client(server.admin)
    first = admin.post("/api/samples/photos", data={"label": "Colin_Powell"}, files=photos("Colin_Powell", range(1, 6)))
    assert first.status_code == 201
    assert first.json()["faces_extracted"] == limit and first.json()["rejected"]["over_limit"] == 5 - limit
    full = admin.post("/api/samples/photos", data={"label": "Colin_Powell"}, files=photos("Colin_Powell", range(6, 8)))
    assert full.status_code == 422 and full.json()["detail"]["rejected"]["over_limit"] == 2
    assert "max_samples_per_person" in full.json()["detail"]["message"]
    assert len(admin.get("/api/samples").json()) == limit
    server.stop()

    tighter = start_hub(data_dir=tmp_path / "hub", enroll={"max_samples_per_person": limit - 1})
    assert tighter.client(tighter.admin).post("/api/samples/optimize", json={}).json() == {"deleted": 1}


def test_after_a_switch_search_follows_and_deletion_reaches_every_model(hub_server: HubServer) -> None:
    admin = hub_server.client(hub_server.admin)
    stored = enroll(admin, PEOPLE)
    for_sface = admin.post("/api/galleries").json()["version"]
    version = register_copy(hub_server)
    admin.post(f"/api/models/{version}/activate")
    assert wait_switch(admin)["model_id"] == COPY
    for_copy = admin.post("/api/galleries").json()["version"]
    assert hub_server.hub.models.query_pipeline().model_id == COPY
    with hub_server.hub.db.transaction() as db:  # search must compare with the new model's embeddings only
        db.execute("DELETE FROM sample_embeddings WHERE model_id = 'sface'")
    _, probe = photos("Colin_Powell", range(4, 5))[0]
    assert admin.post("/api/search", files={"file": probe}).json()["hits"][0]["name"] == "Colin_Powell"
    _, other = photos("Colin_Powell", range(5, 6))[0]
    assert admin.post("/api/verify", files={"a": probe, "b": other}).json()["same_person"] is True

    admin.post("/api/galleries", json={"model_id": "sface"}).raise_for_status()  # sface embeddings again
    assert admin.get("/api/models/active").json()["embeddings"] == {"sface": stored, COPY: stored}
    powell = next(p for p in admin.get("/api/people").json() if p["name"] == "Colin_Powell")
    held = [s["id"] for s in admin.get("/api/samples", params={"person_id": powell["id"]}).json()]
    deleted = admin.delete(f"/api/people/{powell['id']}").json()
    assert deleted["deleted"] == len(held) > 0
    for_sface_again = next(
        g["version"]
        for g in admin.get("/api/galleries").json()
        if g["model_id"] == "sface" and g["version"] != for_sface
    )
    assert sorted(deleted["revoked_galleries"]) == sorted([for_sface, for_copy, for_sface_again])
    left = {"sface": stored - len(held), COPY: stored - len(held)}
    assert admin.get("/api/models/active").json()["embeddings"] == left
    with hub_server.hub.db.read() as db:
        rows = db.execute(
            f"SELECT COUNT(*) FROM sample_embeddings WHERE sample_id IN ({db.json_values})", [json.dumps(held)]
        ).fetchone()[0]
    assert rows == 0


def test_an_upload_in_flight_fails_after_a_switch_or_a_deletion(hub_server: HubServer) -> None:
    """Library level: what the storing transaction checks against the ticket taken at the upload's start."""
    hub = hub_server.hub
    enroll(hub_server.client(hub_server.admin), {"Tony_Blair": range(1, 3)})
    folder = LFW / "images_deepfunneled" / "Tony_Blair"
    with (folder / "Tony_Blair_0005.jpg").open("rb") as file:
        report = hub.enroller.from_photos([("5.jpg", file)], np.zeros((0, 128), np.float32))
    assert report.model_id == "sface" and report.accepted
    limit = hub.settings.enroll.max_samples_per_person

    ticket = hub.library.begin_upload("Tony_Blair")
    with hub.db.transaction() as db:  # the hub switches its model while the upload is analysed
        db.execute("UPDATE active_model SET model_id = ?", [COPY])
    with pytest.raises(ModelChangedError, match="send it again"):
        hub.library.add_samples(ticket, report.accepted, report.model_id, limit)
    with hub.db.transaction() as db:
        db.execute("UPDATE active_model SET model_id = 'sface'")

    ticket = hub.library.begin_upload("Tony_Blair")
    actor = hub.tokens.lookup(hub_server.admin)
    assert actor is not None
    hub.deletions.delete_person(ticket.person_id, actor)
    with pytest.raises(PersonDeletedError, match="deleted while this upload"):
        hub.library.add_samples(ticket, report.accepted, report.model_id, limit)
    assert "Tony_Blair" not in [p.name for p in hub.library.people()]


def test_the_search_pipeline_is_shared_on_onnxruntime_and_its_own_elsewhere(  # type: ignore[no-untyped-def]
    db_target: Path | str, pipeline, tmp_path: Path
) -> None:
    """Search and verify run beside enrollment: onnxruntime sessions are shared, a torch embedder gets an
    instance of its own per model, and either follows the active model."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.artifacts.store import ArtifactStore
    from hub.db import HubDb
    from hub.library.active_model import HubModels
    from hub.library.embeddings import EmbeddingStore
    from models.engines.backend import TorchConfig
    from models.pipeline import PipelineConfig
    from models.registry import default_model_dir

    hub_db = HubDb(db_target)
    hub_db.migrate()
    store = EmbeddingStore(hub_db)
    artifacts = ArtifactStore(hub_db, tmp_path / "artifacts", Ed25519PrivateKey.generate())
    shared = HubModels(PipelineConfig(), pipeline, artifacts, store, tmp_path / "training")
    assert shared.query_pipeline() is shared.pipeline

    own = HubModels(
        PipelineConfig(embedder_backend=TorchConfig(device="cpu")), pipeline, artifacts, store, tmp_path / "training"
    )
    query = own.query_pipeline()
    assert query is not own.pipeline and query.model_id == own.pipeline.model_id == "sface"
    assert query.embedder.backend.name.startswith("sface.onnx[torch cpu") and own.query_pipeline() is query
    version = artifacts.add_model(default_model_dir() / "sface.onnx", COPY, 128, base_model="sface").version
    own.activate(own.pipeline_for(COPY, version))
    switched = own.query_pipeline()
    assert switched.model_id == COPY and switched is not own.pipeline and switched is not query
    hub_db.close()
