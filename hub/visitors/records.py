"""Typed records of the visitor store: an ended track as it arrives, as it is stored, and a visitor."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import cv2
import numpy as np
from pydantic import ConfigDict, Field

from facefleet.wire import TrackEvent
from hub.library.enroll import sharpness
from hub.records import Record

MAX_CROP_BYTES = 256 * 1024  # a 112 px JPEG is about 5 KB; anything far larger is not a crop of ours


class VisitorError(ValueError):
    """A request the visitor store refuses (visitors of two models, a track that is not named, ...)."""


class VisitorBudgetError(VisitorError):
    """An unknown track whose device founded `max_new_visitors_per_device_hour` visitors in the last hour."""


class TrackBase(Record):
    """What an agent reported of an ended track, as it arrives, as it is stored and as the API shows it.

    sharpness: Laplacian variance of the track's best crop (0 without one).
    """

    event_id: str
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


class EndedTrack(TrackBase):
    """A `track_ended` event that carried a template: what the store keeps of it.

    template: (D,) float32 unit vector of `model_id`; crop_jpeg: the best face (None when absent or not a
    decodable image).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    template: np.ndarray
    crop_jpeg: bytes | None

    @classmethod
    def from_event(cls, event: TrackEvent) -> EndedTrack | None:
        """The track of a `track_ended` event with a template, else None."""
        if event.type != "track_ended" or event.template is None:
            return None
        crop, sharp = _crop(event.best_crop_jpeg_b64)
        ended = event.ended_at or event.ts
        return cls(
            event_id=event.event_id,
            person_id=event.person_id,
            device_id=event.device_id,
            camera=event.camera,
            track_id=event.track_id,
            started_at=event.started_at.isoformat(),
            ended_at=ended.isoformat(),
            model_id=event.model_id,
            confidence=event.confidence,
            frames=event.frames,
            liveness=event.liveness,
            sharpness=sharp,
            ignored=event.ignored,
            template=event.template.vector(),
            crop_jpeg=crop,
        )


def _crop(b64: str | None) -> tuple[bytes | None, float]:
    """(JPEG bytes, sharpness) of a base64 crop; (None, 0) when there is none or it is not an image."""
    if not b64 or len(b64) > 4 * MAX_CROP_BYTES // 3 + 4:
        return None, 0.0
    try:
        jpeg = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None, 0.0
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or max(image.shape[:2]) > 1024:
        return None, 0.0
    return jpeg, sharpness(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def crop_rgb(jpeg: bytes, size: int) -> np.ndarray | None:
    """A stored track crop (JPEG) as the embedder takes it: (size, size, 3) RGB uint8; None when it does not
    decode. The agents' crops are aligned faces of that size already; any other is scaled to it."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class TrackRecord(TrackBase):
    """A stored ended track (without its template); `visitor_id` None for a named track."""

    visitor_id: str | None
    received: str
    has_crop: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrackRecord:
        return cls.model_validate({**row, "has_crop": row["crop_file"] is not None})


class VisitorBase(Record):
    """A group of unknown tracks taken to be one person; first_seen / last_seen: earliest start, latest end
    (device time)."""

    id: str
    model_id: str
    ignored: bool
    pinned: bool = Field(description="a user merged or ignored it: re-clustering keeps it together")
    created: str
    tracks: int = Field(description="how often they came (ended tracks)")
    first_seen: str
    last_seen: str
    cameras: tuple[str, ...] = Field(description="device/camera")


class Visitor(VisitorBase):
    """A visitor as stored; crop_event_id: the track whose crop represents them (the sharpest)."""

    crop_event_id: str | None


class VisitorDetail(Record):
    visitor: Visitor
    tracks: list[TrackRecord]
