"""Stored ended tracks: list, crops, and "not this person" (from a named track, or from a sample)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from hub.api.deps import (
    AdminScope,
    EmbeddingStoreDep,
    EnrollScope,
    LibraryDep,
    ModelsDep,
    SettingsDep,
    VisitorStoreDep,
)
from hub.api.visitor_schemas import (
    CorrectionPublic,
    SampleToVisitor,
    TrackPublic,
    VisitorPublic,
    track_public,
    visitor_public,
)
from hub.visitors.corrections import not_this_person, sample_to_visitor

router = APIRouter(prefix="/api/tracks", tags=["tracks"])


@router.get("")
def list_tracks(
    request: Request,
    store: VisitorStoreDep,
    _: EnrollScope,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    visitor_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TrackPublic]:
    """Newest first: of one person (tracks agents named them), of one visitor, or all."""
    return [track_public(request, t) for t in store.tracks(visitor_id, person_id, limit)]


@router.get("/{event_id}/crop", response_class=FileResponse)
def track_crop(event_id: str, store: VisitorStoreDep, _: EnrollScope) -> FileResponse:
    """The track's best face (112x112 JPEG)."""
    return FileResponse(store.crop_path(event_id), media_type="image/jpeg")


@router.post("/{event_id}/not-this-person")
async def not_this_person_track(
    event_id: str,
    request: Request,
    store: VisitorStoreDep,
    library: LibraryDep,
    embeddings: EmbeddingStoreDep,
    models: ModelsDep,
    settings: SettingsDep,
    _: AdminScope,
) -> CorrectionPublic:
    """The agent named this track wrongly: remove the person's samples that made it match (nearest first, at
    most half of them), and file the track as unknown. The next gallery rollout carries the change."""
    correction = await run_in_threadpool(
        not_this_person, event_id, store, library, embeddings, models, settings.visitors.match_threshold
    )
    return CorrectionPublic(
        person_id=correction.person_id,
        removed_samples=correction.removed_samples,
        still_matches=correction.still_matches,
        visitor=visitor_public(request, correction.visitor),
    )


@router.post("/from-sample", status_code=201)
async def not_this_person_sample(
    body: SampleToVisitor, request: Request, store: VisitorStoreDep, library: LibraryDep, _: AdminScope
) -> VisitorPublic:
    """A sample filed under the wrong person: it leaves the library and its face joins a visitor."""
    visitor = await run_in_threadpool(sample_to_visitor, body.sample_id, store, library)
    return visitor_public(request, visitor)
