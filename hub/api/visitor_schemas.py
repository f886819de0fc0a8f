"""Request and response bodies of visitors, stored tracks and suggested samples."""

from __future__ import annotations

import dataclasses

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from hub.api.schemas import Name
from hub.visitors.records import TrackRecord, Visitor
from hub.visitors.suggestions import Suggestion


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrackPublic(BaseModel):
    event_id: str
    visitor_id: str | None = Field(description="the visitor an unknown track belongs to; null when named")
    person_id: str | None = Field(description="the person the agent named; null when unknown")
    device_id: str
    camera: str
    track_id: int
    started_at: str
    ended_at: str
    model_id: str
    confidence: float
    frames: int
    liveness: float | None
    sharpness: float
    ignored: bool
    received: str
    crop_url: str | None = Field(description="the best face (JPEG); null once retention trimmed it")


class VisitorPublic(BaseModel):
    id: str
    model_id: str
    ignored: bool
    pinned: bool = Field(description="a user merged or ignored it: re-clustering keeps it together")
    created: str
    tracks: int = Field(description="how often they came (ended tracks)")
    first_seen: str
    last_seen: str
    cameras: list[str] = Field(description="device/camera")
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
    still_matches: bool = Field(description="the person's remaining samples would still name the track; "
                                            "name the visitor as its own person so the margin separates them")
    visitor: VisitorPublic


class SuggestionPublic(BaseModel):
    event_id: str
    person_id: str
    person_name: str
    confidence: float = Field(description="the agent's cosine to the person")
    margin: float = Field(description="the hub's lead of this person over the next one")
    frames: int
    liveness: float | None
    sharpness: float
    device_id: str
    camera: str
    ended_at: str
    state: str
    auto: bool
    detail: str
    created: str
    crop_url: str


class ReclusterPublic(BaseModel):
    model_id: str
    tracks: int
    moved: int
    visitors_before: int
    visitors_after: int
    applied: bool


def crop_url(request: Request, event_id: str | None) -> str | None:
    return None if event_id is None else str(request.url_for("track_crop", event_id=event_id).path)


def track_public(request: Request, track: TrackRecord) -> TrackPublic:
    fields = {k: v for k, v in dataclasses.asdict(track).items() if k != "has_crop"}
    return TrackPublic(**fields, crop_url=crop_url(request, track.event_id if track.has_crop else None))


def visitor_public(request: Request, visitor: Visitor) -> VisitorPublic:
    fields = {k: v for k, v in dataclasses.asdict(visitor).items() if k != "crop_event_id"}
    return VisitorPublic(**fields, crop_url=crop_url(request, visitor.crop_event_id))


def suggestion_public(request: Request, suggestion: Suggestion) -> SuggestionPublic:
    return SuggestionPublic(**dataclasses.asdict(suggestion), crop_url=str(crop_url(request, suggestion.event_id)))
