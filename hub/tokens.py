"""API tokens: random secrets shown once, stored only as sha256, each with a set of scopes.

Scopes: `enroll` (people, samples, search), `admin` (everything, galleries, rollouts, devices), `device`
(download artifacts only). `admin` implies `enroll` and `device`. A token with the `device` scope is bound
to one device id: it downloads only artifacts of rollouts that target that device (and so the group the
registry puts it in).

The hub also makes `collect` tokens itself (never the CLI): one per collection request (`hub.fleet.collections`),
bound to the device asked, with a short expiry, revoked when its one upload is stored. No other scope
implies `collect` and `collect` implies nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from facefleet.wire import DEVICE_ID_PATTERN
from hub.db import HubDb, now_iso
from hub.records import Record

Scope = Literal["enroll", "admin", "device"]
SCOPES: tuple[str, ...] = get_args(Scope)
ENVIRONMENT_ADMIN = "admin (environment)"
COLLECT_SCOPE = "collect"
_IMPLIED = {
    "admin": {"admin", "enroll", "device"},
    "enroll": {"enroll"},
    "device": {"device"},
    COLLECT_SCOPE: {COLLECT_SCOPE},
}


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    scopes: frozenset[str]
    device_id: str | None = None

    def allows(self, scope: str) -> bool:
        return any(scope in _IMPLIED[s] for s in self.scopes)


class TokenRecord(Record):
    """A token as `token list` shows it (never its secret): scopes as given, revoked ones too."""

    id: str
    name: str
    scopes: tuple[str, ...]
    device_id: str | None
    created: str
    revoked: bool


def check_binding(scopes: list[str], device_id: str | None) -> None:
    """A `device` token names exactly one valid device id; other tokens name none."""
    if "device" in scopes and not device_id:
        raise ValueError("a device token is bound to its device: give its id (--device ID)")
    if device_id is not None and "device" not in scopes:
        raise ValueError("only a token with the device scope is bound to a device")
    if device_id is not None and not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ValueError(f"bad device id {device_id!r}: lowercase letters, digits, '_' or '-' (at most 64)")


def _digest(token: str) -> str:
    """Tokens are stored only as this digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, hub_db: HubDb) -> None:
        self.hub_db = hub_db

    def create(self, name: str, scopes: list[str], device_id: str | None = None) -> tuple[TokenInfo, str]:
        """A new token (a `device` one bound to `device_id`); the secret is returned once and never stored."""
        unknown = set(scopes) - set(SCOPES)
        if not scopes or unknown:
            raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {scopes}")
        check_binding(scopes, device_id)
        secret = "ffh_" + secrets.token_urlsafe(32)
        info = TokenInfo(uuid.uuid4().hex[:12], name, frozenset(scopes), device_id)
        with self.hub_db.transaction() as db:
            db.insert(
                "tokens",
                {
                    "id": info.id,
                    "name": name,
                    "scopes": " ".join(sorted(scopes)),
                    "sha256": _digest(secret),
                    "created": now_iso(),
                    "revoked": 0,
                    "device_id": device_id,
                },
            )
        return info, secret

    def create_collect(self, name: str, device_id: str, expires: datetime) -> tuple[TokenInfo, str]:
        """A `collect` token for one collection request: bound to `device_id`, unusable after `expires`."""
        check_binding(["device"], device_id)
        secret = "ffc_" + secrets.token_urlsafe(32)
        info = TokenInfo(uuid.uuid4().hex[:12], name, frozenset([COLLECT_SCOPE]), device_id)
        with self.hub_db.transaction() as db:
            db.insert(
                "tokens",
                {
                    "id": info.id,
                    "name": name,
                    "scopes": COLLECT_SCOPE,
                    "sha256": _digest(secret),
                    "created": now_iso(),
                    "revoked": 0,
                    "device_id": device_id,
                    "expires": expires.isoformat(),
                },
            )
        return info, secret

    def set_environment_admin(self, secret: str | None) -> None:
        """The admin token of the environment (`FACEFLEET_HUB_ADMIN_TOKEN`) is the one it holds now: that
        secret is registered (once; a revoked one stays revoked), and every other token registered from the
        environment before (a rotated secret) is revoked. None (no token in the environment) revokes them all."""
        digest = _digest(secret) if secret else ""
        with self.hub_db.transaction() as db:
            db.execute(
                "UPDATE tokens SET revoked = 1 WHERE name = ? AND sha256 != ? AND revoked = 0",
                [ENVIRONMENT_ADMIN, digest],
            )
            if not secret or db.execute("SELECT 1 FROM tokens WHERE sha256 = ?", [digest]).fetchone():
                return
            db.insert(
                "tokens",
                {
                    "id": uuid.uuid4().hex[:12],
                    "name": ENVIRONMENT_ADMIN,
                    "scopes": "admin",
                    "sha256": digest,
                    "created": now_iso(),
                    "revoked": 0,
                },
            )

    def lookup(self, secret: str) -> TokenInfo | None:
        with self.hub_db.read() as db:
            row = db.execute(
                "SELECT id, name, scopes, device_id FROM tokens WHERE sha256 = ? AND revoked = 0 "
                "AND (expires IS NULL OR expires > ?)",
                [_digest(secret), now_iso()],
            ).fetchone()
        return TokenInfo(row[0], row[1], frozenset(row[2].split()), row[3]) if row else None

    def revoke(self, token_id: str) -> bool:
        with self.hub_db.transaction() as db:
            return db.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", [token_id]).rowcount > 0

    def issued(self) -> list[TokenRecord]:
        """Every token issued (revoked ones too), oldest first; never a secret."""
        sql = "SELECT id, name, scopes, device_id, created, revoked FROM tokens ORDER BY created"
        with self.hub_db.read() as db:
            return [TokenRecord.model_validate({**r, "scopes": r["scopes"].split()}) for r in db.query(sql)]
