"""Enrollment at this device: the hub's collection requests in, the chosen crops out to the hub over HTTPS.

A `CollectRequest` arrives on `<prefix>/<device>/collect` (only this device and the hub may read it). The
named camera collects for the asked seconds (`edge.recognize.collect.CropCollection`, fed by the frame loop:
a dictionary look-up per frame when nothing is being collected); then this module's own thread picks the
crops, encodes them and uploads them to the configured hub (`updates.hub_url`, `updates.tls`: the one-use
token goes nowhere else) with retries until the token expires. The frame loop never waits on the network.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import cv2
import httpx
import numpy as np
from pydantic import ValidationError

from edge.capture.frames import Frame
from edge.config import CollectConfig
from edge.recognize.collect import CropCollection
from edge.recognize.processor import FrameResult
from edge.update.download import ssl_context
from facefleet.config_base import TlsFiles
from facefleet.wire import CollectRequest

log = logging.getLogger(__name__)
_RETRY_S = (1.0, 2.0, 5.0, 10.0)


@dataclass
class _Active:
    request: CollectRequest
    collection: CropCollection
    ends: float  # monotonic


def encode_crops(crops_rgb: list[np.ndarray], quality: int) -> list[bytes]:
    """(S, S, 3) RGB crops -> JPEG bytes."""
    encoded = []
    for crop in crops_rgb:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            encoded.append(buf.tobytes())
    return encoded


class CollectDesk:
    """Started by the agent when collections are on; `observe` is called by the frame loop for every frame."""

    def __init__(self, cameras: set[str], hub_url: str, tls: TlsFiles | None, config: CollectConfig) -> None:
        self.cameras = cameras
        self.hub = hub_url.rstrip("/")
        self.verify = ssl_context(tls) if tls else True
        self.config = config
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._done: queue.SimpleQueue[_Active | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collect-upload", daemon=True)
        self.uploaded = 0  # collections uploaded (tests and logs)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._done.put(None)
        self._thread.join(5)

    @property
    def collecting(self) -> set[str]:
        """The cameras collecting now."""
        with self._lock:
            return set(self._active)

    def on_message(self, topic: str, payload: bytes) -> None:
        """MQTT handler (paho's thread): start a collection on the named camera."""
        try:
            request = CollectRequest.model_validate_json(payload)
        except ValidationError as exc:
            log.error("collect: ignoring a malformed request on %s: %s", topic, exc)
            return
        if request.camera not in self.cameras:
            log.error("collect %s: no camera %r here", request.collection_id, request.camera)
            return
        if request.expires <= datetime.now(timezone.utc):
            log.warning("collect %s: the request expired before it arrived", request.collection_id)
            return
        with self._lock:
            if request.camera in self._active:
                log.warning("collect %s: camera %s is collecting already", request.collection_id, request.camera)
                return
            self._active[request.camera] = _Active(
                request, CropCollection(request.max_crops), time.monotonic() + request.seconds
            )
        log.info("collect %s: %s collects for %.0f s", request.collection_id, request.camera, request.seconds)

    def observe(self, frame: Frame, result: FrameResult) -> None:
        """Frame loop: feed the camera's collection, if it has one running."""
        active = self._active.get(frame.camera)
        if active is None:
            return
        height, width = frame.image_bgr.shape[:2]
        active.collection.observe(result.sightings, result.pooled, (width, height))
        if time.monotonic() >= active.ends:
            self._finish(frame.camera)

    def _finish(self, camera: str) -> None:
        with self._lock:
            active = self._active.pop(camera, None)
        if active is not None:
            self._done.put(active)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                active = self._done.get(timeout=0.5)
            except queue.Empty:
                self._finish_overdue()  # a camera that sends no frames still ends its collection
                continue
            if active is None:
                return
            self._upload(active)

    def _finish_overdue(self) -> None:
        now = time.monotonic()
        for camera in [c for c, a in list(self._active.items()) if now >= a.ends + 1.0]:
            self._finish(camera)

    def _upload(self, active: _Active) -> None:
        """Pick and encode the crops, upload them; retry a network failure or a hub error until the token
        expires. A 4xx answer is final (the hub refused these crops or this token)."""
        request = active.request
        crops = encode_crops(active.collection.chosen(), self.config.jpeg_quality)
        if not crops:
            log.warning(
                "collect %s: no face on %s in %d frames; nothing to upload",
                request.collection_id,
                request.camera,
                active.collection.frames,
            )
            return
        url = f"{self.hub}/api/collections/{request.collection_id}/crops"
        files = [("files", (f"{n:02d}.jpg", jpeg, "image/jpeg")) for n, jpeg in enumerate(crops)]
        headers = {"Authorization": f"Bearer {request.token}"}
        for attempt in itertools.count():
            try:
                answer = httpx.post(
                    url,
                    files=files,
                    headers=headers,
                    verify=self.verify,
                    timeout=self.config.upload_timeout_s,
                    follow_redirects=False,
                )
                if answer.status_code < 500:
                    break
                why = f"hub answered {answer.status_code}"
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            wait_s = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
            if datetime.now(timezone.utc).timestamp() + wait_s >= request.expires.timestamp():
                log.error("collect %s: upload failed (%s); the token expires, giving up", request.collection_id, why)
                return
            log.warning("collect %s: upload failed (%s); retrying in %.0f s", request.collection_id, why, wait_s)
            if self._stop.wait(wait_s):
                return
        if answer.status_code >= 300:
            log.error(
                "collect %s: the hub refused the upload: %s %s",
                request.collection_id,
                answer.status_code,
                answer.text[:300],
            )
            return
        self.uploaded += 1
        log.info("collect %s: %d crops uploaded", request.collection_id, len(crops))
