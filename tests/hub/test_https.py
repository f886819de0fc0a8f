"""The hub over HTTPS from its own config (`tls`), and the agent's downloader verifying it with a CA file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.download import ArtifactFetcher, DownloadError
from facefleet.localca import LocalCa
from facefleet.wire import UpdateAnnouncement
from tests.hub.conftest import HubServer


def test_the_hub_serves_https_and_the_downloader_verifies_it(
    tmp_path: Path, start_hub: Callable[..., HubServer]
) -> None:
    ca = LocalCa(tmp_path / "ca")
    cert = ca.issue("hub", hosts=("127.0.0.1",))
    hub = start_hub(tls={"cert_file": cert.cert, "key_file": cert.key})
    assert hub.url.startswith("https://") and hub.hub.settings.base_url == hub.url
    key = Ed25519PrivateKey.generate()
    ann = UpdateAnnouncement(rollout_id="r", kind="gallery", version="1", manifest_url=f"{hub.url}/api/x",
                             artifact_url=f"{hub.url}/api/x", ts=datetime.now(timezone.utc))
    trusting = ArtifactFetcher(key.public_key(), "t", 5, 1 << 20, tmp_path / "tmp", hub.url, ca.cert_file)
    with pytest.raises(DownloadError, match="HTTP 404"):  # TLS verified; the hub answered
        trusting.manifest(ann)
    other_ca = LocalCa(tmp_path / "other", "other").cert_file
    doubting = ArtifactFetcher(key.public_key(), "t", 5, 1 << 20, tmp_path / "tmp", hub.url, other_ca)
    with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED"):
        doubting.manifest(ann)
