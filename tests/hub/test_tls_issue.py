"""`facefleet-hub tls issue`: a hub certificate for a LAN address from a CA kept in a folder, so the camera
page can be served over HTTPS to a phone that trusts that CA once."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import httpx

from hub.cli import main
from tests.hub.conftest import HubServer


def test_the_hub_serves_the_collection_page_with_an_issued_certificate(
    tmp_path: Path, start_hub: Callable[..., HubServer]
) -> None:
    folder = tmp_path / "hub-tls"
    assert main(["tls", "issue", "--host", "192.168.1.10", "--dir", str(folder)]) == 0
    ca = (folder / "ca.crt").read_bytes()
    assert main(["tls", "issue", "--host", "127.0.0.1", "--host", "hub.local", "--dir", str(folder)]) == 0
    assert (folder / "ca.crt").read_bytes() == ca  # the same CA signs again: phones trust it once
    assert (folder / "ca.key").stat().st_mode & 0o077 == 0 and (folder / "hub.key").stat().st_mode & 0o077 == 0
    hub = start_hub(tls={"cert_file": folder / "hub.crt", "key_file": folder / "hub.key"})
    with httpx.Client(verify=ssl.create_default_context(cafile=folder / "ca.crt")) as client:
        page = client.get(hub.url + "/collect")
    assert page.status_code == 200 and "collect.js" in page.text
