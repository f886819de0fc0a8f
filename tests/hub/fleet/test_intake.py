"""Device messages: identity from the topic, bounded size and crops, every refusal counted with a short log."""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timezone

import pytest

from facefleet.wire import MAX_CROP_BYTES, MAX_MESSAGE_BYTES, DeviceStatus, TrackEvent, UpdateState
from hub.fleet.intake import LOG_PREFIX_BYTES, Refusals, Refused, parse_claimed, split_topic
from tests.hub.fleet.unchecked import unchecked_event

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


def event(device: str = "door-1", crop_bytes: int = 0) -> bytes:
    return unchecked_event(device, crop_bytes=crop_bytes).encode()


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("facefleet/door-1/status", ("door-1", "status")),
        ("facefleet/door-1/updates/state", ("door-1", "updates/state")),
        ("facefleet/door-1/updates", None),  # the hub's own announcements, not a device message
        ("facefleet/Door-1/events", None),  # not a device id
        ("other/door-1/events", None),  # another prefix
        ("facefleet/door-1/events/extra", None),  # deeper than a device topic
    ],
)
def test_split_topic(topic: str, expected: tuple[str, str] | None) -> None:
    assert split_topic("facefleet", topic) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed"),  # empty
        (b"\xff\xfe", "malformed"),  # not UTF-8
        (b"[1, 2]", "malformed"),  # JSON, not an object
        (b'{"event_id": "short"}', "malformed"),  # missing fields
        (event("door-2"), "device_mismatch"),  # door-1's topic, door-2's name
        (event(crop_bytes=MAX_CROP_BYTES + 3), "crop_too_large"),  # a crop over 64 KiB decoded
        (b" " * (MAX_MESSAGE_BYTES + 1), "oversized"),  # refused before parsing
    ],
)
def test_refused_event_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_claimed(TrackEvent, "door-1", payload)
    assert refused.value.reason == reason


def test_a_crop_at_the_bound_and_a_matching_device_pass() -> None:
    parsed = parse_claimed(TrackEvent, "door-1", event(crop_bytes=MAX_CROP_BYTES))
    assert parsed.device_id == "door-1" and len(base64.b64decode(parsed.best_crop_jpeg_b64 or "")) == MAX_CROP_BYTES


@pytest.mark.parametrize("model", [DeviceStatus, UpdateState])
def test_status_and_state_for_another_device_are_refused(model: type[DeviceStatus] | type[UpdateState]) -> None:
    fields = (
        {"state": "online"}
        if model is DeviceStatus
        else {"rollout_id": "r1", "kind": "gallery", "version": "1", "state": "applied", "ts": NOW}
    )
    payload = model.model_validate({"device_id": "door-2", **fields}).model_dump_json().encode()
    with pytest.raises(Refused, match="door-2") as refused:
        parse_claimed(model, "door-1", payload)  # type: ignore[type-var]
    assert refused.value.reason == "device_mismatch"


def test_refusals_are_counted_and_logged_with_a_bounded_prefix(caplog: pytest.LogCaptureFixture) -> None:
    refusals = Refusals()
    huge = b"{" + b"x" * 1_000_000
    with caplog.at_level(logging.WARNING, logger="hub.fleet.intake"):
        for _ in range(3):
            refusals.refuse("status", "door-1", Refused("malformed", "bad"), huge)
    assert refusals.snapshot()[("status", "malformed")] == 3 and refusals.total("status") == 3
    assert refusals.snapshot()[("events", "crop_too_large")] == 0  # exported before the first one
    assert len(caplog.records) == 3
    assert all(len(r.getMessage()) < LOG_PREFIX_BYTES + 200 for r in caplog.records)
