"""Track events: the most recent ones the hub received over MQTT, for the live view."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import EnrollScope, EventsDep, RefusalsDep
from hub.api.schemas import EventCountsPublic, RecentEventsPublic

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get("/recent")
def recent_events(
    events: EventsDep,
    refusals: RefusalsDep,
    _: EnrollScope,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
) -> RecentEventsPublic:
    """Newest first; `track_ended` events carry the best face crop (JPEG, base64). Counts are since start."""
    counts = EventCountsPublic(**dataclasses.asdict(events.snapshot_counts()), malformed=refusals.total("events"))
    return RecentEventsPublic(events=events.recent(limit, device_id), counts=counts)
