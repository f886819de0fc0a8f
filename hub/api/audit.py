"""Audit: who deleted whom and when (the `person_deletions` table)."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import AdminScope, DeletionsDep
from hub.api.schemas import DeletionPublic, public

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("/deletions")
def list_deletions(deletions: DeletionsDep, _: AdminScope) -> list[DeletionPublic]:
    """Every person deletion, oldest first: the token that deleted, the person, the galleries it revoked."""
    return [public(DeletionPublic, d) for d in deletions.recorded()]
