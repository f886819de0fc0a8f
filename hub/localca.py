"""A small certificate authority for the demo, the load harness and the TLS tests, and for a hub on a LAN.

Makes a self-signed CA and server or client certificates signed by it (ECDSA P-256, PEM files), so the
broker's TLS listener and the hub's HTTPS can be exercised on one machine exactly as on a site. A real
installation uses its own CA (see hub/README.md, "Security model"). A site without one can keep a CA made
here (`keep=True`: its key stays beside its certificate, and is used again) to give the hub a certificate
for its LAN address (`facefleet-hub tls issue`), so a phone that trusts that CA once may open the camera
page over HTTPS.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


class LocalCa:
    """A CA whose certificate is `<folder>/<name>.crt`; `issue` writes certificates it signs."""

    def __init__(self, folder: Path, name: str = "ca", keep: bool = False, valid: datetime.timedelta = _VALID) -> None:
        """A new CA in `folder`, or with `keep` the one made there before (if its files are there);
        certificates made here (the CA's own when new, and those `issue` makes) are valid for `valid`."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.valid = valid
        cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
        if keep and cert_path.exists() and key_path.exists():
            self._cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not an EC private key")
            self._key = loaded
            self.files = CertFiles(cert_path, key_path)
            return
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"FaceFleet CA {name}")])
        builder = _builder(subject, subject, self._key.public_key(), valid)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        self._cert = builder.sign(self._key, hashes.SHA256())
        self.files = _write(cert_path, key_path, self._cert, self._key)

    @property
    def cert_file(self) -> Path:
        return self.files.cert

    def issue(self, name: str, hosts: tuple[str, ...] = (), client: bool = False) -> CertFiles:
        """A certificate for `hosts` (DNS names or IP addresses) as a server, or a client one."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = _builder(subject, self._cert.subject, key.public_key(), self.valid)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return _write(self.folder / f"{name}.crt", self.folder / f"{name}.key", cert, key)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, valid: datetime.timedelta
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid)
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> CertFiles:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return CertFiles(cert_path, key_path)
