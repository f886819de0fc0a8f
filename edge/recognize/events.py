"""Track events as the pipeline sees them, and their wire form (`facefleet.wire.TrackEvent`).

The processor produces `TrackEventRecord`s without ids; the outbox gives each its `seq` (the row id, which
survives restarts) and `event_id` when it is stored, and only then is the wire document rendered.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from edge.recognize.identity import UNKNOWN, Identity
from facefleet.wire import MAX_CROP_BYTES, EmbeddingPayload, EventType, TrackEvent


@dataclass(frozen=True)
class TrackEventRecord:
    """One event of one track. On `track_ended` only: `best_crop_jpeg` (the best face, JPEG bytes) and
    `template` ((D,) float32 unit vector: the track's pooled embedding, None when nothing was embedded)."""

    type: EventType
    camera: str
    track_id: int
    ts: datetime
    started_at: datetime
    identity: Identity
    frames: int  # embedded (`TrackEvent.frames`)
    liveness: float | None
    model_id: str
    gallery_version: str
    ended_at: datetime | None = None
    best_crop_jpeg: bytes | None = None
    template: np.ndarray | None = None


def to_wire(record: TrackEventRecord, device_id: str, seq: int, event_id: str) -> TrackEvent:
    """The versioned wire document of a record, with its outbox sequence number and unique id.

    A crop over the wire's `MAX_CROP_BYTES` (never from a 112 px face) is left out rather than refused.
    """
    ident = record.identity
    jpeg = record.best_crop_jpeg
    crop = base64.b64encode(jpeg).decode() if jpeg and len(jpeg) <= MAX_CROP_BYTES else None
    duration = (record.ended_at - record.started_at).total_seconds() if record.ended_at else None
    return TrackEvent(
        event_id=event_id,
        seq=seq,
        type=record.type,
        device_id=device_id,
        camera=record.camera,
        track_id=record.track_id,
        ts=record.ts,
        started_at=record.started_at,
        ended_at=record.ended_at,
        duration_s=max(duration, 0.0) if duration is not None else None,
        person_id=ident.person_id,
        name=ident.name,
        confidence=max(-1.0, min(1.0, ident.confidence)),
        votes=dict(ident.votes),
        frames=record.frames,
        liveness=record.liveness,
        best_crop_jpeg_b64=crop,
        ignored=ident.ignored,
        template=EmbeddingPayload.from_vector(record.template) if record.template is not None else None,
        model_id=record.model_id,
        gallery_version=record.gallery_version,
    )


def describe(record: TrackEventRecord) -> str:
    """One log line for an event, e.g. `cam1 track 3 identity_confirmed: p-0001 (0.71, 5 votes)`."""
    ident = record.identity
    who = ident.person_id or UNKNOWN
    votes = ident.votes.get(who, 0)
    return f"{record.camera} track {record.track_id} {record.type}: {who} ({ident.confidence:.2f}, {votes} votes)"
