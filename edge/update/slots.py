"""A/B slots for pushed artifacts: `<root>/<version>/<file>` and a `current` symlink switched atomically.

Switching is `os.replace` of a fresh symlink over `current` followed by an fsync of the directory, so after
a power cut `current` names either the old or the new version, never a half-written one. The previous
version stays on disk (and `previous` points at it) so a failed health check can switch back.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import TypeAdapter, ValidationError

from facefleet.signing import verify_manifest
from facefleet.wire import ArtifactKind, SignedManifest

log = logging.getLogger(__name__)
_TRUST_FILE = TypeAdapter(dict[str, str])

MANIFEST_FILE = "manifest.json"


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order of version strings: `2` < `10`, `1.9` < `1.10`, `2026.11.28-2` < `2026.11.28-10`."""
    parts = re.findall(r"\d+|[^\d._-]+", version)
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SlotStore:
    """Versions of one kind of artifact (galleries or models) under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def stage(self, signed: SignedManifest, artifact: Path) -> Path:
        """Move a verified download into `<root>/<version>/` with its manifest; returns the artifact path."""
        version = signed.manifest.version
        final = self.root / version
        tmp = self.root / f".{version}.staging"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        path = tmp / signed.manifest.file_name
        shutil.move(str(artifact), path)
        (tmp / MANIFEST_FILE).write_text(signed.model_dump_json(), encoding="utf-8")
        for f in (path, tmp / MANIFEST_FILE):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            if version == self.current_version():
                raise FileExistsError(f"version {version} is the running one")
            shutil.rmtree(final)  # a leftover of an earlier, failed attempt
        tmp.rename(final)
        fsync_dir(self.root)
        return final / signed.manifest.file_name

    def activate(self, version: str) -> str | None:
        """Point `current` at `version` (and `previous` at the old one); returns the old version."""
        old = self.current_version()
        if old is not None and old != version:
            self._link("previous", old)
        self._link("current", version)
        return old

    def restore(self, version: str | None) -> None:
        """Switch back to `version` after a failed switch; None: no slot was active (remove `current`)."""
        if version is not None:
            self._link("current", version)
            return
        (self.root / "current").unlink(missing_ok=True)
        fsync_dir(self.root)

    def _link(self, name: str, version: str) -> None:
        tmp = self.root / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(version)
        os.replace(tmp, self.root / name)
        fsync_dir(self.root)

    def current_version(self) -> str | None:
        return self._read("current")

    def previous_version(self) -> str | None:
        return self._read("previous")

    def manifest(self, version: str) -> SignedManifest:
        text = (self.root / version / MANIFEST_FILE).read_text(encoding="utf-8")
        return SignedManifest.model_validate_json(text)

    def artifact(self, version: str) -> Path:
        return self.root / version / self.manifest(version).manifest.file_name

    def discard(self, version: str) -> None:
        """Remove a version that is neither current nor previous (a failed or superseded one)."""
        if version not in (self.current_version(), self._read("previous")):
            shutil.rmtree(self.root / version, ignore_errors=True)

    def prune(self, keep: frozenset[str] = frozenset()) -> None:
        """Delete versions other than current, previous and `keep`."""
        kept = set(keep) | {v for v in (self.current_version(), self._read("previous")) if v}
        for version in self.versions():
            if version not in kept:
                shutil.rmtree(self.root / version, ignore_errors=True)

    def purge(self, revoked: list[str]) -> list[str]:
        """Delete revoked versions (a signed manifest said so), never the current one; a `previous` link to
        one is removed first, so no rollback can bring it back. Returns the versions deleted."""
        gone = sorted((set(revoked) & set(self.versions())) - {self.current_version()})
        if self.previous_version() in gone:
            (self.root / "previous").unlink()
            fsync_dir(self.root)
        for version in gone:
            shutil.rmtree(self.root / version, ignore_errors=True)
        return gone

    def versions(self) -> list[str]:
        """Stored versions (staging leftovers and the links excluded), sorted by name."""
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        )

    def _read(self, name: str) -> str | None:
        link = self.root / name
        return os.readlink(link) if link.is_symlink() else None


class RollbackFloor:
    """The newest version of each kind ever applied, persisted; older announcements are refused.

    Fails closed: the floor is never below the versions of the installed slots (`current` and `previous`,
    whose signed manifests verify with the hub's key), so a lost, empty or damaged `trust.json` cannot let
    an old artifact back in. Such a file is logged and read as empty; the next `record` writes it again.
    """

    def __init__(
        self,
        path: Path,
        slots: Mapping[ArtifactKind, SlotStore] | None = None,
        public_key: Ed25519PublicKey | None = None,
    ) -> None:
        self.path = path
        self.slots = dict(slots or {})
        self.public_key = public_key

    def last(self, kind: ArtifactKind) -> str | None:
        versions = [v for v in (self._load().get(kind), *self._installed(kind)) if v]
        return max(versions, key=version_key, default=None)

    def is_older(self, kind: ArtifactKind, version: str) -> bool:
        last = self.last(kind)
        return last is not None and version_key(version) < version_key(last)

    def record(self, kind: ArtifactKind, version: str) -> None:
        data = self._load()
        if kind not in data or version_key(version) >= version_key(data[kind]):
            data[kind] = version
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)

    def _installed(self, kind: ArtifactKind) -> list[str]:
        """Versions in the `current` and `previous` slots whose manifest is the hub's and names them."""
        store = self.slots.get(kind)
        if store is None:
            return []
        return [v for v in (store.current_version(), store.previous_version()) if v and self._signed(store, v)]

    def _signed(self, store: SlotStore, version: str) -> bool:
        try:
            signed = store.manifest(version)
            if self.public_key is not None:
                verify_manifest(self.public_key, signed)
        except (OSError, ValueError) as exc:  # ValidationError and SignatureError are ValueErrors
            log.warning("trust: the manifest of slot %s/%s does not count: %s", store.root.name, version, exc)
            return False
        return signed.manifest.version == version

    def _load(self) -> dict[str, str]:
        try:
            return _TRUST_FILE.validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValidationError) as exc:
            log.warning(
                "trust: %s is unreadable (%s); the floor comes from the installed slots",
                self.path,
                str(exc).splitlines()[0],
            )
            return {}
