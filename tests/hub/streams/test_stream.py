"""`/api/stream` over real HTTP with a real broker: a thin camera streams the bundled clip, the hub names the
singer on the socket and publishes his track's events on MQTT under the camera's device id."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from edge.stream_client import StreamClient
from facefleet.stream import EventMessage, FrameResult
from facefleet.wire import TrackEvent
from tests.conftest import ROOT
from tests.hub.fleet.test_enroll_to_edge import EventLog
from tests.hub.streams.scenes import CLIP, SINGER, SINGER_FRAMES, clip_jpegs, enroll_and_sign


def lockstep(client: StreamClient, jpegs: list[bytes]) -> tuple[list[FrameResult], list[EventMessage]]:
    """Send each frame and wait for its result (no frame dropped, whatever the machine's speed)."""
    frames: list[FrameResult] = []
    events: list[EventMessage] = []
    for jpeg in jpegs:
        client.send(jpeg)
        while True:
            reply = client.receive()
            if isinstance(reply, EventMessage):
                events.append(reply)
            elif isinstance(reply, FrameResult):
                frames.append(reply)
                break
    return frames, events


def wait_for(condition, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_thin_camera_is_named_on_the_socket_and_on_mqtt(mqtt_hub, broker) -> None:  # type: ignore[no-untyped-def]
    version = enroll_and_sign(mqtt_hub)
    log = EventLog(broker.port)
    client = StreamClient(mqtt_hub.url, mqtt_hub.device_token("thin-1"), camera="stage")
    try:
        ready = client.connect()
        assert (ready.device_id, ready.camera, ready.gallery_version) == ("thin-1", "stage", version)
        frames, events = lockstep(client, clip_jpegs(*SINGER_FRAMES))
        assert [f.frame for f in frames] == list(range(1, len(frames) + 1)) and frames[-1].dropped == 0
        named = [face for f in frames for face in f.faces if face.name == SINGER and face.active]
        assert len(named) >= 20, "the singer named on the socket"
        confirmed = [m.event for m in events if m.event.type == "identity_confirmed"]
        assert any(e.name == SINGER and e.device_id == "thin-1" and e.camera == "stage" for e in confirmed)
        wait_for(lambda: any(e["type"] == "identity_confirmed" for e in log.named(SINGER)))
        on_mqtt = [TrackEvent.model_validate(e) for e in log.named(SINGER) if e["type"] == "identity_confirmed"]
        assert {e.event_id for e in on_mqtt} <= {e.event_id for e in confirmed}  # the same records
        assert all(e.device_id == "thin-1" and e.gallery_version == version for e in on_mqtt)
    finally:
        client.close()
    # the stream ends, its tracks end: track_ended on MQTT with the track's crop, numbered as an agent's
    wait_for(lambda: any(e["type"] == "track_ended" for e in log.named(SINGER)))
    ended = next(TrackEvent.model_validate(e) for e in log.named(SINGER) if e["type"] == "track_ended")
    assert ended.best_crop_jpeg_b64 and ended.template is not None
    seqs = sorted(e["seq"] for e in log.events.values() if e["device_id"] == "thin-1")
    assert seqs == list(range(1, len(seqs) + 1))
    wait_for(lambda: any(e.event_id == ended.event_id for e in mqtt_hub.hub.events.recent(200)))  # live view
    log.close()


def test_facefleet_edge_stream_sends_a_clip_at_its_rate(mqtt_hub, broker) -> None:  # type: ignore[no-untyped-def]
    """The thin-camera command plays the bundled clip (1080p, scaled to 1280 wide) at its frame rate: the hub
    drops what it cannot keep up with, names the singer, and the command prints his events."""
    enroll_and_sign(mqtt_hub)
    env = {**os.environ, "FACEFLEET_DEVICE_TOKEN": mqtt_hub.device_token("thin-2")}
    done = subprocess.run(
        [sys.executable, "-m", "edge", "stream", "--hub", mqtt_hub.url, "--source", str(CLIP), "--camera", "stage"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "streaming as thin-2/stage" in done.stdout
    assert f"identity_confirmed: {SINGER}" in done.stdout
    sent, processed, dropped = map(
        int, re.search(r"sent (\d+) frames, (\d+) processed, (\d+) dropped", done.stdout).groups()
    )  # type: ignore[union-attr]
    assert sent == 275 and processed >= 1 and processed + dropped <= sent
