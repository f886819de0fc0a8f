"""API tokens: random secrets shown once, stored only as sha256, each with a set of scopes.

Scopes: `enroll` (people, samples, search), `admin` (everything, galleries, rollouts, devices), `device`
(download artifacts only). `admin` implies `enroll` and `device`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from hub.db import HubDb, now_iso

Scope = Literal["enroll", "admin", "device"]
SCOPES: tuple[str, ...] = get_args(Scope)
_IMPLIED = {"admin": {"admin", "enroll", "device"}, "enroll": {"enroll"}, "device": {"device"}}


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return any(scope in _IMPLIED[s] for s in self.scopes)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, hub_db: HubDb) -> None:
        self.hub_db = hub_db

    def create(self, name: str, scopes: list[str]) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned once and never stored."""
        unknown = set(scopes) - set(SCOPES)
        if not scopes or unknown:
            raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {scopes}")
        secret = "ffh_" + secrets.token_urlsafe(32)
        info = TokenInfo(uuid.uuid4().hex[:12], name, frozenset(scopes))
        with self.hub_db.transaction() as db:
            db.table("tokens").insert(
                {
                    "id": info.id,
                    "name": name,
                    "scopes": " ".join(sorted(scopes)),
                    "sha256": _digest(secret),
                    "created": now_iso(),
                    "revoked": 0,
                }
            )
        return info, secret

    def ensure(self, name: str, secret: str, scopes: list[str]) -> None:
        """Register a secret given from outside (the admin token from the environment)."""
        with self.hub_db.transaction() as db:
            if db.execute("SELECT 1 FROM tokens WHERE sha256 = ?", [_digest(secret)]).fetchone():
                return
            db.table("tokens").insert(
                {
                    "id": uuid.uuid4().hex[:12],
                    "name": name,
                    "scopes": " ".join(scopes),
                    "sha256": _digest(secret),
                    "created": now_iso(),
                    "revoked": 0,
                }
            )

    def lookup(self, secret: str) -> TokenInfo | None:
        with self.hub_db.read() as db:
            row = db.execute(
                "SELECT id, name, scopes FROM tokens WHERE sha256 = ? AND revoked = 0", [_digest(secret)]
            ).fetchone()
        return TokenInfo(row[0], row[1], frozenset(row[2].split())) if row else None

    def revoke(self, token_id: str) -> bool:
        with self.hub_db.transaction() as db:
            return db.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", [token_id]).rowcount > 0

    def list(self) -> list[dict[str, object]]:
        with self.hub_db.read() as db:
            return list(db.query("SELECT id, name, scopes, created, revoked FROM tokens ORDER BY created"))
