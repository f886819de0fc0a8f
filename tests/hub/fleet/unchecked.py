"""A device's track event built without validation, as a misbehaving device could send one (a name that is not
its own, a crop over the bound): what the hub's intake must refuse."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from facefleet.wire import TrackEvent

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


def unchecked_event(device_id: str = "door-1", n: int = 1, crop_bytes: int = 0) -> str:
    """A `track_ended` event of `device_id` (its `n`-th), with a crop of `crop_bytes` decoded bytes if any."""
    crop = base64.b64encode(b"\xff" * crop_bytes).decode() if crop_bytes else None
    return TrackEvent.model_construct(
        event_id=f"event-{device_id}-{n:04d}",
        seq=n,
        type="track_ended",
        device_id=device_id,
        camera="cam",
        track_id=n,
        ts=NOW,
        started_at=NOW,
        best_crop_jpeg_b64=crop,
        schema_version=1,
        votes={},
        frames=0,
        confidence=0.0,
        model_id="",
        gallery_version="",
        ended_at=None,
        duration_s=None,
        person_id=None,
        name=None,
        liveness=None,
    ).model_dump_json()
