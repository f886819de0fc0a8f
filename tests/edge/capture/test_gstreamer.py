"""GStreamer pipeline strings, table by table; parsed by GStreamer itself where gst-launch is installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.capture.gstreamer import APPSINK, is_jetson, pipeline_string
from edge.config import CsiSource, RtspSource, UsbSource

CASES = [
    # CSI on a Jetson: Argus ISP into NVMM, converted by nvvidconv.
    (
        CsiSource(),
        True,
        "nvarguscamerasrc sensor-id=0 ! "
        "video/x-raw(memory:NVMM),width=1280,height=720,format=NV12,framerate=30/1 ! "
        "nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! " + APPSINK,
    ),
    # Second sensor, 1080p, mounted upside down.
    (
        CsiSource(sensor_id=1, resolution_wh=(1920, 1080), fps=60, flip_method=2),
        True,
        "nvarguscamerasrc sensor-id=1 ! "
        "video/x-raw(memory:NVMM),width=1920,height=1080,format=NV12,framerate=60/1 ! "
        "nvvidconv flip-method=2 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! " + APPSINK,
    ),
    # USB raw frames: the same anywhere.
    (
        UsbSource(device=1, resolution_wh=(640, 480), fps=30),
        False,
        "v4l2src device=/dev/video1 ! video/x-raw,width=640,height=480,framerate=30/1 ! videoconvert ! "
        "video/x-raw,format=BGR ! " + APPSINK,
    ),
    # USB without fps: no framerate in the caps, the camera picks its own rate.
    (
        UsbSource(device=2),
        False,
        "v4l2src device=/dev/video2 ! video/x-raw,width=1280,height=720 ! videoconvert ! "
        "video/x-raw,format=BGR ! " + APPSINK,
    ),
    # USB MJPEG on a Jetson: hardware JPEG decode.
    (
        UsbSource(device=0, fps=30, mjpeg=True),
        True,
        "v4l2src device=/dev/video0 ! image/jpeg,width=1280,height=720,framerate=30/1 ! "
        "nvv4l2decoder mjpeg=1 ! "
        "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! " + APPSINK,
    ),
    # USB MJPEG elsewhere: software JPEG decode.
    (
        UsbSource(device="/dev/v4l/by-id/usb-Logitech_C920-video-index0", fps=30, mjpeg=True),
        False,
        "v4l2src device=/dev/v4l/by-id/usb-Logitech_C920-video-index0 ! image/jpeg,width=1280,height=720,"
        "framerate=30/1 ! jpegdec ! videoconvert ! video/x-raw,format=BGR ! " + APPSINK,
    ),
    # RTSP H.264 on a Jetson: nvv4l2decoder, watchdog, leaky queue.
    (
        RtspSource(url="rtsp://user:pw@10.0.0.5:554/stream1"),
        True,
        'rtspsrc location="rtsp://user:pw@10.0.0.5:554/stream1" latency=200 protocols=tcp ! '
        "watchdog timeout=5000 ! "
        "rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx ! "
        "queue max-size-buffers=1 leaky=downstream ! videoconvert ! video/x-raw,format=BGR ! " + APPSINK,
    ),
    # RTSP H.265 on a PC over UDP: software decoder.
    (
        RtspSource(url="rtsp://cam.local/h265", codec="h265", latency_ms=50, tcp=False),
        False,
        'rtspsrc location="rtsp://cam.local/h265" latency=50 ! watchdog timeout=5000 ! '
        "rtph265depay ! h265parse ! "
        "avdec_h265 ! queue max-size-buffers=1 leaky=downstream ! videoconvert ! video/x-raw,format=BGR ! " + APPSINK,
    ),
]


@pytest.mark.parametrize(("camera", "jetson", "expected"), CASES)
def test_pipeline_strings(camera, jetson: bool, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert pipeline_string(camera, jetson) == expected


@pytest.mark.parametrize("camera", [c for c, _, _ in CASES])
def test_every_pipeline_keeps_only_the_newest_frame(camera) -> None:  # type: ignore[no-untyped-def]
    assert pipeline_string(camera, True).endswith("appsink drop=true max-buffers=1 sync=false")


@pytest.mark.parametrize(
    ("camera", "jetson"),
    [
        (CsiSource(), False),  # no Argus off a Jetson
        # made around the config's checks (in code, not from a file): still refused here
        (UsbSource.model_construct(device="/dev/video0 ! filesink location=/etc/passwd"), False),  # injection
        (UsbSource.model_construct(device="/dev/sda"), False),  # not a camera
        (RtspSource.model_construct(url="http://cam/stream"), False),  # wrong scheme
        (RtspSource.model_construct(url='rtsp://cam/a" ! filesink location=x'), True),  # quote breaks out
    ],
)
def test_invalid_cameras_are_refused(camera, jetson: bool) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        pipeline_string(camera, jetson)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (CsiSource, {"flip_method": 8}),  # nvvidconv has 0..7
        (UsbSource, {"device": "/dev/video0 ! filesink location=/etc/passwd"}),  # pipeline injection
        (UsbSource, {"device": "/dev/sda"}),  # not a camera
        (UsbSource, {"resolution_wh": (8, 8)}),
        (UsbSource, {"fps": 0}),
        (RtspSource, {"url": "http://cam/stream"}),  # wrong scheme
        (RtspSource, {"url": 'rtsp://cam/a" ! filesink location=x'}),  # quote breaking out of location
        (RtspSource, {"url": "rtsp://cam/a b"}),  # a space ends the element
        (RtspSource, {"url": "rtsp://cam/a", "latency_ms": -1}),
        (RtspSource, {"url": "rtsp://cam/a", "timeout_ms": 10}),  # a watchdog that fires between frames
    ],
)
def test_the_config_refuses_what_would_break_a_pipeline(model, fields) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        model.model_validate(fields)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"etc/nv_tegra_release": "# R36 (release), REVISION: 4.0"}, True),  # L4T
        ({"proc/device-tree/model": "NVIDIA Jetson Orin Nano Developer Kit\0"}, True),
        ({"proc/device-tree/model": "Raspberry Pi 5 Model B\0"}, False),
        ({}, False),  # a PC
    ],
)
def test_is_jetson(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert is_jetson(tmp_path) is expected
