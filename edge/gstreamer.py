"""GStreamer pipeline strings for OpenCV's CAP_GSTREAMER: CSI, USB and RTSP cameras, Jetson or not.

On a Jetson, frames are decoded by the hardware (nvv4l2decoder, nvarguscamerasrc's ISP) and converted in
NVMM memory by nvvidconv; elsewhere software decoders (avdec_h264) do the same job. Every pipeline ends in
an appsink that keeps only the newest frame (drop=true max-buffers=1 sync=false): a face pipeline slower
than the camera must see the present, not a growing queue of the past. Network sources get a `watchdog`
element, so a silent camera turns into an error (and a reconnect by the caller) instead of a read() that
blocks forever. Pure functions: the camera sources call them, the tests check them table by table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

APPSINK = "appsink drop=true max-buffers=1 sync=false"
TO_BGR = "videoconvert ! video/x-raw,format=BGR"
_DEVICE_RE = re.compile(r"^/dev/video\d+$|^/dev/v4l/by-(id|path)/[A-Za-z0-9._:-]+$")
_URL_RE = re.compile(r"^rtsps?://[^\s\"'\\]+$")


@dataclass(frozen=True)
class CsiCamera:
    """A MIPI CSI sensor through Argus (Jetson only). flip_method: nvvidconv's 0..7 (2 = rotate 180)."""

    sensor_id: int = 0
    resolution_wh: tuple[int, int] = (1280, 720)
    fps: int = 30
    flip_method: int = 0


@dataclass(frozen=True)
class UsbCamera:
    """A V4L2 webcam. `mjpeg` asks the camera for JPEG frames (needed for 720p30 on most USB 2 cameras)."""

    device: str = "/dev/video0"
    resolution_wh: tuple[int, int] = (1280, 720)
    fps: int = 30
    mjpeg: bool = False


@dataclass(frozen=True)
class RtspCamera:
    """An IP camera stream. latency_ms is rtspsrc's jitter buffer: lower is fresher, too low stutters."""

    url: str
    codec: Literal["h264", "h265"] = "h264"
    latency_ms: int = 200
    tcp: bool = True
    timeout_ms: int = 5000


Camera = CsiCamera | UsbCamera | RtspCamera


def is_jetson(root: Path = Path("/")) -> bool:
    """True on an NVIDIA Jetson (L4T release file, or the device-tree model says so)."""
    if (root / "etc/nv_tegra_release").exists():
        return True
    model = root / "proc/device-tree/model"
    return model.exists() and "jetson" in model.read_bytes().decode(errors="ignore").lower()


def _check_common(resolution_wh: tuple[int, int], fps: int) -> None:
    w, h = resolution_wh
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise ValueError(f"resolution {resolution_wh} out of range")
    if not 1 <= fps <= 240:
        raise ValueError(f"fps {fps} out of range")


def csi_pipeline(camera: CsiCamera, jetson: bool = True) -> str:
    if not jetson:
        raise ValueError("CSI cameras (nvarguscamerasrc) exist only on a Jetson")
    if not 0 <= camera.flip_method <= 7 or camera.sensor_id < 0:
        raise ValueError(f"invalid CSI settings {camera}")
    _check_common(camera.resolution_wh, camera.fps)
    w, h = camera.resolution_wh
    return (f"nvarguscamerasrc sensor-id={camera.sensor_id} ! "
            f"video/x-raw(memory:NVMM),width={w},height={h},format=NV12,framerate={camera.fps}/1 ! "
            f"nvvidconv flip-method={camera.flip_method} ! video/x-raw,format=BGRx ! {TO_BGR} ! {APPSINK}")


def usb_pipeline(camera: UsbCamera, jetson: bool) -> str:
    if not _DEVICE_RE.match(camera.device):
        raise ValueError(f"not a V4L2 device path: {camera.device!r}")
    _check_common(camera.resolution_wh, camera.fps)
    w, h = camera.resolution_wh
    caps = f"width={w},height={h},framerate={camera.fps}/1"
    source = f"v4l2src device={camera.device}"
    if not camera.mjpeg:
        return f"{source} ! video/x-raw,{caps} ! {TO_BGR} ! {APPSINK}"
    decode = ("nvv4l2decoder mjpeg=1 ! nvvidconv ! video/x-raw,format=BGRx" if jetson else "jpegdec")
    return f"{source} ! image/jpeg,{caps} ! {decode} ! {TO_BGR} ! {APPSINK}"


def rtsp_pipeline(camera: RtspCamera, jetson: bool) -> str:
    if not _URL_RE.match(camera.url):
        raise ValueError("not an rtsp:// or rtsps:// URL without spaces or quotes")
    if not 0 <= camera.latency_ms <= 10_000 or camera.timeout_ms < 100:
        raise ValueError(f"invalid RTSP timings {camera.latency_ms=} {camera.timeout_ms=}")
    protocols = " protocols=tcp" if camera.tcp else ""
    depay = f"rtp{camera.codec}depay ! {camera.codec}parse"
    if jetson:
        decode = "nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx"
    else:
        decode = f"avdec_{camera.codec}"
    return (f'rtspsrc location="{camera.url}" latency={camera.latency_ms}{protocols} ! '
            f"watchdog timeout={camera.timeout_ms} ! {depay} ! {decode} ! "
            f"queue max-size-buffers=1 leaky=downstream ! {TO_BGR} ! {APPSINK}")


def pipeline_string(camera: Camera, jetson: bool | None = None) -> str:
    """The pipeline for any camera; `jetson=None` detects the platform."""
    on_jetson = is_jetson() if jetson is None else jetson
    if isinstance(camera, CsiCamera):
        return csi_pipeline(camera, on_jetson)
    if isinstance(camera, UsbCamera):
        return usb_pipeline(camera, on_jetson)
    return rtsp_pipeline(camera, on_jetson)
