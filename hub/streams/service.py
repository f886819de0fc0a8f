"""What every thin-camera stream shares: who may stream, how many at once, the gallery, event numbers.

A stream is a camera without an accelerator (a small ARM board, a phone, a browser tab) that sends JPEG
frames to the hub; the hub runs the agent's own `CameraProcessor` for it and publishes its track events
under the device's id, on the device's topic, numbered as an agent's outbox numbers them, so subscribers
cannot tell a thin camera from an agent. The per-connection work is `hub.streams.session`.

Who: a `device` token streams as the device it is bound to. An `admin` token may stream as any device it
names (an operator testing a camera from a browser); an `enroll` token may not, since it would let someone
who may only add samples put events on the fleet's bus in a device's name, nor may a `collect` token (bound
to a device, but for its one upload only).
What it matches against: the newest gallery the hub signed for its active model (not revoked), checked
again every `stream.gallery_check_s`; a thin camera takes no rollouts, it follows the hub.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edge.recognize.events import TrackEventRecord, to_wire
from edge.recognize.model_gallery import ModelGallery
from facefleet.gallery import Gallery, GalleryError
from facefleet.stream import CLOSE_POLICY, CLOSE_TRY_LATER, Hello
from facefleet.wire import Topics, TrackEvent
from hub.artifacts.store import ArtifactStore
from hub.db import HubDb
from hub.settings import StreamConfig
from hub.tokens import TokenStore
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamRefused(Exception):
    """A stream closed before its first frame: the WebSocket close code and a reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class StreamLease:
    """An admitted stream: the device it speaks for and its camera. Give it back with `StreamService.leave`."""

    device_id: str
    camera: str


class StreamService:
    def __init__(
        self,
        config: StreamConfig,
        tokens: TokenStore,
        hub_db: HubDb,
        artifacts: ArtifactStore,
        pipeline: Callable[[], FacePipeline],
        topics: Topics,
        publish: Callable[[str, bytes], object] | None,
    ) -> None:
        """pipeline: the hub's active pipeline (read per gallery check); publish: (topic, payload) to the
        broker, None without one (events then reach only the stream's own socket)."""
        self.config = config
        self.tokens = tokens
        self.hub_db = hub_db
        self.artifacts = artifacts
        self.pipeline = pipeline
        self.topics = topics
        self.publish = publish
        self.executor = ThreadPoolExecutor(config.workers, thread_name_prefix="stream")
        self._open: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._gallery: tuple[str, Path, Gallery] | None = None  # (version, file, loaded) shared by all streams
        self._checked = 0.0
        self.refused = 0  # streams refused (bad hello, token, too many)
        self.closed: Counter[int] = Counter()  # streams the hub closed after their hello, by close code
        self.frames_processed = 0  # over all streams since start (the session adds its figures as it goes)
        self.frames_dropped = 0

    @property
    def open_streams(self) -> int:
        return len(self._open)

    def join(self, hello: Hello) -> StreamLease:
        """Admit a stream for a hello; raises `StreamRefused` (an unknown token, a token that may not stream,
        `max_streams` open, or that device's camera streaming already)."""
        lease = self._identify(hello)
        with self._lock:
            if len(self._open) >= self.config.max_streams:
                self.refused += 1
                raise StreamRefused(
                    CLOSE_TRY_LATER, f"the hub takes {self.config.max_streams} streams at once; all are open"
                )
            if (lease.device_id, lease.camera) in self._open:
                self.refused += 1
                raise StreamRefused(CLOSE_TRY_LATER, f"{lease.device_id}/{lease.camera} is streaming already")
            self._open.add((lease.device_id, lease.camera))
        return lease

    def leave(self, lease: StreamLease) -> None:
        with self._lock:
            self._open.discard((lease.device_id, lease.camera))

    def _identify(self, hello: Hello) -> StreamLease:
        info = self.tokens.lookup(hello.token)
        if info is None:
            self.refused += 1
            raise StreamRefused(CLOSE_POLICY, "unknown or revoked token")
        if info.device_id is not None and info.allows("device"):  # a device token: the device is its own
            # (a one-use `collect` token is bound to a device too, but may only upload its crops)
            if hello.device not in (None, info.device_id):
                self.refused += 1
                raise StreamRefused(CLOSE_POLICY, f"this token streams as {info.device_id}, not {hello.device}")
            return StreamLease(info.device_id, hello.camera)
        if info.allows("admin") and hello.device:
            return StreamLease(hello.device, hello.camera)
        self.refused += 1
        raise StreamRefused(CLOSE_POLICY, "streaming needs a device token, or an admin token and a device name")

    def recognizer(self) -> ModelGallery:
        """The hub's pipeline with the newest gallery of its model (loaded once for all streams)."""
        pipeline = self.pipeline()
        now = time.monotonic()
        if self._gallery is None or now - self._checked >= self.config.gallery_check_s:
            self._checked = now
            self._gallery = self._newest_gallery(pipeline)
        gallery = self._gallery[2] if self._gallery else None
        if gallery is None or gallery.model_id != pipeline.model_id:
            gallery = Gallery.empty(pipeline.model_id, pipeline.embedder.dim)
        return ModelGallery(pipeline, gallery)

    def _newest_gallery(self, pipeline: FacePipeline) -> tuple[str, Path, Gallery] | None:
        records = [r for r in self.artifacts.signed("gallery") if r.model_id == pipeline.model_id and not r.revoked]
        if not records:
            return None
        version = records[-1].version
        if self._gallery is not None and self._gallery[0] == version:
            return self._gallery
        try:
            path = self.artifacts.file_path("gallery", version)
            return version, path, Gallery.load(path)
        except (GalleryError, OSError) as exc:  # revoked or removed between the two reads: keep the last one
            log.warning("stream gallery %s unusable: %s", version, exc)
            return self._gallery

    def next_seq(self, device_id: str) -> int:
        """The device's next event number (1 for its first), stored before the event is published."""
        with self.hub_db.transaction() as db:
            row = db.execute("SELECT seq FROM stream_event_seq WHERE device_id = ?", [device_id]).fetchone()
            seq = int(row[0]) + 1 if row else 1
            if row:
                db.execute("UPDATE stream_event_seq SET seq = ? WHERE device_id = ?", [seq, device_id])
            else:
                db.execute("INSERT INTO stream_event_seq (device_id, seq) VALUES (?, ?)", [device_id, seq])
        return seq

    def publish_event(self, lease: StreamLease, record: TrackEventRecord) -> TrackEvent:
        """A processor's event as its wire document, numbered and published on the device's events topic."""
        event = to_wire(record, lease.device_id, self.next_seq(lease.device_id), uuid.uuid4().hex)
        if self.publish is not None:
            self.publish(self.topics.events(lease.device_id), event.model_dump_json().encode())
        return event

    def stop(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
