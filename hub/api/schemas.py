"""Request and response bodies of the HTTP API: separate Create / Update / Public models per resource."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from facefleet.wire import ArtifactKind, TrackEvent
from hub.library.names import clean_name

_NAME = Field(min_length=1, max_length=100, pattern=r"\S")
Name = Annotated[str, _NAME, AfterValidator(clean_name)]  # NFC, visible characters, one script a word


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonCreate(_In):
    name: Name


class PersonUpdate(_In):
    name: Name


class PersonPublic(BaseModel):
    id: str
    name: str
    created: str
    samples: int


class SamplePublic(BaseModel):
    id: str
    person_id: str
    source: str
    face_px: float
    sharpness: float
    quality: float
    created: str
    image_url: str


class Rejections(BaseModel):
    no_face: int = 0
    too_small: int = 0
    blurred: int = 0
    duplicate: int = 0
    over_limit: int = Field(0, description="accepted faces beyond a video's max_samples or the person's "
                                           "max_samples_per_person (those kept are evenly spread)")


class EnrollPublic(BaseModel):
    person: PersonPublic
    faces_extracted: int = Field(description="samples added to the library")
    faces_found: int
    rejected: Rejections
    images: int = 0
    frames_read: int = 0
    frames_analyzed: int = 0
    samples: list[SamplePublic]


class SampleDelete(_In):
    ids: list[str] = Field(min_length=1, max_length=10_000)


class OptimizeRequest(_In):
    max_per_person: int | None = Field(None, ge=1, le=100_000, description="default: max_samples_per_person")
    person_id: str | None = None


class CountPublic(BaseModel):
    deleted: int


class PersonDeletePublic(BaseModel):
    deleted: int = Field(description="samples deleted with the person")
    revoked_galleries: list[str] = Field(description="gallery versions that held them, revoked now")


class DeletionPublic(BaseModel):
    seq: int = Field(description="the deletion's version: uploads begun before it fail for this person")
    person_id: str
    person_name: str
    samples: int
    token_id: str = Field(description="the API token that deleted")
    token_name: str
    deleted_at: str
    revoked_galleries: list[str]


class VerifyPublic(BaseModel):
    same_person: bool
    score: float = Field(description="cosine similarity of the central faces, -1..1")
    threshold: float


class SearchHit(BaseModel):
    person_id: str
    name: str
    score: float


class SearchPublic(BaseModel):
    face_found: bool
    hits: list[SearchHit]


class GalleryCreate(_In):
    model_id: str | None = Field(None, min_length=1, max_length=128,
                                 description="the model to build for (default: the hub's active model)")


class ArtifactPublic(BaseModel):
    kind: ArtifactKind
    version: str
    model_id: str
    sha256: str
    size: int
    created: str
    people: int
    templates: int
    revoked: str = Field(description="when a deletion revoked it ('' while it can be rolled out and downloaded)")
    manifest_url: str
    artifact_url: str


class DevicePublic(BaseModel):
    id: str
    state: str
    group: str
    agent_version: str
    model_id: str
    model_version: str
    gallery_version: str
    cameras: list[str]
    last_seen: str


class RolloutCreate(_In):
    kind: ArtifactKind = "gallery"
    version: str = Field(min_length=1, max_length=64)
    group: str | None = Field(None, description="target every device of this group (default: all devices)")
    devices: list[str] | None = Field(None, description="explicit targets instead of a group")
    canaries: list[str] = Field(
        default_factory=list, description="announced first; the rest follow when all apply"
    )
    canary_timeout_s: float | None = Field(None, gt=0, le=86_400)


class ReleaseCreate(_In):
    model_version: str = Field(min_length=1, max_length=64, description="a released model artifact")
    gallery_version: str = Field(min_length=1, max_length=64, description="the gallery built with that model")
    group: str | None = Field(None, description="target every device of this group (default: all devices)")
    devices: list[str] | None = Field(None, description="explicit targets instead of a group")
    canaries: list[str] = Field(default_factory=list, description="switch first; the rest follow when all apply")
    canary_timeout_s: float | None = Field(None, gt=0, le=86_400)


class ReleasePublic(BaseModel):
    id: str
    model_version: str
    gallery_version: str
    targets: list[str]
    canaries: list[str]
    canary_timeout_s: float
    model_rollout_id: str
    gallery_rollout_id: str
    state: str
    detail: str


class DeviceProgressPublic(BaseModel):
    device_id: str
    canary: bool
    state: Literal["pending", "announced", "downloading", "verifying", "applied", "failed", "rolled_back"]
    detail: str
    updated: str


class RolloutPublic(BaseModel):
    id: str
    kind: ArtifactKind
    version: str
    state: Literal["canary", "rolling", "completed", "completed_with_failures", "halted"]
    detail: str
    created: str
    updated: str
    devices: list[DeviceProgressPublic]
    also_started: list[str] = Field(
        default_factory=list,
        description="gallery rollouts started with this one for targets on other models, each with a gallery "
                    "built for its model")


class ReembedPublic(BaseModel):
    id: str
    model_id: str
    version: str = Field(description="the model artifact ('' for a registry model)")
    state: Literal["running", "done", "failed"]
    done: int = Field(description="samples embedded with the model so far")
    total: int
    error: str
    created: str
    updated: str


class ActiveModelPublic(BaseModel):
    model_id: str = Field(description="what enrollment, search and the default gallery use")
    version: str = Field(description="its model artifact ('' for the configured registry model)")
    previous_model_id: str
    reembed: ReembedPublic | None = Field(description="the latest switch (running: the old model is active)")
    embeddings: dict[str, int] = Field(description="model id -> samples with an embedding of it")


class EventCountsPublic(BaseModel):
    received: int = Field(description="unique track events since the hub started")
    duplicates: int = Field(description="repeats of an event_id already received (QoS 1), dropped")
    malformed: int = Field(
        description="payloads on an events topic refused: too large, not parsing, a crop over 64 KiB, or "
        "claiming another device than the topic's (by reason in /metrics: facefleet_hub_mqtt_refused)"
    )
    by_device: dict[str, int]


class RecentEventsPublic(BaseModel):
    events: list[TrackEvent] = Field(description="newest first")
    counts: EventCountsPublic
