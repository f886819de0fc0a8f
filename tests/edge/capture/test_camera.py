"""Cameras that end or fail: the reader reconnects with backoff and reports it; the agent keeps running."""

from __future__ import annotations

import shutil
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.app import EdgeApp
from edge.capture.camera import CameraReader, capture_target
from edge.capture.gstreamer import pipeline_string
from edge.config import CameraConfig, ConfigError
from tests.conftest import CLIPS
from tests.edge.conftest import Subscriber, agent_config


def short_clip(path: Path, frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    return path


def wait(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_live_stream_that_ends_reconnects_and_keeps_delivering(tmp_path: Path) -> None:
    clip = short_clip(tmp_path / "clip.avi")
    # an RTSP camera whose stream is this short clip: it "ends" every 6 frames
    camera = CameraConfig.model_validate(
        {
            "name": "live",
            "source": {"type": "rtsp", "url": "rtsp://cam/1"},
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.2,
        }
    )
    new_frame = threading.Event()
    reader = CameraReader(camera, new_frame, opener=lambda: cv2.VideoCapture(str(clip)))
    reader.start()
    try:
        wait(lambda: reader.reconnects >= 2 and reader.frames > 12)
        assert reader.latest(0) is not None
        assert reader.state.last_error == "stream ended"
    finally:
        reader.stop()


def test_looping_file_rewinds_without_reconnecting(tmp_path: Path) -> None:
    clip = short_clip(tmp_path / "clip.avi", frames=4)
    camera = CameraConfig.model_validate(
        {"name": "loop", "source": {"type": "file", "path": str(clip), "loop": True, "pacing": "every_frame"}}
    )
    reader = CameraReader(camera, threading.Event())
    reader.start()
    taken = [0]
    try:

        def take() -> bool:
            frame = reader.latest(taken[-1])
            if frame is not None:
                taken.append(frame.index)
            return len(taken) > 10

        wait(take)
    finally:
        reader.stop()
    assert reader.reconnects == 0 and not reader.finished


def test_file_played_once_finishes_without_reconnecting(tmp_path: Path) -> None:
    clip = short_clip(tmp_path / "clip.avi", frames=4)
    camera = CameraConfig.model_validate(
        {"name": "once", "source": {"type": "file", "path": str(clip), "pacing": "every_frame"}}
    )
    reader = CameraReader(camera, threading.Event())
    reader.start()
    seen: list[int] = []
    try:

        def take() -> bool:
            frame = reader.latest(seen[-1] if seen else 0)
            if frame is not None:
                seen.append(frame.index)
            return reader.finished and not reader.has_frame_after(seen[-1] if seen else 0)

        wait(take)
    finally:
        reader.stop()
    assert reader.frames == 4 and reader.reconnects == 0


def test_agent_reports_a_missing_camera_and_recovers_when_it_appears(
    tmp_path: Path, broker: Any, subscriber: Subscriber
) -> None:
    clip = tmp_path / "later.mp4"
    gate = {
        "name": "gate",
        "source": {"type": "file", "path": str(clip), "loop": True},
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 0.5,
    }
    yard = {"name": "yard", "source": {"type": "file", "path": str(short_clip(tmp_path / "yard.avi")), "loop": True}}
    app = EdgeApp(agent_config(tmp_path, broker.port, [gate, yard]))
    app.start()
    try:
        subscriber.wait_for(
            lambda s: any(
                st["cameras"]["gate"]["reconnects"] >= 2 and not st["cameras"]["gate"]["connected"]
                for st in s.json("/stats")
            ),
            15,
            "stats reporting the failing camera",
        )
        subscriber.wait_for(
            lambda s: any(st["cameras"]["yard"]["fps"] > 0 for st in s.json("/stats")),
            15,
            "the other camera working meanwhile",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{app.http.port}/healthz") as resp:
            assert resp.status == 200, "a lost camera does not make the agent unhealthy"
        shutil.copy(CLIPS / "short_hamilton_clip.mp4", clip)
        subscriber.wait_for(
            lambda s: any(st["cameras"]["gate"]["connected"] for st in s.json("/stats")),
            30,
            "stats reporting the camera connected again",
        )
        wait(lambda: app.readers[0].frames > 0)
    finally:
        app.stop()


@pytest.mark.parametrize(
    ("source", "gstreamer", "jetson", "expected"),
    [
        # CSI always needs a GStreamer pipeline with nvarguscamerasrc and a leaky appsink
        ({"type": "csi", "sensor_id": 1}, False, True, "nvarguscamerasrc sensor-id=1"),
        # RTSP on a Jetson decodes in hardware, behind a watchdog, the URL quoted
        (
            {"type": "rtsp", "url": "rtsp://cam/stream"},
            True,
            True,
            'rtspsrc location="rtsp://cam/stream" latency=200 protocols=tcp ! watchdog timeout=5000 ! rtph264depay'
            " ! h264parse ! nvv4l2decoder",
        ),
        # RTSP elsewhere decodes in software
        ({"type": "rtsp", "url": "rtsp://cam/stream", "codec": "h265"}, True, False, "avdec_h265"),
        # USB through GStreamer names the device node
        ({"type": "usb", "device": 2}, True, False, "v4l2src device=/dev/video2"),
    ],
)
def test_gstreamer_pipelines(source: dict[str, Any], gstreamer: bool, jetson: bool, expected: str) -> None:
    camera = CameraConfig.model_validate({"name": "c", "source": source, "gstreamer": gstreamer})
    target, api = capture_target(camera, jetson)
    assert target == pipeline_string(camera.source, jetson)  # type: ignore[arg-type]
    assert isinstance(target, str) and expected in target and "appsink drop=true max-buffers=1" in target
    assert api == cv2.CAP_GSTREAMER


def test_a_csi_camera_off_a_jetson_is_a_config_error() -> None:
    camera = CameraConfig.model_validate({"name": "lobby", "source": {"type": "csi"}})
    with pytest.raises(ConfigError, match="camera lobby: CSI cameras"):
        capture_target(camera, jetson=False)


def test_plain_opencv_targets() -> None:
    rtsp = CameraConfig.model_validate({"name": "c", "source": {"type": "rtsp", "url": "rtsp://cam/s"}})
    usb = CameraConfig.model_validate({"name": "c", "source": {"type": "usb", "device": 1}})
    assert capture_target(rtsp) == ("rtsp://cam/s", cv2.CAP_FFMPEG)
    assert capture_target(usb) == (1, cv2.CAP_V4L2)
