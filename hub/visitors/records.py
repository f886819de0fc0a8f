"""Typed records of the visitor store: an ended track as it arrives, as it is stored, and a visitor."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from facefleet.wire import TrackEvent
from hub.library.enroll import sharpness

MAX_CROP_BYTES = 256 * 1024  # a 112 px JPEG is about 5 KB; anything far larger is not a crop of ours


class VisitorError(ValueError):
    """A request the visitor store refuses (visitors of two models, a track that is not named, ...)."""


@dataclass(frozen=True)
class EndedTrack:
    """A `track_ended` event that carried a template: what the store keeps of it.

    template: (D,) float32 unit vector of `model_id`; crop_jpeg: the best face (None when absent or not a
    decodable image); sharpness: Laplacian variance of that crop (0 without one).
    """

    event_id: str
    person_id: str | None
    device_id: str
    camera: str
    track_id: int
    started_at: str
    ended_at: str
    model_id: str
    template: np.ndarray
    confidence: float
    frames: int
    liveness: float | None
    ignored: bool
    crop_jpeg: bytes | None
    sharpness: float

    @classmethod
    def from_event(cls, event: TrackEvent) -> EndedTrack | None:
        """The track of a `track_ended` event with a template, else None."""
        if event.type != "track_ended" or event.template is None:
            return None
        crop, sharp = _crop(event.best_crop_jpeg_b64)
        ended = event.ended_at or event.ts
        return cls(event.event_id, event.person_id, event.device_id, event.camera, event.track_id,
                   event.started_at.isoformat(), ended.isoformat(), event.model_id, event.template.vector(),
                   event.confidence, event.frames, event.liveness, event.ignored, crop, sharp)


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


@dataclass(frozen=True)
class TrackRecord:
    """A stored ended track (without its template); `visitor_id` None for a named track."""

    event_id: str
    visitor_id: str | None
    person_id: str | None
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
    has_crop: bool
    ignored: bool
    received: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrackRecord:
        return cls(str(row["event_id"]), row["visitor_id"], row["person_id"], str(row["device_id"]),
                   str(row["camera"]), int(row["track_id"]), str(row["started_at"]), str(row["ended_at"]),
                   str(row["model_id"]), float(row["confidence"]), int(row["frames"]), row["liveness"],
                   float(row["sharpness"]), row["crop_file"] is not None, bool(row["ignored"]),
                   str(row["received"]))


@dataclass(frozen=True)
class Visitor:
    """A group of unknown tracks taken to be one person.

    tracks: how often they came (tracks); first_seen / last_seen: earliest start, latest end (device time);
    cameras: `device/camera` names; crop_event_id: the track whose crop represents them (the sharpest);
    pinned: a user merged or ignored it, so re-clustering keeps its tracks together.
    """

    id: str
    model_id: str
    ignored: bool
    pinned: bool
    created: str
    tracks: int
    first_seen: str
    last_seen: str
    cameras: tuple[str, ...]
    crop_event_id: str | None


@dataclass(frozen=True)
class VisitorDetail:
    visitor: Visitor
    tracks: list[TrackRecord]
