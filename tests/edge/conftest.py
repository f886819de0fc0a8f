"""Edge test fixtures: a fast pipeline config, an LFW gallery and video, an MQTT subscriber, agent configs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import EdgeConfig
from facefleet.gallery import Gallery
from models.detect.mtcnn import DetectorConfig
from models.pipeline import FacePipeline, PipelineConfig
from tests.conftest import LFW
from tests.edge.scenes import ENROLLED, STRANGER, Segment, enrolled_gallery, lfw_image, write_people_video

# Faces in the test videos are ~120 px: searching from 40 px skips the costly small pyramid levels.
FAST_PIPELINE = PipelineConfig(detector=DetectorConfig(min_face_px=40))


@pytest.fixture(scope="session")
def fast_pipeline() -> FacePipeline:
    return FacePipeline.from_config(FAST_PIPELINE)


@pytest.fixture(scope="session")
def lfw_gallery(fast_pipeline: FacePipeline, cohort: np.ndarray) -> Gallery:
    """Enrolled people from LFW photos 1-4 (the videos use photo 10), with the impostor cohort."""
    return enrolled_gallery(fast_pipeline, LFW, range(1, 5), version="1", cohort=cohort)


@pytest.fixture(scope="session")
def gallery_file(lfw_gallery: Gallery, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gallery") / "gallery.db"
    lfw_gallery.write(path)
    return path


@pytest.fixture(scope="session")
def people_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Segment]]:
    """Four enrolled people and one stranger, 20 frames each with 7 empty frames between them."""
    photos: list[tuple[str | None, Any]] = [(pid, lfw_image(LFW, name, 10)) for pid, name in ENROLLED.items()]
    photos.append((None, lfw_image(LFW, STRANGER, 10)))
    path = tmp_path_factory.mktemp("video") / "people.avi"
    return path, write_people_video(path, photos, frames_each=20, gap=7)


class Subscriber:
    """Collects every message under a prefix, with a persistent MQTT 5 session of its own (a fresh one with
    `fresh`). `auth` is (user, password) on a broker with passwords: the client id is then the user name."""

    def __init__(
        self,
        port: int,
        topic: str = "facefleet/#",
        client_id: str = "test-subscriber",
        auth: tuple[str, str] | None = None,
        fresh: bool = False,
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.on_message = lambda _c, _u, msg: self._add(msg.topic, bytes(msg.payload))
        self.client.on_connect = lambda c, _u, _f, rc, _p: c.subscribe(topic, qos=1)
        self.client.reconnect_delay_set(1, 2)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", port, clean_start=fresh, properties=props)
        self.client.loop_start()

    def _add(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.messages.append((topic, payload))

    def json(self, suffix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(p) for t, p in self.messages if t.endswith(suffix) and p]

    def wait_for(self, predicate: Callable[[Subscriber], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ended_count(subscriber: Subscriber) -> int:
    return sum(e["type"] == "track_ended" for e in subscriber.json("/events"))


@pytest.fixture
def subscriber(broker: Any) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port)
    yield sub
    sub.close()


def agent_config(tmp_path: Path, port: int, cameras: list[dict[str, Any]], **extra: Any) -> EdgeConfig:
    """A config for an agent on the test broker with fast tracking and quick reconnects."""
    data: dict[str, Any] = {
        "device_id": "edge-test",
        "state_dir": str(tmp_path / "state"),
        "cameras": cameras,
        "pipeline": FAST_PIPELINE.model_dump(mode="json"),
        "tracker": {"lost_frames": 5, "lost_after_s": 2.0},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 1, "reconnect_max_s": 2, "stats_every_s": 1.0},
        "http": {"port": 0},
        "updates": {"enabled": False},
    }
    data.update(extra)
    return EdgeConfig.model_validate(data)
