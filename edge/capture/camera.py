"""Camera readers: one thread per camera that keeps only the newest frame and reconnects with backoff.

Keeping one frame (not a queue) means a slow pipeline skips frames instead of falling further behind
the live scene. A read failure releases the capture and opens a new one (a GStreamer capture does not
recover by itself), waiting `reconnect_min_s`, doubling up to `reconnect_max_s`. A lost camera is logged
and counted; it never stops the agent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

import cv2
import numpy as np

from edge.capture.frames import Frame
from edge.capture.gstreamer import pipeline_string
from edge.config import CameraConfig, ConfigError, CsiSource, FileSource, UsbSource

log = logging.getLogger(__name__)


class Capture(Protocol):
    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def release(self) -> None: ...
    def get(self, prop: int) -> float: ...
    def set(self, prop: int, value: float) -> bool: ...


def capture_target(camera: CameraConfig, jetson: bool | None = None) -> tuple[str | int, int]:
    """What to hand `cv2.VideoCapture` for a camera: (filename, device or pipeline; API preference).

    With `gstreamer: true` (JetPack's OpenCV) sources become `edge.capture.gstreamer` pipelines ending in a leaky
    appsink that keeps one buffer; CSI cameras always need one. Elsewhere plain OpenCV opens files, devices
    and RTSP URLs. `jetson=None` detects the platform.

    Raises:
        ConfigError: the camera cannot be opened on this machine (a CSI camera off a Jetson).
    """
    src = camera.source
    if isinstance(src, FileSource):
        return str(src.path), cv2.CAP_ANY
    if isinstance(src, CsiSource) or camera.gstreamer:
        try:
            return pipeline_string(src, jetson), cv2.CAP_GSTREAMER
        except ValueError as exc:
            raise ConfigError(f"camera {camera.name}: {exc}") from exc
    if isinstance(src, UsbSource):
        return src.device, cv2.CAP_V4L2
    return src.url, cv2.CAP_FFMPEG


@dataclass(frozen=True)
class CameraState:
    connected: bool
    finished: bool
    frames: int
    reconnects: int
    last_error: str


class CameraReader:
    """Reads one camera in its own thread. `latest(after)` gives the newest frame newer than `after`.

    finite: a file that plays once; at its end the reader finishes instead of reconnecting. A looping
    file rewinds at its end; any other source that ends is a lost stream and is reopened.
    every_frame: wait until each frame was taken before reading the next (tests and benchmarks on files).
    """

    def __init__(
        self, camera: CameraConfig, new_frame: threading.Event, opener: Callable[[], Capture] | None = None
    ) -> None:
        self.name = camera.name
        self.config = camera
        src = camera.source
        self.finite = isinstance(src, FileSource) and not src.loop
        self.loop_file = isinstance(src, FileSource) and src.loop
        self.every_frame = isinstance(src, FileSource) and src.pacing == "every_frame"
        self.realtime_file = isinstance(src, FileSource) and src.pacing == "realtime"
        if opener is None:  # the target is worked out now: a camera this machine cannot open fails the start
            target, api = capture_target(camera)
            opener = lambda: cv2.VideoCapture(target, api)  # noqa: E731
        self._open = opener
        self._new_frame = new_frame
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self.connected = self.finished = False
        self.frames = self.reconnects = 0
        self.last_error = ""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def latest(self, after_index: int) -> Frame | None:
        with self._cond:
            frame = self._frame
            if frame is None or frame.index <= after_index:
                return None
            self._taken = True
            self._cond.notify_all()
            return frame

    def has_frame_after(self, after_index: int) -> bool:
        with self._cond:
            return self._frame is not None and self._frame.index > after_index

    @property
    def state(self) -> CameraState:
        return CameraState(self.connected, self.finished, self.frames, self.reconnects, self.last_error)

    def _run(self) -> None:
        delay = self.config.reconnect_min_s
        while not self._stop.is_set():
            read_any = self._read_until_failure()
            if self._stop.is_set() or (self.finished and self.finite):
                break
            self.reconnects += 1
            delay = self.config.reconnect_min_s if read_any else min(delay * 2, self.config.reconnect_max_s)
            # A camera that stays away should not flood the log: the first few attempts, then every 10th.
            level = logging.WARNING if self.reconnects <= 3 or self.reconnects % 10 == 0 else logging.DEBUG
            log.log(
                level,
                "camera %s: %s; reconnecting in %.1f s (attempt %d)",
                self.name,
                self.last_error,
                delay,
                self.reconnects,
            )
            self._stop.wait(delay)
        self.connected = False
        self._new_frame.set()

    def _read_until_failure(self) -> bool:
        """Open, read frames until the stream fails or ends; True if any frame was read."""
        cap = self._open()
        read_any = False
        try:
            if not cap.isOpened():
                self.last_error = "cannot open source"
                return False
            self.connected = True
            if self.reconnects:
                log.info("camera %s: connected again after %d reconnects", self.name, self.reconnects)
            fps = cap.get(cv2.CAP_PROP_FPS) if self.realtime_file else 0.0
            period = 1.0 / fps if fps > 0 else 0.0
            next_due = time.monotonic()
            since_rewind = 0
            while not self._stop.is_set():
                ok, image = cap.read()
                if not ok or image is None:
                    # A looping file starts over in place; a rewind that yields nothing is a failure.
                    if self.loop_file and since_rewind and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        since_rewind = 0
                        continue
                    self.last_error = "stream ended" if read_any else "no frames"
                    self.finished = self.finite and read_any
                    return read_any
                read_any = True
                since_rewind += 1
                self._hand_over(image)
                if period:
                    next_due += period
                    self._stop.wait(max(next_due - time.monotonic(), 0.0))
        finally:
            self.connected = False
            cap.release()
        return read_any

    def _hand_over(self, image: np.ndarray) -> None:
        with self._cond:
            if self.every_frame:
                while not self._taken and not self._stop.is_set():
                    self._cond.wait(0.5)
            self.frames += 1
            self._frame = Frame(self.name, image, datetime.now(timezone.utc), self.frames)
            self._taken = False
        self._new_frame.set()
