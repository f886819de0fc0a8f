"""One simulated device for `facefleet load`: publishes TrackEvents at a steady rate, QoS 1, then exits.

Each track is three events (started, identity_confirmed, ended with a real face crop), like an agent
watching people walk by. Every event's id goes to `--out` once the broker acknowledged it, so the load
benchmark can compare what was sent with what the hub received.

    FACEFLEET_MQTT_PASSWORD=... python -m facefleet.load_device --port 8883 --ca-file ca.crt \
        --device-id sim-1 --rate 2 --seconds 30 --out sent.txt

It logs in as its device id (the password from `FACEFLEET_MQTT_PASSWORD`), over TLS with `--ca-file`.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facefleet.wire import Topics, TrackEvent

_TYPES = ("track_started", "identity_confirmed", "track_ended")


def make_event(device_id: str, seq: int, crop_b64: str) -> TrackEvent:
    now = datetime.now(timezone.utc)
    kind = _TYPES[(seq - 1) % len(_TYPES)]
    known = kind != "track_started"
    return TrackEvent(
        event_id=uuid.uuid4().hex, seq=seq, type=kind, device_id=device_id, camera="stage",
        track_id=(seq - 1) // len(_TYPES), ts=now, started_at=now, ended_at=now if kind == "track_ended" else None,
        duration_s=2.5 if kind == "track_ended" else None, person_id="p-load" if known else None,
        name="Load Person" if known else None, confidence=0.61 if known else 0.0,
        votes={"p-load": 12} if known else {}, frames=12,
        best_crop_jpeg_b64=crop_b64 if kind == "track_ended" else None,
    )


def run(port: int, device_id: str, rate: float, seconds: float, out: Path, crop: Path | None,
        ca_file: Path | None = None) -> int:
    """Publish for `seconds` at `rate` events/s; the number of events the broker acknowledged."""
    crop_b64 = base64.b64encode(crop.read_bytes()).decode() if crop else ""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"load-{device_id}")
    if password := os.environ.get("FACEFLEET_MQTT_PASSWORD"):
        client.username_pw_set(device_id, password)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file))
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    topic = Topics().events(device_id)
    sent: list[tuple[str, mqtt.MQTTMessageInfo]] = []
    started = time.monotonic()
    seq = 0
    while time.monotonic() - started < seconds:
        seq += 1
        event = make_event(device_id, seq, crop_b64)
        sent.append((event.event_id, client.publish(topic, event.model_dump_json(), qos=1)))
        time.sleep(max(0.0, started + seq / rate - time.monotonic()))
    acked = []
    for event_id, info in sent:
        info.wait_for_publish(timeout=30)
        if info.is_published():
            acked.append(event_id)
    client.disconnect()
    client.loop_stop()
    out.write_text("".join(f"{event_id}\n" for event_id in acked))
    return len(acked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--rate", type=float, default=2.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True, help="acknowledged event ids, one a line")
    parser.add_argument("--crop", type=Path, help="JPEG sent as the best face of each ended track")
    parser.add_argument("--ca-file", type=Path, help="CA of the broker's TLS certificate (TLS when given)")
    args = parser.parse_args()
    run(args.port, args.device_id, args.rate, args.seconds, args.out, args.crop, args.ca_file)


if __name__ == "__main__":
    main()
