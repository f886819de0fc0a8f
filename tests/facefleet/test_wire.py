"""The wire contract's bounds on what a device may send: event ids that can never be a path, cameras per status."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.deliver.outbox import Outbox
from facefleet.wire import MAX_CAMERAS_PER_DEVICE, DeviceStatus, TrackEvent

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


def _event(event_id: str) -> TrackEvent:
    return TrackEvent.model_validate(
        dict(
            event_id=event_id,
            seq=1,
            type="track_started",
            device_id="door-1",
            camera="front",
            track_id=1,
            ts=NOW,
            started_at=NOW,
        )
    )


@pytest.mark.parametrize(
    "event_id",
    [
        "../../tmp/escaped-event",  # a relative path out of the hub's crops folder
        "/tmp/absolute-event-id",  # an absolute path
        "../samples/p1/s1",  # an enrolled person's sample crop
        "track.0001.jpg",  # dots: no file name extension or '..' can be made
        "with spaces in it",  # not an id
        "x" * 65,  # too long
        "short",  # too short
        "é" * 8,  # outside ASCII
    ],
)
def test_event_ids_that_could_name_a_file_are_refused(event_id: str) -> None:
    with pytest.raises(ValidationError, match="event_id"):
        _event(event_id)


def test_the_event_ids_agents_make_pass(tmp_path: Path) -> None:
    made: list[str] = []

    def render(number: int, event_id: str) -> bytes:
        made.append(event_id)
        return b"{}"

    Outbox(tmp_path / "outbox.db", max_events=10).append("facefleet/door-1/events", render)
    assert len(made) == 1 and _event(made[0]).event_id == made[0]


def test_a_status_lists_at_most_64_cameras_and_an_agent_has_no_more() -> None:
    from edge.config import EdgeConfig

    names = [f"cam-{i}" for i in range(MAX_CAMERAS_PER_DEVICE + 1)]
    assert len(DeviceStatus(device_id="door-1", state="online", cameras=names[:-1]).cameras) == 64
    with pytest.raises(ValidationError, match="cameras"):
        DeviceStatus(device_id="door-1", state="online", cameras=names)  # a device flooding discovery configs
    with pytest.raises(ValidationError, match="cameras"):
        DeviceStatus(device_id="door-1", state="online", cameras=["Front Door/#"])  # not a camera name
    cameras = [{"name": n, "source": {"type": "file", "path": "clip.mp4"}} for n in names]
    with pytest.raises(ValidationError, match="cameras"):
        EdgeConfig.model_validate({"device_id": "door-1", "cameras": cameras})
