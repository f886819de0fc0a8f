"""Every wire payload parser: a malformed payload is a ValidationError (a ValueError), never another error.

The MQTT handlers on both sides are fed the same payloads: each is logged and ignored, the network thread
never sees an exception, and nothing downstream is called with it.
"""

from __future__ import annotations

import json
import queue
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given
from pydantic import BaseModel, ValidationError

from edge.deliver.mqtt_link import MqttLink
from edge.update.updates import Updater
from facefleet.signing import SignatureError, sign_manifest, verify_manifest
from facefleet.wire import (
    ArtifactManifest,
    DeviceStatus,
    SignedManifest,
    TrackEvent,
    UpdateAnnouncement,
    UpdateState,
)
from hub.fleet.intake import Refusals
from hub.fleet.mqtt import DeviceHandlers, HubMqtt
from hub.settings import MqttConfig
from tests.fuzz.strategies import FUZZ, payloads

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
KEY = Ed25519PrivateKey.generate()
MANIFEST = ArtifactManifest(
    kind="gallery",
    version="20260102.0001",
    model_id="sface",
    sha256="a" * 64,
    size=10,
    created=NOW,
    file_name="gallery.db",
    embedding_dim=128,
)
SIGNED = sign_manifest(KEY, MANIFEST)
VALID: dict[type[BaseModel], dict[str, Any]] = {
    TrackEvent: TrackEvent(
        event_id="e" * 16,
        seq=1,
        type="track_ended",
        device_id="edge-1",
        camera="stage",
        track_id=3,
        ts=NOW,
        started_at=NOW,
        ended_at=NOW,
        duration_s=1.5,
        person_id="p1",
        name="Ada",
        confidence=0.6,
        votes={"p1": 4},
        frames=4,
        best_crop_jpeg_b64="/9j/",
    ).model_dump(mode="json"),
    DeviceStatus: DeviceStatus(device_id="edge-1", state="online", ts=NOW, cameras=["stage"]).model_dump(mode="json"),
    UpdateAnnouncement: UpdateAnnouncement(
        rollout_id="r1", kind="gallery", version="1", manifest_url="http://h/m", artifact_url="http://h/f", ts=NOW
    ).model_dump(mode="json"),
    UpdateState: UpdateState(
        rollout_id="r1", device_id="edge-1", kind="model", version="2", state="applied", ts=NOW
    ).model_dump(mode="json"),
    SignedManifest: SIGNED.model_dump(mode="json"),
}


def _whole(model: type[BaseModel]) -> bytes:
    """The valid document as the strategies serialise it (a strict prefix of it is never JSON)."""
    return json.dumps(VALID[model], default=str).encode()


@pytest.mark.parametrize("model", list(VALID), ids=lambda m: m.__name__)
def test_parsers_accept_or_raise_validation_error(model: type[BaseModel]) -> None:
    required = {name for name, field in model.model_fields.items() if field.is_required()}

    @FUZZ
    @example(_whole(model))  # the valid document itself must parse
    @given(payloads(VALID[model]))
    def check(payload: bytes) -> None:
        try:
            parsed = model.model_validate_json(payload)
        except ValidationError:
            # any payload may be refused, except the valid document itself
            assert payload != _whole(model), "the valid document was refused"
            return
        assert not _whole(model).startswith(payload) or payload == _whole(model), "a cut-short document parsed"
        keys = set(json.loads(payload))
        assert keys <= set(model.model_fields), f"unknown keys accepted: {keys - set(model.model_fields)}"
        assert required <= keys, f"required keys missing: {required - keys}"
        assert model.model_validate_json(parsed.model_dump_json()) == parsed  # what it accepts, it can send

    check()


@FUZZ
@given(payloads(VALID[SignedManifest]))
def test_a_changed_manifest_never_verifies(payload: bytes) -> None:
    try:
        signed = SignedManifest.model_validate_json(payload)
    except ValidationError:
        return
    try:
        manifest = verify_manifest(KEY.public_key(), signed)
    except SignatureError:
        return
    assert manifest == MANIFEST  # only the untouched manifest (maybe re-serialised) is accepted


def _message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    message = mqtt.MQTTMessage(topic=topic.encode())
    message.payload = payload
    return message


HUB_TOPICS = {"events": TrackEvent, "status": DeviceStatus, "updates/state": UpdateState}


@pytest.mark.parametrize("kind", list(HUB_TOPICS))
def test_hub_mqtt_thread_survives_bad_payloads(kind: str) -> None:
    model = HUB_TOPICS[kind]
    calls: list[object] = []
    refusals = Refusals()

    def accept(record: object) -> bool:
        calls.append(record)
        return True

    handlers = DeviceHandlers(status=calls.append, offline=calls.append, update_state=accept, event=calls.append)
    link = HubMqtt(MqttConfig(client_id="fuzz"), handlers, refusals)

    @FUZZ
    @given(payloads(VALID[model]))
    def check(payload: bytes) -> None:
        before, refused = len(calls), refusals.total(kind)  # type: ignore[arg-type]
        link._on_message(link.client, None, _message(f"facefleet/edge-1/{kind}", payload))
        handed, now_refused = len(calls) - before, refusals.total(kind) - refused  # type: ignore[arg-type]
        if handed:  # handed on only when it parsed as edge-1's (or is the bare `offline` will)
            assert isinstance(calls[-1], model) or payload.strip() in (b"offline", b'"offline"')
            assert calls[-1] == "edge-1" or getattr(calls[-1], "device_id", None) == "edge-1"
        # every message is handed on or refused and counted, never both; an empty status clears a retained one
        assert handed + now_refused == (0 if kind == "status" and not payload else 1)

    check()


@FUZZ
@example(_whole(UpdateAnnouncement))  # the valid announcement must be queued
@given(payloads(VALID[UpdateAnnouncement]))
def test_edge_update_handler_queues_only_valid_announcements(payload: bytes) -> None:
    updater = SimpleNamespace(_queue=queue.SimpleQueue())
    Updater.on_message(updater, "facefleet/edge-1/updates", payload)  # type: ignore[arg-type]
    try:
        expected = UpdateAnnouncement.model_validate_json(payload)
    except ValidationError:
        assert updater._queue.empty(), "a malformed announcement was queued"
        return
    assert updater._queue.get_nowait() == expected  # a valid one is queued, once and unchanged
    assert updater._queue.empty()


def test_edge_mqtt_thread_survives_a_failing_handler() -> None:
    def handler(topic: str, payload: bytes) -> None:
        raise RuntimeError("boom")

    link = SimpleNamespace(_handlers={"facefleet/edge-1/updates": handler})
    MqttLink._on_message(link, None, None, _message("facefleet/edge-1/updates", b"{}"))  # type: ignore[arg-type]
