"""Request and response bodies of the HTTP API: separate Create / Update / Public models per resource.

A Public model of something a store keeps derives from the store's record (`hub.records`) and adds only
what HTTP alone has (URLs) or what is worked out for the answer rather than stored (a person's coverage);
`public(XPublic, record, url=...)` builds it.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from facefleet.wire import DEVICE_ID_PATTERN, ArtifactKind, DeviceStats, TrackEvent
from hub.artifacts.store import ArtifactRecord
from hub.fleet.devices import Device
from hub.fleet.release_rollout import ReleaseRollout
from hub.fleet.rollout import MAX_TARGETS, Rollout
from hub.library.coverage import Coverage
from hub.library.deletions import Deletion
from hub.library.library import Person, Sample
from hub.library.names import clean_name
from hub.library.reembed import ReembedJob

DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN.pattern)]
P = TypeVar("P", bound=BaseModel)

_NAME = Field(min_length=1, max_length=100, pattern=r"\S")
Name = Annotated[str, _NAME, AfterValidator(clean_name)]  # NFC, visible characters, one script a word


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def public(schema: type[P], record: BaseModel, **only_http: object) -> P:
    """`schema` (derived from the record's class) filled from `record` plus the fields only HTTP has."""
    return schema.model_validate({**dict(record), **only_http})


class PersonCreate(_In):
    name: Name


class PersonUpdate(_In):
    name: Name


class PersonPublic(Person):  # A person with the number of their samples and how well they cover them.
    coverage: Coverage = Field(
        description="how well the samples cover the person (the templates a gallery keeps for them) and what to add"
    )


class SamplePublic(Sample):
    image_url: str


class Rejections(BaseModel):
    no_face: int = 0
    too_small: int = 0
    blurred: int = 0
    duplicate: int = 0
    other_person: int = Field(0, description="faces in a video of someone other than the person in the centre")
    over_limit: int = Field(
        0,
        description="accepted faces beyond a video's max_samples or the person's "
        "max_samples_per_person (those kept are evenly spread)",
    )


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


class DeletionPublic(Deletion):  # Who deleted whom, when, and the galleries it revoked.
    pass


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
    model_id: str | None = Field(
        None, min_length=1, max_length=128, description="the model to build for (default: the hub's active model)"
    )


class ArtifactPublic(ArtifactRecord):
    manifest_url: str
    artifact_url: str


class DevicePublic(Device):  # A device as its last status (or the broker's last will) left it.
    stats: DeviceStats | None = Field(
        None,
        description="its latest stats message since the hub started "
        "(fps, dropped frames, lag per camera); null before the first",
    )


class DeviceUpdate(_In):
    group: str = Field(pattern=DEVICE_ID_PATTERN.pattern, description="the group the device belongs to")


class RolloutCreate(_In):
    kind: ArtifactKind = "gallery"
    version: str = Field(min_length=1, max_length=64)
    group: str | None = Field(None, description="target every device of this group (default: all devices)")
    devices: list[DeviceId] | None = Field(
        None, max_length=MAX_TARGETS, description="explicit targets instead of a group"
    )
    canaries: list[DeviceId] = Field(
        default_factory=list, max_length=MAX_TARGETS, description="announced first; the rest follow when all apply"
    )
    canary_timeout_s: float | None = Field(None, gt=0, le=86_400)


class ReleaseCreate(_In):
    model_version: str = Field(min_length=1, max_length=64, description="a released model artifact")
    gallery_version: str = Field(min_length=1, max_length=64, description="the gallery built with that model")
    group: str | None = Field(None, description="target every device of this group (default: all devices)")
    devices: list[DeviceId] | None = Field(
        None, max_length=MAX_TARGETS, description="explicit targets instead of a group"
    )
    canaries: list[DeviceId] = Field(
        default_factory=list, max_length=MAX_TARGETS, description="switch first; the rest follow when all apply"
    )
    canary_timeout_s: float | None = Field(None, gt=0, le=86_400)


class ReleasePublic(ReleaseRollout):  # the model rollout, then the gallery's
    pass


class RolloutPublic(Rollout):
    also_started: list[str] = Field(
        default_factory=list,
        description="gallery rollouts started with this one for targets on other models, each with a gallery "
        "built for its model",
    )


class ReembedPublic(ReembedJob):  # The re-embedding of the library that switches the hub to `model_id`.
    pass


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
