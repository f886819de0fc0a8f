"""Visitors: unknown tracks grouped by appearance. Listed for `enroll` tokens (the hub's read scope); named,
merged, ignored and deleted by `admin` tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import (
    AdminScope,
    DeletionsDep,
    EnrollmentDep,
    EnrollScope,
    SettingsDep,
    VisitorsDep,
    VisitorStoreDep,
)
from hub.api.samples import enroll_crops
from hub.api.schemas import CountPublic, EnrollPublic, public
from hub.api.visitor_schemas import (
    ReclusterPublic,
    VisitorDetailPublic,
    VisitorListPublic,
    VisitorMerge,
    VisitorName,
    VisitorPublic,
    track_public,
    visitor_public,
)
from hub.visitors.maintenance import recluster_all

router = APIRouter(prefix="/api/visitors", tags=["visitors"])


@router.get("")
def list_visitors(
    request: Request,
    store: VisitorStoreDep,
    intake: VisitorsDep,
    settings: SettingsDep,
    _: EnrollScope,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> VisitorListPublic:
    """The review queue: visitors, most frequent first, and what the hub keeps of them and for how long."""
    visitors, tracks = store.count()
    last = intake.last_purge
    return VisitorListPublic(
        visitors=[visitor_public(request, v) for v in store.visitors(limit, offset)],
        total_visitors=visitors,
        stored_tracks=tracks,
        retention_days=settings.visitors.retention_days,
        last_purge=last.ts if last else None,
        join_cosine=settings.visitors.join_cosine,
    )


@router.get("/{visitor_id}")
def get_visitor(visitor_id: str, request: Request, store: VisitorStoreDep, _: EnrollScope) -> VisitorDetailPublic:
    detail = store.detail(visitor_id)
    return VisitorDetailPublic(
        visitor=visitor_public(request, detail.visitor), tracks=[track_public(request, t) for t in detail.tracks]
    )


@router.post("/{visitor_id}/name", status_code=status.HTTP_201_CREATED)
async def name_visitor(
    visitor_id: str,
    body: VisitorName,
    request: Request,
    store: VisitorStoreDep,
    enrollment: EnrollmentDep,
    deletions: DeletionsDep,
    settings: SettingsDep,
    _: AdminScope,
) -> EnrollPublic:
    """Enroll the visitor's sharpest crops as samples of the person `name` (created if new) through the
    normal enrollment path (face check, blur, duplicates, per-person cap); then the visitor is removed."""
    label = body.name
    crops = await run_in_threadpool(store.best_crops, visitor_id, settings.visitors.name_max_samples)
    if not crops:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the visitor has no crop left to enroll")
    photos = [(f"track-{event_id}.jpg", jpeg) for event_id, jpeg in crops]
    answer = await enroll_crops(request, enrollment, label, photos)
    await run_in_threadpool(deletions.delete_visitor, visitor_id)
    return answer


@router.post("/{visitor_id}/merge")
def merge_visitors(
    visitor_id: str, body: VisitorMerge, request: Request, store: VisitorStoreDep, _: AdminScope
) -> VisitorPublic:
    """Move `other_id`'s tracks into this visitor (visitors of the same model only: 422 otherwise)."""
    return visitor_public(request, store.merge(visitor_id, body.other_id))


@router.post("/{visitor_id}/ignore")
def ignore_visitor(visitor_id: str, request: Request, store: VisitorStoreDep, _: AdminScope) -> VisitorPublic:
    """Ignore: the next gallery carries the visitor's templates and agents report `ignored` for them."""
    return visitor_public(request, store.set_ignored(visitor_id, True))


@router.delete("/{visitor_id}/ignore")
def unignore_visitor(visitor_id: str, request: Request, store: VisitorStoreDep, _: AdminScope) -> VisitorPublic:
    return visitor_public(request, store.set_ignored(visitor_id, False))


@router.delete("/{visitor_id}")
def delete_visitor(visitor_id: str, deletions: DeletionsDep, _: AdminScope) -> CountPublic:
    """Delete the visitor: its tracks, crops and templates; the galleries carrying it are revoked."""
    return CountPublic(deleted=deletions.delete_visitor(visitor_id))


@router.post("/recluster")
async def recluster(store: VisitorStoreDep, _: AdminScope) -> list[ReclusterPublic]:
    """Re-cluster now (it also runs every `visitors.recluster_every_s`)."""
    reports = await run_in_threadpool(recluster_all, store)
    return [public(ReclusterPublic, r) for r in reports]
