"""Gallery build, signed manifest, device download with Range, and refusal of tampered artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from facefleet.gallery import Gallery
from facefleet.signing import SignatureError, load_public_key, verify_manifest
from facefleet.wire import ArtifactManifest, SignedManifest
from tests.hub.conftest import HubServer


def check_download(public_pem: bytes, signed: SignedManifest, data: bytes) -> ArtifactManifest:
    """What a device does: verify the signature, then size and sha256 of the bytes."""
    manifest = verify_manifest(load_public_key(public_pem), signed)
    if len(data) != manifest.size or hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise SignatureError("artifact does not match its manifest")
    return manifest


@pytest.fixture
def gallery_hub(hub_server: HubServer, shared_data: Path) -> HubServer:
    people = shared_data / "clips" / "people"
    with hub_server.client(hub_server.enroll) as client:
        for label, names in [
            ("Obama", ["obama/obama.jpg", "obama/obama2.jpg"]),
            ("Biden", ["biden/biden.jpg"]),
        ]:
            files = [("files", (n, (people / n).read_bytes(), "image/jpeg")) for n in names]
            assert client.post("/api/samples/photos", data={"label": label}, files=files).status_code == 201
    return hub_server


def test_build_download_verify(gallery_hub: HubServer, tmp_path: Path) -> None:
    with gallery_hub.client(gallery_hub.enroll) as client:
        assert client.post("/api/galleries").status_code == 403  # building is an admin action
    with gallery_hub.client(gallery_hub.admin) as client:
        built = client.post("/api/galleries")
        assert built.status_code == 201, built.text
        record = built.json()
        assert record["people"] == 2 and record["templates"] >= 2
        assert [g["version"] for g in client.get("/api/galleries").json()] == [record["version"]]
        public_pem = client.get("/api/signing-key").content
    with gallery_hub.client(gallery_hub.device) as device:  # no rollout targets its device yet
        assert device.get(record["manifest_url"]).status_code == 403
    with gallery_hub.client(gallery_hub.admin) as device:  # admins read every artifact
        signed = SignedManifest.model_validate_json(device.get(record["manifest_url"]).content)
        data = device.get(record["artifact_url"]).content
        manifest = check_download(public_pem, signed, data)
        assert manifest.model_id == gallery_hub.hub.models.pipeline.model_id and manifest.kind == "gallery"
        # resume an interrupted download with Range
        head = device.get(record["artifact_url"], headers={"Range": "bytes=0-99"})
        assert head.status_code == 206 and len(head.content) == 100
        tail = device.get(record["artifact_url"], headers={"Range": "bytes=100-"})
        assert tail.status_code == 206 and head.content + tail.content == data
    path = tmp_path / "gallery.sqlite"
    path.write_bytes(data)
    gallery = Gallery.load(path)
    assert sorted(gallery.names) == ["Biden", "Obama"] and gallery.version == record["version"]
    obama_id = next(p.id for p in gallery_hub.hub.library.people() if p.name == "Obama")
    obama = gallery_hub.hub.library.embeddings(obama_id).vectors
    match = gallery.match(obama)
    assert {gallery.names[i] for i in match.person_index} == {"Obama"} and match.cosine.min() > 0.5


def test_tampered_artifacts_are_refused(gallery_hub: HubServer) -> None:
    with gallery_hub.client(gallery_hub.admin) as client:
        record = client.post("/api/galleries").json()
        public_pem = client.get("/api/signing-key").content
        signed = SignedManifest.model_validate_json(client.get(record["manifest_url"]).content)
        data = client.get(record["artifact_url"]).content
    altered_bytes = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(SignatureError, match="does not match"):
        check_download(public_pem, signed, altered_bytes)
    forged = signed.model_copy(
        update={"manifest": signed.manifest.model_copy(update={"sha256": hashlib.sha256(altered_bytes).hexdigest()})}
    )
    with pytest.raises(SignatureError, match="bad signature"):
        check_download(public_pem, forged, altered_bytes)
    unsigned = signed.model_copy(update={"signature_b64": "A" * 88})
    with pytest.raises(SignatureError):
        check_download(public_pem, unsigned, data)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        (None, 401),  # no token
        ("enroll", 403),  # enroll scope cannot download artifacts
        ("device", 403),  # right scope, but no rollout of this version targets its device
        ("admin", 404),  # every artifact, but this version does not exist
    ],
)
def test_artifact_access(hub_server: HubServer, who: str | None, status: int) -> None:
    with hub_server.client(getattr(hub_server, who) if who else None) as client:
        assert client.get("/api/artifacts/gallery/99990101.0001/manifest").status_code == status
        assert client.get("/api/artifacts/gallery/99990101.0001/file").status_code == status


def test_model_artifact_upload(hub_server: HubServer) -> None:
    """A real ONNX embedder is signed as a `model` artifact; garbage is refused."""
    from models.registry import default_model_dir

    onnx_bytes = (default_model_dir() / "sface.onnx").read_bytes()
    with hub_server.client(hub_server.admin) as client:
        bad = client.post("/api/models", files={"file": ("m.onnx", b"not a model", "application/octet-stream")})
        assert bad.status_code == 422 and "ONNX" in bad.json()["detail"]
        created = client.post("/api/models", files={"file": ("m.onnx", onnx_bytes, "application/octet-stream")})
        assert created.status_code == 201, created.text
        record = created.json()
        public_pem = client.get("/api/signing-key").content
    with hub_server.client(hub_server.admin) as device:
        signed = SignedManifest.model_validate_json(device.get(record["manifest_url"]).content)
        data = device.get(record["artifact_url"]).content
    manifest = check_download(public_pem, signed, data)
    assert manifest.kind == "model" and manifest.embedding_dim == 128 and data == onnx_bytes


def test_rollout_without_broker_is_refused(hub_server: HubServer) -> None:
    with hub_server.client(hub_server.admin) as client:
        response = client.post("/api/rollouts", json={"version": "1", "devices": ["a"]})
    assert response.status_code == 503 and "MQTT" in response.json()["detail"]
    assert hub_server.hub.rollouts.started() == []
