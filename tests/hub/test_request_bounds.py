"""Request bodies are bounded before anything reads them, and a request without a valid token is answered
401 before its body is read (raw sockets against a real uvicorn: what a client that lies does)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.hub.conftest import HubServer


def _answer(server: HubServer, head: str, body: bytes = b"") -> int:
    """Send a request head (and part of a body) and read the status the hub answers with, without sending the
    rest of the body: a hub that waits for it never answers (the socket times out)."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def _head(path: str, length: int | None, token: str | None = None, kind: str = "application/json") -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: hub", f"Content-Type: {kind}"]
    lines += [f"Authorization: Bearer {token}"] if token else []
    lines += [f"Content-Length: {length}"] if length is not None else ["Transfer-Encoding: chunked"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("token", [None, "ffh_not-a-token-the-hub-issued"])
def test_an_unauthenticated_body_is_not_read(hub_server: HubServer, token: str | None) -> None:
    length = 200 * 1024 * 1024  # declared; only its first KB is ever sent
    assert _answer(hub_server, _head("/api/people", length, token), b'{"name": "' + b"x" * 1024) == 401
    multipart = "multipart/form-data; boundary=b"
    assert _answer(hub_server, _head("/api/samples/photos", length, token, multipart), b"--b\r\n") == 401


def test_a_json_body_over_the_bound_is_refused_before_it_is_read(hub_server: HubServer) -> None:
    admin = hub_server.admin
    assert _answer(hub_server, _head("/api/people", 2 * 1024 * 1024, admin), b'{"name": "') == 413
    chunk = b"x" * (512 * 1024)
    chunked = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(3))  # 1.5 MiB, no length
    assert _answer(hub_server, _head("/api/people", None, admin), chunked) == 413
    with hub_server.client(admin) as client:  # an ordinary body still goes through
        assert client.post("/api/people", json={"name": "Ada Lovelace"}).status_code == 201
