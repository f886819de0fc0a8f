"""Signed gallery and model updates over HTTP, announced on the real broker."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.app import EdgeApp, boot_recognizer
from edge.recognize.model_gallery import HealthError, ModelGallery, ModelGalleryHolder, probe_crop
from edge.update.download import ArtifactFetcher, ForeignUrl
from edge.update.slots import RollbackFloor, SlotStore, version_key
from edge.update.updates import Updater
from facefleet.gallery import Gallery
from facefleet.signing import public_pem, sign_manifest
from facefleet.wire import ArtifactKind, ArtifactManifest, Topics, UpdateAnnouncement, UpdateState
from models.pipeline import FacePipeline
from models.registry import default_model_dir
from tests.edge.conftest import FAST_PIPELINE, Subscriber, agent_config

TOKEN = "device-token-123"


class HubFiles:
    """A tiny hub: serves registered files to requests with the device's bearer token."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []
        files, truncated, requests = self.files, self.truncated, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                body = files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # a cut-off transfer: the promised length, half the bytes, then the connection closes
                self.wfile.write(body[: len(body) // 2] if self.path in truncated else body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(
        self,
        key: Ed25519PrivateKey,
        kind: ArtifactKind,
        version: str,
        model_id: str,
        body: bytes,
        served: bytes | None = None,
        file_name: str = "gallery.db",
        base_model: str = "",
    ) -> UpdateAnnouncement:
        """Sign a manifest for `body`, serve it (or `served`: a tampered file) and make an announcement."""
        manifest = ArtifactManifest(
            kind=kind,
            version=version,
            model_id=model_id,
            sha256=hashlib.sha256(body).hexdigest(),
            size=len(body),
            created=datetime.now(timezone.utc),
            file_name=file_name,
            embedding_dim=128,
            base_model=base_model,
        )
        self.files[f"/{kind}/{version}/manifest"] = sign_manifest(key, manifest).model_dump_json().encode()
        self.files[f"/{kind}/{version}/file"] = served if served is not None else body
        return UpdateAnnouncement(
            rollout_id=f"r-{kind}-{version}",
            kind=kind,
            version=version,
            manifest_url=f"{self.base}/{kind}/{version}/manifest",
            artifact_url=f"{self.base}/{kind}/{version}/file",
            ts=datetime.now(timezone.utc),
        )


@pytest.fixture
def hub() -> Iterator[HubFiles]:
    files = HubFiles()
    yield files
    files.server.shutdown()


def gallery_bytes(gallery: Gallery, tmp_path: Path, version: str, model_id: str | None = None) -> bytes:
    path = tmp_path / f"gallery-{version}.db"
    replace(gallery, version=version, model_id=model_id or gallery.model_id).write(path)
    return path.read_bytes()


def announce_and_wait(subscriber: Subscriber, ann: UpdateAnnouncement, final: str) -> dict[str, Any]:
    topic = Topics().updates("edge-test")
    subscriber.client.publish(topic, ann.model_dump_json(), qos=1, retain=True)

    def done(s: Subscriber) -> bool:
        return any(
            st["rollout_id"] == ann.rollout_id
            and (st["state"] in ("applied", "failed", "rolled_back") or "staged" in st["detail"])
            for st in s.json("/updates/state")
        )

    subscriber.wait_for(done, 60, f"update state of {ann.kind} {ann.version}")
    states = [st for st in subscriber.json("/updates/state") if st["rollout_id"] == ann.rollout_id]
    assert states[-1]["state"] == final, states
    return states[-1]


def updating_agent(
    tmp_path: Path, broker: Any, hub: HubFiles, gallery_file: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[EdgeApp, Ed25519PrivateKey]:
    """A started agent without video that takes updates from `hub`, signed by the returned key; its
    gallery is the bundled file (not a slot)."""
    key = Ed25519PrivateKey.generate()
    (tmp_path / "hub.pub").write_bytes(public_pem(key.public_key()))
    monkeypatch.setenv("TEST_DEVICE_TOKEN", TOKEN)
    camera = {
        "name": "none",
        "source": {"type": "file", "path": str(tmp_path / "no-video.mp4")},
        "reconnect_min_s": 1,
        "reconnect_max_s": 5,
    }
    config = agent_config(
        tmp_path,
        broker.port,
        [camera],
        gallery_path=str(gallery_file),
        updates={"hub_public_key": str(tmp_path / "hub.pub"), "hub_url": hub.base, "token_env": "TEST_DEVICE_TOKEN"},
    )
    app = EdgeApp(config)
    app.start()
    return app, key


@pytest.mark.slow
def test_gallery_and_model_updates(
    tmp_path: Path,
    broker: Any,
    subscriber: Subscriber,
    hub: HubFiles,
    lfw_gallery: Gallery,
    gallery_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, key = updating_agent(tmp_path, broker, hub, gallery_file, monkeypatch)
    config = app.config
    model_id = lfw_gallery.model_id
    try:
        good = gallery_bytes(lfw_gallery, tmp_path, "2")
        state = announce_and_wait(subscriber, hub.publish(key, "gallery", "2", model_id, good), "applied")
        assert state["running_version"] == "2" and app.holder.current.gallery.version == "2"
        assert (config.state_dir / "galleries" / "current").readlink() == Path("2")
        ann_again = hub.publish(key, "gallery", "2", model_id, good)
        again = ann_again.model_copy(update={"rollout_id": "r-again"})
        assert announce_and_wait(subscriber, again, "applied")["detail"] == "already running"

        tampered = bytearray(gallery_bytes(lfw_gallery, tmp_path, "3"))
        body = bytes(tampered)
        tampered[-100] ^= 0xFF
        altered = hub.publish(key, "gallery", "3", model_id, body, bytes(tampered))
        state = announce_and_wait(subscriber, altered, "failed")
        assert "sha256" in state["detail"] and app.holder.current.gallery.version == "2"

        cut = hub.publish(key, "gallery", "4", model_id, gallery_bytes(lfw_gallery, tmp_path, "4"))
        hub.truncated.add("/gallery/4/file")
        announce_and_wait(subscriber, cut, "failed")
        assert app.holder.current.gallery.version == "2"
        assert not (config.state_dir / "galleries" / "4").exists()

        old = hub.publish(key, "gallery", "1", model_id, gallery_bytes(lfw_gallery, tmp_path, "1"))
        assert "older" in announce_and_wait(subscriber, old, "failed")["detail"]

        # An announcement pointing elsewhere (validly signed, even): refused before the token leaves the device.
        elsewhere = HubFiles()
        try:
            foreign = elsewhere.publish(key, "gallery", "5", model_id, gallery_bytes(lfw_gallery, tmp_path, "5"))
            assert "outside the hub" in announce_and_wait(subscriber, foreign, "failed")["detail"]
            assert elsewhere.requests == [] and app.holder.current.gallery.version == "2"
            assert (
                app.metrics.registry.get_sample_value("facefleet_edge_updates_refused_total", {"reason": "foreign_url"})
                == 1
            )
        finally:
            elsewhere.server.shutdown()

        forged = hub.publish(Ed25519PrivateKey.generate(), "gallery", "7", model_id, good)
        assert "signature" in announce_and_wait(subscriber, forged, "failed")["detail"]

        foreign = gallery_bytes(lfw_gallery, tmp_path, "8", "other-model")
        other = hub.publish(key, "gallery", "8", "other-model", foreign)
        assert "mismatched pair" in announce_and_wait(subscriber, other, "failed")["detail"]

        # A new model waits for its gallery, then both switch together.
        onnx = (default_model_dir() / "sface.onnx").read_bytes()
        model = hub.publish(key, "model", "m1", "sface-ft1", onnx, file_name="embedder.onnx", base_model="sface")
        announce_and_wait(subscriber, model, "verifying")
        assert app.holder.current.model_id == model_id
        its_gallery = gallery_bytes(lfw_gallery, tmp_path, "9", "sface-ft1")
        paired = hub.publish(key, "gallery", "9", "sface-ft1", its_gallery)
        announce_and_wait(subscriber, paired, "applied")
        assert (app.holder.current.model_id, app.holder.current.model_version) == ("sface-ft1", "m1")
        assert app.holder.current.gallery.version == "9"
        subscriber.wait_for(
            lambda s: any(
                st["rollout_id"] == model.rollout_id and st["state"] == "applied" for st in s.json("/updates/state")
            ),
            5,
            "the model's own rollout to be reported applied once its gallery switched it in",
        )
        subscriber.wait_for(
            lambda s: s.json("edge-test/status")[-1]["gallery_version"] == "9",
            5,
            "the retained status to name the new versions",
        )
        assert subscriber.json("edge-test/status")[-1]["model_id"] == "sface-ft1"

        # A signed model that does not run is refused at staging; the running pair stays.
        junk = hub.publish(
            key, "model", "m2", "sface-ft2", b"not an onnx file" * 64, file_name="embedder.onnx", base_model="sface"
        )
        announce_and_wait(subscriber, junk, "failed")
        assert app.holder.current.model_version == "m1" and not (config.state_dir / "models" / "m2").exists()

        # The rollback floor fails closed: an emptied trust.json does not break a good rollout, and with the
        # file lost the installed slots still refuse an older gallery.
        trust_file = config.state_dir / "trust.json"
        trust_file.write_text("")
        newer = hub.publish(key, "gallery", "10", "sface-ft1", gallery_bytes(lfw_gallery, tmp_path, "10", "sface-ft1"))
        announce_and_wait(subscriber, newer, "applied")
        trust_file.unlink()
        replayed = hub.publish(key, "gallery", "9", "sface-ft1", its_gallery)
        replayed = replayed.model_copy(update={"rollout_id": "r-replayed"})
        assert "older than the trusted 10" in announce_and_wait(subscriber, replayed, "failed")["detail"]
        assert app.holder.current.gallery.version == "10"
    finally:
        app.stop()
    rebooted = boot_recognizer(config)
    assert (rebooted.model_id, rebooted.gallery.version) == ("sface-ft1", "10"), "the pair survives a restart"
    assert not (config.state_dir / "trust.json").exists()  # nothing newer was applied after it was lost
    floor = RollbackFloor(
        config.state_dir / "trust.json",
        {"gallery": SlotStore(config.state_dir / "galleries"), "model": SlotStore(config.state_dir / "models")},
    )
    assert (floor.last("gallery"), floor.last("model")) == ("10", "m1")


@pytest.mark.slow
def test_a_model_of_the_running_id_switches_in_with_the_next_gallery(
    tmp_path: Path,
    broker: Any,
    subscriber: Subscriber,
    hub: HubFiles,
    lfw_gallery: Gallery,
    gallery_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebuilt file of the running model (same model id) waits for a gallery, since the bundled one is no
    slot; the next gallery of that id then switches in with it, not with the model already running."""
    app, key = updating_agent(tmp_path, broker, hub, gallery_file, monkeypatch)
    model_id = lfw_gallery.model_id
    try:
        onnx = (default_model_dir() / "sface.onnx").read_bytes()
        model = hub.publish(key, "model", "m1", model_id, onnx, file_name="embedder.onnx")
        announce_and_wait(subscriber, model, "verifying")
        gallery = hub.publish(key, "gallery", "2", model_id, gallery_bytes(lfw_gallery, tmp_path, "2"))
        announce_and_wait(subscriber, gallery, "applied")
        assert (app.holder.current.model_version, app.holder.current.gallery.version) == ("m1", "2")
        subscriber.wait_for(
            lambda s: any(
                st["rollout_id"] == model.rollout_id and st["state"] == "applied" for st in s.json("/updates/state")
            ),
            5,
            "the model's rollout applied",
        )
    finally:
        app.stop()


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("2", "10"),  # numbers compare as numbers
        ("1.9", "1.10"),  # per component
        ("2026.11.28-2", "2026.11.28-10"),  # dated builds
        ("v1", "v2"),  # a prefix
    ],
)
def test_version_order(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_revoked_versions_are_purged_from_the_slots(tmp_path: Path) -> None:
    slots = SlotStore(tmp_path / "galleries")
    for v in ("1", "2", "3"):
        (slots.root / v).mkdir()
    slots.activate("2")
    slots.activate("3")
    assert slots.previous_version() == "2"
    # the new gallery's manifest revokes 2 and 1 (and, wrongly, the running 3, which is never removed)
    assert slots.purge(["1", "2", "3", "9"]) == ["1", "2"]
    assert slots.versions() == ["3"] and slots.current_version() == "3" and slots.previous_version() is None


def test_signed_revocations_verify_and_old_manifests_still_do() -> None:
    from facefleet.signing import SignatureError, verify_manifest

    key = Ed25519PrivateKey.generate()
    plain = ArtifactManifest(
        kind="gallery",
        version="5",
        model_id="sface",
        sha256="0" * 64,
        size=1,
        created=datetime.now(timezone.utc),
        file_name="g.sqlite",
        embedding_dim=128,
    )
    assert "revokes" not in plain.model_dump_json()  # what a manifest from before revocations signed
    revoking = plain.model_copy(update={"revokes": ["3", "4"]})
    signed = sign_manifest(key, revoking)
    assert verify_manifest(key.public_key(), signed).revokes == ["3", "4"]
    forged = signed.model_copy(update={"manifest": revoking.model_copy(update={"revokes": ["5"]})})
    with pytest.raises(SignatureError):  # an unsigned change of what to purge is refused
        verify_manifest(key.public_key(), forged)
    assert verify_manifest(key.public_key(), sign_manifest(key, plain)).revokes == []


def test_trust_only_moves_forward(tmp_path: Path) -> None:
    trust = RollbackFloor(tmp_path / "trust.json")
    assert not trust.is_older("gallery", "1")
    trust.record("gallery", "5")
    trust.record("gallery", "3")
    assert trust.last("gallery") == "5" and trust.is_older("gallery", "4")
    assert not trust.is_older("model", "1")


def signed_slot(slots: SlotStore, key: Ed25519PrivateKey, version: str, tmp_path: Path) -> None:
    body = f"gallery {version}".encode()
    manifest = ArtifactManifest(
        kind="gallery",
        version=version,
        model_id="sface",
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        created=datetime.now(timezone.utc),
        file_name="gallery.db",
        embedding_dim=128,
    )
    download = tmp_path / "download"
    download.write_bytes(body)
    slots.stage(sign_manifest(key, manifest), download)


@pytest.mark.parametrize(
    "damage",
    [
        "lost",  # the file is gone
        "empty",  # a power cut while it was rewritten on a file system without rename atomicity
        "garbage",  # not JSON
        "wrong shape",  # JSON, not a mapping of versions
    ],
)
def test_trust_floor_fails_closed_from_the_installed_slots(tmp_path: Path, damage: str) -> None:
    key = Ed25519PrivateKey.generate()
    slots = SlotStore(tmp_path / "galleries")
    for version in ("4", "5"):
        signed_slot(slots, key, version, tmp_path)
        slots.activate(version)
    trust = RollbackFloor(tmp_path / "trust.json", {"gallery": slots}, key.public_key())
    trust.record("gallery", "5")
    damaged = {"lost": None, "empty": "", "garbage": "{not json", "wrong shape": "[1, 2]"}[damage]
    if damaged is None:
        trust.path.unlink()
    else:
        trust.path.write_text(damaged)
    assert trust.last("gallery") == "5" and trust.is_older("gallery", "3") and not trust.is_older("gallery", "6")
    trust.record("gallery", "6")  # a good rollout still records (and rewrites the file)
    assert json.loads(trust.path.read_text()) == {"gallery": "6"}


def test_a_slot_manifest_that_does_not_verify_does_not_raise_the_floor(tmp_path: Path) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    slots = SlotStore(tmp_path / "galleries")
    signed_slot(slots, key, "2", tmp_path)
    signed_slot(slots, other, "900", tmp_path)  # planted with another key
    slots.activate("2")
    slots.activate("900")
    trust = RollbackFloor(tmp_path / "trust.json", {"gallery": slots}, key.public_key())
    assert trust.last("gallery") == "2"


def test_an_announcement_for_another_origin_is_refused_before_any_request(
    tmp_path: Path, hub: HubFiles, fast_pipeline: FacePipeline, lfw_gallery: Gallery
) -> None:
    key = Ed25519PrivateKey.generate()
    body = gallery_bytes(lfw_gallery, tmp_path, "2")
    ann = hub.publish(key, "gallery", "2", lfw_gallery.model_id, body)
    reports: list[UpdateState] = []
    refused: list[str] = []
    fetcher = ArtifactFetcher(key.public_key(), TOKEN, 5.0, 1 << 30, tmp_path / "tmp", "http://hub.example:8080")
    updater = Updater(
        "dev",
        tmp_path,
        fetcher,
        ModelGalleryHolder(ModelGallery(fast_pipeline, lfw_gallery)),
        FAST_PIPELINE,
        probe_crop(None),
        reports.append,
        refused.append,
    )
    assert updater.handle(ann) == "failed"  # the test server is not hub.example:8080
    assert refused == ["foreign_url"] and [r.state for r in reports] == ["failed"]
    assert "outside the hub" in reports[0].detail and hub.requests == []
    same_host_other_port = ann.model_copy(
        update={"manifest_url": "http://hub.example:8081/api/m", "artifact_url": "http://hub.example:8080/api/a"}
    )
    with pytest.raises(ForeignUrl):
        fetcher.check_urls(same_host_other_port)
    fetcher.check_urls(
        ann.model_copy(
            update={"manifest_url": "http://hub.example:8080/api/m", "artifact_url": "http://HUB.example:8080/api/a"}
        )
    )


def test_slots_switch_and_keep_the_previous(tmp_path: Path) -> None:
    slots = SlotStore(tmp_path / "galleries")
    for v in ("1", "2", "3"):
        (slots.root / v).mkdir()
    assert slots.activate("1") is None
    assert slots.activate("2") == "1"
    slots.prune()
    assert slots.current_version() == "2" and sorted(
        p.name for p in slots.root.iterdir() if p.is_dir() and not p.is_symlink()
    ) == ["1", "2"]


def test_a_failed_check_after_the_switch_rolls_back(
    tmp_path: Path, fast_pipeline: FacePipeline, lfw_gallery: Gallery, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = ModelGalleryHolder(ModelGallery(fast_pipeline, lfw_gallery))
    reports: list[UpdateState] = []
    key = Ed25519PrivateKey.generate()
    fetcher = ArtifactFetcher(key.public_key(), None, 5.0, 1 << 30, tmp_path / "tmp", "http://hub")
    updater = Updater("dev", tmp_path, fetcher, holder, FAST_PIPELINE, probe_crop(None), reports.append)
    body = gallery_bytes(lfw_gallery, tmp_path, "2")
    manifest = ArtifactManifest(
        kind="gallery",
        version="2",
        model_id=lfw_gallery.model_id,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        created=datetime.now(timezone.utc),
        file_name="gallery.db",
        embedding_dim=128,
    )
    download = tmp_path / "download"
    download.write_bytes(body)
    updater.galleries.stage(sign_manifest(key, manifest), download)
    outcomes = iter([None, HealthError("probe embedding drifted")])

    def flaky_check(rec: ModelGallery, probe: Any) -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr("edge.update.updates.health_check", flaky_check)
    ann = UpdateAnnouncement(
        rollout_id="r",
        kind="gallery",
        version="2",
        manifest_url="http://hub/m",
        artifact_url="http://hub/a",
        ts=datetime.now(timezone.utc),
    )
    assert updater._switch(ann, model_version="", gallery_version="2") == "rolled_back"
    assert holder.current.gallery.version == "1" and updater.galleries.current_version() is None
    assert reports[-1].state == "rolled_back" and "drifted" in reports[-1].detail
