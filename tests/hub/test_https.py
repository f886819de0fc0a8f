"""The hub over HTTPS from its own config (`tls`), and the agent's downloader verifying it with a CA file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.update.download import ArtifactFetcher, DownloadError
from facefleet.config_base import TlsFiles
from facefleet.wire import UpdateAnnouncement
from hub.localca import LocalCa
from tests.hub.conftest import HubServer


def fetcher(tmp_path: Path, hub: HubServer, tls: TlsFiles) -> ArtifactFetcher:
    return ArtifactFetcher(Ed25519PrivateKey.generate().public_key(), "t", 5, 1 << 20, tmp_path / "tmp", hub.url, tls)


def announcement(hub: HubServer) -> UpdateAnnouncement:
    return UpdateAnnouncement(
        rollout_id="r",
        kind="gallery",
        version="1",
        manifest_url=f"{hub.url}/api/x",
        artifact_url=f"{hub.url}/api/x",
        ts=datetime.now(timezone.utc),
    )


def test_the_hub_serves_https_and_the_downloader_verifies_it(
    tmp_path: Path, start_hub: Callable[..., HubServer]
) -> None:
    ca = LocalCa(tmp_path / "ca")
    cert = ca.issue("hub", hosts=("127.0.0.1",))
    hub = start_hub(tls={"cert_file": cert.cert, "key_file": cert.key})
    assert hub.url.startswith("https://") and hub.hub.settings.base_url == hub.url
    with pytest.raises(DownloadError, match="HTTP 404"):  # TLS verified; the hub answered
        fetcher(tmp_path, hub, TlsFiles(ca_file=ca.cert_file)).manifest(announcement(hub))
    other_ca = LocalCa(tmp_path / "other", "other").cert_file
    with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED"):
        fetcher(tmp_path, hub, TlsFiles(ca_file=other_ca)).manifest(announcement(hub))


def test_a_hub_that_requires_client_certificates(tmp_path: Path, start_hub: Callable[..., HubServer]) -> None:
    ca = LocalCa(tmp_path / "ca")
    cert = ca.issue("hub", hosts=("127.0.0.1",))
    device = ca.issue("door-1", client=True)
    hub = start_hub(tls={"cert_file": cert.cert, "key_file": cert.key, "client_ca_file": ca.cert_file})
    with pytest.raises(DownloadError, match="cannot fetch"):  # the handshake fails without a certificate
        fetcher(tmp_path, hub, TlsFiles(ca_file=ca.cert_file)).manifest(announcement(hub))
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetcher(tmp_path, hub, TlsFiles(ca_file=ca.cert_file, cert_file=device.cert, key_file=device.key)).manifest(
            announcement(hub)
        )
