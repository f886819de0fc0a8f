"""Bad uploads and bad tokens: a clear 4xx and nothing half-written (rows and files compared before/after)."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

from hub.library.library import Library
from tests.hub.conftest import HubServer, library_state


def huge_png() -> bytes:
    """A few-KB PNG whose header says 20000x20000 (400 MP)."""
    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, format="PNG")
    return buffer.getvalue()


def good_photo(shared_data: Path) -> tuple[str, bytes, str]:
    return ("obama.jpg", (shared_data / "clips/people/obama/obama.jpg").read_bytes(), "image/jpeg")


@pytest.fixture
def enrolled(hub_server: HubServer, shared_data: Path) -> HubServer:
    """A hub with one person and one sample, so 'unchanged' is checked against a non-empty library."""
    with hub_server.client(hub_server.enroll) as client:
        response = client.post(
            "/api/samples/photos", data={"label": "Obama"}, files=[("files", good_photo(shared_data))]
        )
        assert response.status_code == 201
    return hub_server


BAD_PHOTOS = [
    # not an image at all
    (("notes.txt", b"hello, I am text", "text/plain"), "not a readable image"),
    # a JPEG cut short after its header
    (
        ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 50, "image/jpeg"),
        "not a readable image",
    ),
    # empty file
    (("empty.jpg", b"", "image/jpeg"), "empty file"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_PHOTOS)
def test_bad_photo_fails_whole_request(enrolled: HubServer, shared_data: Path, bad: tuple, message: str) -> None:
    before = library_state(enrolled.hub)
    files = [
        ("files", ("biden.jpg", (shared_data / "clips/people/biden/biden.jpg").read_bytes(), "image/jpeg")),
        ("files", bad),
    ]
    with enrolled.client(enrolled.enroll) as client:
        response = client.post("/api/samples/photos", data={"label": "Mixed"}, files=files)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(bad[0]) and message in response.json()["detail"]
    assert library_state(enrolled.hub) == before


def test_huge_image_refused_before_decoding(enrolled: HubServer) -> None:
    before = library_state(enrolled.hub)
    data = huge_png()
    assert len(data) < 1_000_000
    with enrolled.client(enrolled.enroll) as client:
        response = client.post(
            "/api/samples/photos", data={"label": "Huge"}, files=[("files", ("huge.png", data, "image/png"))]
        )
        assert response.status_code == 422
        assert "too large" in response.json()["detail"]
        search = client.post("/api/search", files={"file": ("huge.png", data, "image/png")})
        assert search.status_code == 422
    assert library_state(enrolled.hub) == before


def test_missing_or_blank_label(enrolled: HubServer, shared_data: Path) -> None:
    before = library_state(enrolled.hub)
    with enrolled.client(enrolled.enroll) as client:
        missing = client.post("/api/samples/photos", files=[("files", good_photo(shared_data))])
        blank = client.post("/api/samples/photos", data={"label": "  "}, files=[("files", good_photo(shared_data))])
        no_files = client.post("/api/samples/photos", data={"label": "Nobody"})
    assert missing.status_code == 422 and "label" in missing.text
    assert blank.status_code == 422
    assert no_files.status_code == 422 and "files" in no_files.text
    assert library_state(enrolled.hub) == before


TOKEN_CASES = [
    # no token at all
    (None, "/api/people", 401),
    # a token nobody issued
    ("ffh_not-a-real-token", "/api/people", 401),
    # a device token may only download artifacts
    ("device", "/api/people", 403),
    # an enroll token may not see devices or build galleries
    ("enroll", "/api/devices", 403),
]


@pytest.mark.parametrize(("token", "path", "status"), TOKEN_CASES)
def test_wrong_token(hub_server: HubServer, token: str | None, path: str, status: int) -> None:
    secret = getattr(hub_server, token) if token in ("device", "enroll") else token
    with hub_server.client(secret) as client:
        assert client.get(path).status_code == status


def test_revoked_token(hub_server: HubServer) -> None:
    info, secret = hub_server.hub.tokens.create("temp", ["enroll"])
    with hub_server.client(secret) as client:
        assert client.get("/api/people").status_code == 200
        hub_server.hub.tokens.revoke(info.id)
        assert client.get("/api/people").status_code == 401


def test_upload_broken_off_halfway_changes_nothing(enrolled: HubServer, shared_data: Path) -> None:
    """A client that sends half of a multipart body and hangs up leaves the library as it was."""
    before = library_state(enrolled.hub)
    photo = (shared_data / "clips/people/biden/biden.jpg").read_bytes()
    boundary = "facefleetboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="label"\r\n\r\nBiden\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="b.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /api/samples/photos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {enrolled.enroll}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    port = int(enrolled.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.3)
    time.sleep(1.0)
    assert library_state(enrolled.hub) == before
    with enrolled.client(enrolled.enroll) as client:
        assert [p["name"] for p in client.get("/api/people").json()] == ["Obama"]


def test_failed_commit_leaves_no_rows_or_files(
    enrolled: HubServer, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database insert fails after the crops were staged: no person, no rows, no files."""
    before = library_state(enrolled.hub)

    def fail(self: Library, db: object, rows: list[dict[str, object]]) -> None:
        db["samples"].insert(rows[0])  # type: ignore[index]
        raise OSError("disk full")

    monkeypatch.setattr(Library, "_insert_samples", fail)
    files = [("files", ("biden.jpg", (shared_data / "clips/people/biden/biden.jpg").read_bytes(), "image/jpeg"))]
    with enrolled.client(enrolled.enroll) as client:
        response = client.post("/api/samples/photos", data={"label": "Biden"}, files=files)
    assert response.status_code == 500
    assert library_state(enrolled.hub) == before


def test_recover_finishes_committed_and_drops_orphans(enrolled: HubServer) -> None:
    """A crash between commit and rename: startup recovery moves the staged crop into place."""
    library = enrolled.hub.library
    (sample,) = library.samples()
    path = library.sample_path(sample.id)
    staged = library.samples_dir / ".staging" / "crashed" / path.name
    staged.parent.mkdir(parents=True)
    path.replace(staged)
    orphan = library.samples_dir / sample.person_id / "orphan.jpg"
    orphan.write_bytes(b"x")
    assert library.recover() == (1, 1)
    assert path.exists() and not orphan.exists() and not staged.parent.exists()


def test_restart_cleans_staging_and_orphans(start_hub, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    """What a crash leaves behind (staged crops without rows, files without rows) is gone after a restart."""
    first = start_hub()
    with first.client(first.enroll) as client:
        response = client.post(
            "/api/samples/photos", data={"label": "Obama"}, files=[("files", good_photo(shared_data))]
        )
        assert response.status_code == 201
    first.stop()
    samples_dir = first.hub.library.samples_dir
    before = sorted(p.name for p in samples_dir.rglob("*.jpg"))
    (samples_dir / ".staging" / "crashed").mkdir(parents=True)
    (samples_dir / ".staging" / "crashed" / "never-committed.jpg").write_bytes(b"x")
    (samples_dir / "ghost-person").mkdir()
    (samples_dir / "ghost-person" / "orphan.jpg").write_bytes(b"x")
    second = start_hub(data_dir=first.hub.settings.data_dir)
    assert sorted(p.name for p in samples_dir.rglob("*.jpg")) == before
    with second.client(second.enroll) as client:
        assert [p["samples"] for p in client.get("/api/people").json()] == [1]
