"""End to end: a video of real LFW photos through the agent to a real Mosquitto broker."""

from __future__ import annotations

import base64
import urllib.request
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.app import EdgeApp
from edge.capture.frames import Frame
from edge.config import RecognitionConfig, TrackerConfig
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.processor import CameraProcessor
from facefleet.gallery import Gallery
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline
from tests.conftest import CLIPS
from tests.edge.conftest import Subscriber, agent_config, ended_count
from tests.edge.scenes import Segment

pytestmark = pytest.mark.slow


def tracks_of(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    by_track: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e["seq"]):
        by_track[event["track_id"]].append(event)
    return dict(by_track)


def test_identities_of_enrolled_people_and_a_stranger(
    tmp_path: Path, broker: Any, subscriber: Subscriber, gallery_file: Path, people_video: tuple[Path, list[Segment]]
) -> None:
    video, segments = people_video
    camera = {"name": "door", "source": {"type": "file", "path": str(video), "pacing": "every_frame"}}
    app = EdgeApp(agent_config(tmp_path, broker.port, [camera], gallery_path=str(gallery_file)))
    app.start()
    try:
        subscriber.wait_for(lambda s: ended_count(s) >= len(segments), 120, "a track_ended per person")
        with urllib.request.urlopen(f"http://127.0.0.1:{app.http.port}/healthz") as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{app.http.port}/metrics") as resp:
            metrics = resp.read().decode()
        assert 'facefleet_edge_frames_total{camera="door"}' in metrics
        assert "facefleet_edge_stage_seconds_bucket" in metrics
    finally:
        app.stop()

    events = subscriber.json("/events")
    assert len({e["event_id"] for e in events}) == len(events), "no event twice"
    tracks = tracks_of(events)
    assert len(tracks) == len(segments), f"one track per person, got {list(tracks)}"
    for (track_id, track), segment in zip(sorted(tracks.items()), segments, strict=True):
        types = [e["type"] for e in track]
        assert types[0] == "track_started" and types[-1] == "track_ended", (track_id, types)
        assert types.count("track_started") == 1 and types.count("track_ended") == 1
        ended = track[-1]
        assert ended["person_id"] == segment.person_id, (track_id, ended["votes"])
        assert ended["camera"] == "door" and ended["device_id"] == "edge-test"
        assert ended["duration_s"] > 0.0 and ended["frames"] >= 2
        who = segment.person_id or "unknown"
        assert ended["votes"][who] >= 2
        if segment.person_id:
            assert ended["confidence"] >= 0.4 and ended["name"]
        jpeg = np.frombuffer(base64.b64decode(ended["best_crop_jpeg_b64"]), np.uint8)
        crop = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        assert ended["liveness"] is not None and ended["liveness"] <= 0.1, "a photo shows no natural motion"
        assert crop is not None and crop.shape == (112, 112, 3)
    statuses = subscriber.json("/status")
    assert statuses[0]["state"] == "online" and statuses[-1]["state"] == "offline"


def test_real_people_score_higher_liveness_than_photos(pipeline: FacePipeline) -> None:
    """Real people on the clip show natural motion; the photo tracks of the test above score at most 0.1.
    The first shot (frames 0-19, the singer and the pianist small on stage, 20-25 px: the detector's default
    min face 20, not the fast pipeline's 40): every tracked face above 0.1; the singer's close-up (from frame
    82, talking and gesturing): his track strongly."""
    holder = ModelGalleryHolder(ModelGallery(pipeline, Gallery.empty(pipeline.model_id)))
    processor = CameraProcessor(
        "stage", holder, TrackerConfig(), RecognitionConfig(embed_every_frames=1000), ScheduleConfig()
    )
    cap = cv2.VideoCapture(str(CLIPS / "short_hamilton_clip.mp4"))
    scores_by_shot = []
    for index in range(112):
        ok, image = cap.read()
        assert ok
        processor.process(Frame("stage", image, datetime.now(timezone.utc), index))
        if index in (19, 111):  # the last frame of the first shot, 30 frames into the close-up
            scores_by_shot.append([s.liveness.score() for s in processor.tracks.values() if s.active])
    cap.release()
    stage, close_up = scores_by_shot
    assert len(stage) >= 2 and all(s is not None and s > 0.1 for s in stage), stage
    assert max(s for s in close_up if s is not None) >= 0.5, close_up
