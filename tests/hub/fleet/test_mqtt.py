"""The hub's MQTT link: a message whose handler fails is counted and logged at a bounded rate."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import pytest

from facefleet.wire import TrackEvent
from hub.fleet.intake import LOG_FIRST, Refusals
from hub.fleet.mqtt import DeviceHandlers, HubMqtt
from hub.settings import MqttConfig

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


def test_a_failing_handler_is_counted_and_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    def fail(event: TrackEvent) -> None:
        raise OSError(f"cannot store {event.event_id}")

    handlers = DeviceHandlers(status=lambda s: None, offline=lambda d: None, update_state=lambda r: True, event=fail)
    link = HubMqtt(MqttConfig(), handlers, Refusals())
    message = mqtt.MQTTMessage(topic=b"facefleet/door-1/events")
    message.payload = (
        TrackEvent(
            event_id="e" * 32,
            seq=1,
            type="track_started",
            device_id="door-1",
            camera="cam",
            track_id=1,
            ts=NOW,
            started_at=NOW,
        )
        .model_dump_json()
        .encode()
    )
    with caplog.at_level(logging.WARNING):
        for _ in range(2000):
            link._on_message(link.client, None, message)
    assert link.refusals.snapshot()[("events", "error")] == 2000
    assert len(caplog.records) <= LOG_FIRST + 2
    logged = sum(len(r.getMessage()) + len(r.exc_text or "") for r in caplog.records)
    assert logged < 100_000, logged  # each failure used to log a full traceback: 2.6 MB for 2,000 messages


def test_a_publish_the_client_refuses_is_counted() -> None:
    link = HubMqtt(
        MqttConfig(),
        DeviceHandlers(status=lambda s: None, offline=lambda d: None, update_state=lambda r: True),
        Refusals(),
    )
    link.client.max_queued_messages_set(1)  # not connected: the first waits for the connection, the next is refused
    assert link.publish("facefleet/door-1/updates", b"{}") is not None
    assert link.publish("facefleet/door-2/updates", b"{}") is None
    assert link.publish_failed == 1
