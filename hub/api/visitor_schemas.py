"""Request and response bodies of visitors, stored tracks and suggested samples."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from hub.api.schemas import Name, public
from hub.visitors.maintenance import ReclusterReport
from hub.visitors.records import TrackBase, TrackRecord, Visitor, VisitorBase
from hub.visitors.suggestions import Suggestion


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrackPublic(TrackBase):
    visitor_id: str | None = Field(description="the visitor an unknown track belongs to; null when named")
    received: str
    crop_url: str | None = Field(description="the best face (JPEG); null once retention trimmed it")


class VisitorPublic(VisitorBase):
    crop_url: str | None = Field(description="the representative (sharpest) crop")


class VisitorListPublic(BaseModel):
    visitors: list[VisitorPublic] = Field(description="most frequent first")
    total_visitors: int
    stored_tracks: int
    retention_days: float = Field(description="unknown and named tracks are deleted this long after arrival")
    last_purge: str | None
    join_cosine: float


class VisitorDetailPublic(BaseModel):
    visitor: VisitorPublic
    tracks: list[TrackPublic] = Field(description="newest first")


class VisitorName(_In):
    name: Name = Field(description="the person's name (created if new), checked as any person's name")


class VisitorMerge(_In):
    other_id: str = Field(min_length=1, max_length=64, description="the visitor merged into this one (removed)")


class SampleToVisitor(_In):
    sample_id: str = Field(min_length=1, max_length=64)


class CorrectionPublic(BaseModel):
    person_id: str
    removed_samples: list[str]
    still_matches: bool = Field(
        description="the person's remaining samples would still name the track; "
        "name the visitor as its own person so the margin separates them"
    )
    visitor: VisitorPublic


class SuggestionPublic(Suggestion):
    crop_url: str


class ReclusterPublic(ReclusterReport):  # applied False: the store changed while clustering; nothing moved
    pass


def crop_url(request: Request, event_id: str | None) -> str | None:
    return None if event_id is None else str(request.url_for("track_crop", event_id=event_id).path)


def track_public(request: Request, track: TrackRecord) -> TrackPublic:
    return public(TrackPublic, track, crop_url=crop_url(request, track.event_id if track.has_crop else None))


def visitor_public(request: Request, visitor: Visitor) -> VisitorPublic:
    return public(VisitorPublic, visitor, crop_url=crop_url(request, visitor.crop_event_id))


def suggestion_public(request: Request, suggestion: Suggestion) -> SuggestionPublic:
    return public(SuggestionPublic, suggestion, crop_url=str(crop_url(request, suggestion.event_id)))
