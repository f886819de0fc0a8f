"""GStreamer pipeline strings for OpenCV's CAP_GSTREAMER: CSI, USB and RTSP cameras, Jetson or not.

On a Jetson, frames are decoded by the hardware (nvv4l2decoder, nvarguscamerasrc's ISP) and converted in
NVMM memory by nvvidconv; elsewhere software decoders (avdec_h264) do the same job. Every pipeline ends in
an appsink that keeps only the newest frame (drop=true max-buffers=1 sync=false): a face pipeline slower
than the camera must see the present, not a growing queue of the past. Network sources get a `watchdog`
element, so a silent camera turns into an error (and a reconnect by the caller) instead of a read() that
blocks forever. Pure functions of the config's camera sources: `edge.capture.camera` calls them, the tests check
them table by table.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge.config import RTSP_URL_PATTERN, V4L2_PATH_PATTERN, CsiSource, RtspSource, UsbSource

APPSINK = "appsink drop=true max-buffers=1 sync=false"
TO_BGR = "videoconvert ! video/x-raw,format=BGR"
# The config refuses these already; checked again here, where the text becomes part of a pipeline.
_DEVICE_RE = re.compile(V4L2_PATH_PATTERN)
_URL_RE = re.compile(RTSP_URL_PATTERN)

PipelineSource = CsiSource | UsbSource | RtspSource


def is_jetson(root: Path = Path("/")) -> bool:
    """True on an NVIDIA Jetson (L4T release file, or the device-tree model says so)."""
    if (root / "etc/nv_tegra_release").exists():
        return True
    model = root / "proc/device-tree/model"
    return model.exists() and "jetson" in model.read_bytes().decode(errors="ignore").lower()


def csi_pipeline(source: CsiSource, jetson: bool = True) -> str:
    if not jetson:
        raise ValueError("CSI cameras (nvarguscamerasrc) exist only on a Jetson")
    w, h = source.resolution_wh
    return (
        f"nvarguscamerasrc sensor-id={source.sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={w},height={h},format=NV12,framerate={source.fps}/1 ! "
        f"nvvidconv flip-method={source.flip_method} ! video/x-raw,format=BGRx ! {TO_BGR} ! {APPSINK}"
    )


def usb_pipeline(source: UsbSource, jetson: bool) -> str:
    device = f"/dev/video{source.device}" if isinstance(source.device, int) else source.device
    if not _DEVICE_RE.match(device):
        raise ValueError(f"not a V4L2 device path: {device!r}")
    w, h = source.resolution_wh
    caps = f"width={w},height={h}" + (f",framerate={source.fps}/1" if source.fps else "")
    head = f"v4l2src device={device}"
    if not source.mjpeg:
        return f"{head} ! video/x-raw,{caps} ! {TO_BGR} ! {APPSINK}"
    decode = "nvv4l2decoder mjpeg=1 ! nvvidconv ! video/x-raw,format=BGRx" if jetson else "jpegdec"
    return f"{head} ! image/jpeg,{caps} ! {decode} ! {TO_BGR} ! {APPSINK}"


def rtsp_pipeline(source: RtspSource, jetson: bool) -> str:
    if not _URL_RE.match(source.url):
        raise ValueError("not an rtsp:// or rtsps:// URL without spaces or quotes")
    protocols = " protocols=tcp" if source.tcp else ""
    depay = f"rtp{source.codec}depay ! {source.codec}parse"
    if jetson:
        decode = "nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx"
    else:
        decode = f"avdec_{source.codec}"
    return (
        f'rtspsrc location="{source.url}" latency={source.latency_ms}{protocols} ! '
        f"watchdog timeout={source.timeout_ms} ! {depay} ! {decode} ! "
        f"queue max-size-buffers=1 leaky=downstream ! {TO_BGR} ! {APPSINK}"
    )


def pipeline_string(source: PipelineSource, jetson: bool | None = None) -> str:
    """The pipeline for a camera source; `jetson=None` detects the platform.

    Raises:
        ValueError: a CSI camera off a Jetson, or a URL or device that would not stay one pipeline element.
    """
    on_jetson = is_jetson() if jetson is None else jetson
    if isinstance(source, CsiSource):
        return csi_pipeline(source, on_jetson)
    if isinstance(source, UsbSource):
        return usb_pipeline(source, on_jetson)
    return rtsp_pipeline(source, on_jetson)
