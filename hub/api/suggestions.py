"""Suggested samples: crops of tracks named with a wide margin, accepted or rejected by an admin."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import AdminScope, EnrollmentDep, EnrollScope, SuggestionsDep, VisitorStoreDep
from hub.api.samples import enroll_crops
from hub.api.schemas import EnrollPublic
from hub.api.visitor_schemas import SuggestionPublic, suggestion_public

router = APIRouter(prefix="/api/suggestions", tags=["suggestions"])


@router.get("")
def list_suggestions(
    request: Request,
    suggestions: SuggestionsDep,
    _: EnrollScope,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[Literal["pending", "accepted", "rejected"], Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SuggestionPublic]:
    """The agent's most confident first."""
    return [suggestion_public(request, s) for s in suggestions.find(person_id, state, limit)]


@router.post("/{event_id}/accept", status_code=status.HTTP_201_CREATED)
async def accept_suggestion(
    event_id: str,
    request: Request,
    suggestions: SuggestionsDep,
    store: VisitorStoreDep,
    enrollment: EnrollmentDep,
    _: AdminScope,
) -> EnrollPublic:
    """Enroll the crop as a sample of its person through the normal enrollment path (422 with the
    rejection counts when it is refused there, e.g. as a duplicate or past the per-person cap)."""
    suggestion = await run_in_threadpool(suggestions.pending, event_id)
    jpeg = await run_in_threadpool(lambda: store.crop_path(event_id).read_bytes())
    answer = await enroll_crops(request, enrollment, suggestion.person_name, [(f"track-{event_id}.jpg", jpeg)])
    await run_in_threadpool(suggestions.decide, event_id, "accepted")
    return answer


@router.post("/{event_id}/reject")
def reject_suggestion(event_id: str, request: Request, suggestions: SuggestionsDep, _: AdminScope) -> SuggestionPublic:
    suggestions.pending(event_id)
    suggestions.decide(event_id, "rejected")
    return suggestion_public(request, suggestions.get(event_id))
