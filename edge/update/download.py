"""Fetching a signed artifact from the hub: manifest first, then the file streamed to a temp file.

Nothing downloaded is trusted until its manifest's ed25519 signature checks out and the file's size and
sha256 equal the manifest's. The artifact never lands in its final place from here: a broken or cut-off
download leaves a temp file that is deleted, and the running version is untouched.

The device token goes only to the configured hub (`updates.hub_url`: same scheme, host and port, under
its path): an announcement naming any other URL is refused before a request is made (`ForeignUrl`), and
redirects are not followed. HTTPS is verified against `updates.tls.ca_file` (else the system's CAs), with
`updates.tls.cert_file`/`key_file` as a client certificate where the hub (or its proxy) asks for one.
"""

from __future__ import annotations

import hashlib
import ssl
import tempfile
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from facefleet.config_base import TlsFiles
from facefleet.signing import verify_manifest
from facefleet.wire import ArtifactManifest, SignedManifest, UpdateAnnouncement

_MAX_MANIFEST_BYTES = 64 * 1024


class DownloadError(RuntimeError):
    """The hub could not be reached, refused us, or sent something that fails verification."""


class ForeignUrl(DownloadError):
    """An announcement names a URL outside the configured hub: the token must not go there."""


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def ssl_context(tls: TlsFiles) -> ssl.SSLContext:
    """Verification against `tls.ca_file`, with the client certificate where one is configured."""
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file is not None:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


class ArtifactFetcher:
    def __init__(
        self,
        public_key: Ed25519PublicKey,
        token: str | None,
        timeout_s: float,
        max_bytes: int,
        tmp_dir: Path,
        hub_url: str,
        tls: TlsFiles | None = None,
    ) -> None:
        self.public_key = public_key
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.tmp_dir = tmp_dir
        self.hub = httpx.URL(hub_url.rstrip("/") + "/")
        self.verify: ssl.SSLContext | bool = ssl_context(tls) if tls else True

    def check_urls(self, ann: UpdateAnnouncement) -> None:
        """Refuse (`ForeignUrl`) an announcement whose URLs are not both on the configured hub."""
        for url in (ann.manifest_url, ann.artifact_url):
            self._check_url(url)

    def _check_url(self, url: str) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ForeignUrl(f"announced URL {url[:200]!r} is not a URL") from exc
        if _origin(parsed) != _origin(self.hub) or not parsed.path.startswith(self.hub.path):
            raise ForeignUrl(
                f"announced URL {url[:200]!r} is outside the hub {self.hub} "
                "(updates.hub_url): refused, the device token is not sent there"
            )

    def manifest(self, ann: UpdateAnnouncement) -> SignedManifest:
        """Download and verify the manifest; it must describe exactly the announced kind and version."""
        self.check_urls(ann)
        body = self._get_small(ann.manifest_url)
        try:
            signed = SignedManifest.model_validate_json(body)
        except ValidationError as exc:
            raise DownloadError(f"manifest at {ann.manifest_url} is not a signed manifest: {exc}") from exc
        manifest = verify_manifest(self.public_key, signed)
        if (manifest.kind, manifest.version) != (ann.kind, ann.version):
            raise DownloadError(
                f"manifest is for {manifest.kind} {manifest.version}, the announcement for {ann.kind} {ann.version}"
            )
        if manifest.size > self.max_bytes:
            raise DownloadError(f"artifact of {manifest.size} bytes exceeds the limit of {self.max_bytes}")
        return signed

    def artifact(self, url: str, manifest: ArtifactManifest) -> Path:
        """Stream the artifact to a temp file, checking size and sha256 against the signed manifest."""
        self._check_url(url)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="download-", dir=self.tmp_dir)
        path = Path(name)
        try:
            digest, size = hashlib.sha256(), 0
            with (
                open(fd, "wb") as fh,
                httpx.stream("GET", url, headers=self.headers, timeout=self.timeout_s, verify=self.verify) as response,
            ):
                _check_status(response, url)
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > manifest.size:
                        raise DownloadError(f"artifact is larger than the {manifest.size} bytes signed")
                    digest.update(chunk)
                    fh.write(chunk)
            if size != manifest.size:
                raise DownloadError(f"artifact has {size} bytes, the manifest {manifest.size} (cut off?)")
            if digest.hexdigest() != manifest.sha256:
                raise DownloadError("artifact sha256 does not match the signed manifest (altered?)")
            return path
        except httpx.HTTPError as exc:
            path.unlink(missing_ok=True)
            raise DownloadError(f"download of {url} failed: {exc}") from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _get_small(self, url: str) -> bytes:
        try:
            response = httpx.get(url, headers=self.headers, timeout=self.timeout_s, verify=self.verify)
        except httpx.HTTPError as exc:
            raise DownloadError(f"cannot fetch {url}: {exc}") from exc
        _check_status(response, url)
        if len(response.content) > _MAX_MANIFEST_BYTES:
            raise DownloadError(f"manifest at {url} is larger than {_MAX_MANIFEST_BYTES} bytes")
        return response.content


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code in (401, 403):
        raise DownloadError(f"hub refused the device token for {url} (HTTP {response.status_code})")
    if response.status_code != 200:
        raise DownloadError(f"{url}: HTTP {response.status_code}")
