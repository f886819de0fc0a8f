"""Tokens across restarts: the environment's admin token is whatever the environment says now."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from tests.hub.conftest import HubServer


def test_rotating_the_admin_token_revokes_the_old_one(start_hub: Callable[..., HubServer], tmp_path: Path) -> None:
    old, new = secrets.token_hex(24), secrets.token_hex(24)
    first = start_hub(data_dir=tmp_path / "hub", admin_token=old)
    assert first.client(old).get("/api/people").status_code == 200
    first.stop()
    second = start_hub(data_dir=tmp_path / "hub", admin_token=new)  # restarted with a rotated secret
    assert second.client(old).get("/api/people").status_code == 401
    assert second.client(new).get("/api/people").status_code == 200
    rows = [t for t in second.hub.tokens.issued() if t.name == "admin (environment)"]
    assert [t.revoked for t in rows] == [True, False]
    second.stop()
    unset = start_hub(data_dir=tmp_path / "hub", admin_token=None)  # no admin token in the environment at all
    assert unset.client(new).get("/api/people").status_code == 401
    assert unset.client(unset.admin).get("/api/people").status_code == 200  # tokens made with the CLI stay
