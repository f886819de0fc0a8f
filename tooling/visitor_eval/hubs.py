"""A real hub (library, visitor store, suggestions; no HTTP, no broker) in a temporary folder for the
evaluations, and the track events fed to it."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.recognize.events import TrackEventRecord, to_wire
from facefleet.gallery import Gallery
from facefleet.wire import EmbeddingPayload, TrackEvent
from hub.service import Hub
from hub.settings import HubSettings, VisitorConfig
from models.pipeline import FacePipeline

T0 = datetime(2000, 1, 1, tzinfo=timezone.utc)


def eval_hub(data_dir: Path, pipeline: FacePipeline, join_cosine: float) -> Hub:
    """A hub on `data_dir` with the given pipeline and clustering threshold (defaults otherwise; one feeding
    "device" founds every visitor of an evaluation, so its hourly bound is lifted)."""
    visitors = VisitorConfig(join_cosine=join_cosine, max_new_visitors_per_device_hour=1_000_000)
    settings = HubSettings(data_dir=data_dir, visitors=visitors)
    return Hub(settings, pipeline)


def lfw_event(event_id: str, template: np.ndarray, crop_jpeg: bytes, model_id: str) -> TrackEvent:
    """An unknown `track_ended` event of one photo, as an agent would send it."""
    return TrackEvent(
        event_id=event_id,
        seq=1,
        type="track_ended",
        device_id="lfw",
        camera="photos",
        track_id=0,
        ts=T0,
        started_at=T0,
        ended_at=T0,
        frames=1,
        model_id=model_id,
        template=EmbeddingPayload.from_vector(template),
        best_crop_jpeg_b64=base64.b64encode(crop_jpeg).decode(),
    )


def wire_events(records: list[TrackEventRecord], device_id: str) -> list[TrackEvent]:
    """Processor records as the agent publishes them (seq and event ids as its outbox gives them)."""
    return [to_wire(r, device_id, seq, uuid.uuid4().hex) for seq, r in enumerate(records, start=1)]


def visitor_labels(hub: Hub, event_ids: list[str]) -> np.ndarray:
    """(N,) index of each event's visitor (-1 for a track that is not a visitor's)."""
    with hub.db.read() as db:
        found = dict(db.execute("SELECT event_id, visitor_id FROM ended_tracks").fetchall())
    ids = sorted({v for v in found.values() if v})
    index = {v: i for i, v in enumerate(ids)}
    return np.array([index.get(found.get(e) or "", -1) for e in event_ids], np.int64)


def hub_gallery(hub: Hub) -> Gallery:
    """Build a gallery the way `POST /api/galleries` does and load its file as an agent would."""
    record = hub.galleries.build()
    return Gallery.load(hub.artifacts.file_path("gallery", record.version))
