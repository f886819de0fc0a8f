"""Ed25519 signatures over artifact manifests: the hub signs, devices verify with the public key."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facefleet.wire import ArtifactManifest, SignedManifest


class SignatureError(ValueError):
    """A manifest is unsigned, signed by another key, or altered after signing."""


def generate_key(path: Path) -> Ed25519PrivateKey:
    """Create a private key file (mode 0600) and its `.pub` beside it."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    path.with_suffix(".pub").write_bytes(public_pem(key.public_key()))
    return key


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        return generate_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an ed25519 private key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("not an ed25519 public key")
    return key


def sign_manifest(key: Ed25519PrivateKey, manifest: ArtifactManifest, key_id: str = "") -> SignedManifest:
    signature = key.sign(manifest.canonical_bytes())
    return SignedManifest(manifest=manifest, signature_b64=base64.b64encode(signature).decode(), key_id=key_id)


def verify_manifest(public_key: Ed25519PublicKey, signed: SignedManifest) -> ArtifactManifest:
    try:
        signature = base64.b64decode(signed.signature_b64, validate=True)
        public_key.verify(signature, signed.manifest.canonical_bytes())
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(f"manifest {signed.manifest.kind} {signed.manifest.version}: bad signature") from exc
    return signed.manifest
