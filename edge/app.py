"""The edge agent's composition root: builds everything from the config, starts it, stops it in reverse.

Start order follows the data backwards (sinks before sources): the hub link (outbox, MQTT link, updater:
`edge.hub_link`), HTTP port, frame loop, cameras, stats. Stop is the exact reverse, so the frame loop ends
its open tracks while the outbox and link still run, and `offline` is published last, by us, before the
disconnect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from edge.capture.camera import CameraReader
from edge.config import EdgeConfig
from edge.deliver.collect_upload import CollectDesk
from edge.frame_loop import FrameLoop
from edge.hub_link import HubLink
from edge.ops import sdnotify
from edge.ops.httpd import HealthServer
from edge.ops.metrics import EdgeMetrics
from edge.recognize.events import TrackEventRecord, to_wire
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder, pipeline_for_model
from edge.recognize.processor import CameraProcessor
from edge.update.slots import SlotStore
from facefleet.gallery import Gallery, GalleryError
from facefleet.wire import CameraStats, DeviceStats
from models.engines.blas import single_threaded_blas
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)


def boot_recognizer(config: EdgeConfig) -> ModelGallery:
    """The (model, gallery) pair to start with: the active slots after an update, else the config's."""
    models, galleries = SlotStore(config.state_dir / "models"), SlotStore(config.state_dir / "galleries")
    model_version = models.current_version() or ""
    if model_version:
        signed, path = models.manifest(model_version), models.artifact(model_version)
        pipeline = pipeline_for_model(config.pipeline, signed, path)
    else:
        pipeline = FacePipeline.from_config(config.pipeline)
    empty = Gallery.empty(pipeline.model_id, pipeline.embedder.dim)
    gallery_version = galleries.current_version()
    try:
        if gallery_version:
            gallery = Gallery.load(galleries.artifact(gallery_version))
        elif config.gallery_path is not None:
            gallery = Gallery.load(config.gallery_path)
        else:
            log.warning("no gallery yet: every face is unknown until the hub sends one")
            gallery = empty
        return ModelGallery(pipeline, gallery, model_version)
    except GalleryError as exc:
        log.error("gallery unusable, starting with an empty one: %s", exc)
        return ModelGallery(pipeline, empty, model_version)


class EdgeApp:
    def __init__(self, config: EdgeConfig) -> None:
        single_threaded_blas()  # the agent runs its own threads (models/engines/blas.py)
        self.config = config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.new_frame = threading.Event()
        # First: a camera this machine cannot open (CSI off a Jetson) stops the start before anything loads.
        self.readers = [CameraReader(c, self.new_frame) for c in config.cameras]
        self.metrics = EdgeMetrics()
        self.holder = ModelGalleryHolder(boot_recognizer(config))
        self.hub_link = HubLink(config, self.holder, self.metrics)
        self.outbox, self.link, self.topics = self.hub_link.outbox, self.hub_link.link, self.hub_link.topics
        processors = {
            c.name: CameraProcessor(c.name, self.holder, config.tracker, config.recognition, config.detection)
            for c in config.cameras
        }
        self.collect = self._make_collect_desk()
        self.loop = FrameLoop(
            self.readers,
            processors,
            self.store_events,
            self.metrics,
            self.new_frame,
            config.tracker.lost_after_s,
            self.collect.observe if self.collect else None,
        )
        self.http = HealthServer(config.http.host, config.http.port, self.metrics.registry, self.healthy)
        self._stop = threading.Event()
        self._last_stats = 0.0
        self._backlog = 0
        self._stats = threading.Thread(target=self._stats_loop, name="stats", daemon=True)

    def _make_collect_desk(self) -> CollectDesk | None:
        """Enrollment at this device, subscribed to its collect topic; None when off or with no hub URL."""
        cfg = self.config
        if not cfg.collect.enabled or cfg.updates.hub_url is None:
            log.info(
                "collections off (%s)",
                "collect.enabled is false" if not cfg.collect.enabled else "no updates.hub_url to upload to",
            )
            return None
        desk = CollectDesk({c.name for c in cfg.cameras}, cfg.updates.hub_url, cfg.updates.tls, cfg.collect)
        self.link.subscribe(self.topics.collect(cfg.device_id), desk.on_message)
        return desk

    def start(self) -> None:
        if self.collect:
            self.collect.start()
        self.hub_link.start()
        self.http.start()
        self.loop.start()
        for reader in self.readers:
            reader.start()
        self._stats.start()
        log.info(
            "agent %s started with %d camera(s), model %s, gallery %s",
            self.config.device_id,
            len(self.readers),
            self.holder.current.model_id,
            self.holder.current.gallery.version,
        )
        sdnotify.ready(f"{len(self.readers)} camera(s)")  # Type=notify: systemd counts us as started now

    def stop(self) -> None:
        log.info("agent %s stopping", self.config.device_id)
        sdnotify.stopping()
        self._stop.set()
        self._stats.join(5)
        for reader in reversed(self.readers):
            reader.stop()
        self.loop.stop()
        if self.collect:
            self.collect.stop()
        self._drain(timeout_s=3.0)
        self.http.stop()
        self.hub_link.stop()
        log.info("agent %s stopped (%d events left in the outbox)", self.config.device_id, self._backlog)

    def _drain(self, timeout_s: float) -> None:
        """Give the link a moment to deliver what the last frames produced; the rest waits in the outbox."""
        deadline = time.monotonic() + timeout_s
        while self.link.connected and self.outbox.backlog and time.monotonic() < deadline:
            time.sleep(0.05)
        self._backlog = self.outbox.backlog

    def store_events(self, records: list[TrackEventRecord]) -> None:
        topic = self.topics.events(self.config.device_id)
        for record in records:
            self.outbox.append(topic, self._renderer(record))

    def _renderer(self, record: TrackEventRecord) -> Callable[[int, str], bytes]:
        """The payload of a record once the outbox has given it a seq and an event id."""

        def render(seq: int, event_id: str) -> bytes:
            return to_wire(record, self.config.device_id, seq, event_id).model_dump_json().encode()

        return render

    def healthy(self) -> tuple[bool, str]:
        quiet = time.monotonic() - self.loop.heartbeat
        if quiet > self.config.http.stalled_after_s:
            return False, f"frame loop stalled for {quiet:.0f} s\n"
        return True, "ok\n"

    def stats(self) -> DeviceStats:
        cameras = {
            r.name: CameraStats(
                fps=self.loop.fps(r.name),
                connected=r.connected,
                reconnects=r.reconnects,
                dropped=self.loop.dropped[r.name],
                lag_ms=round(self.loop.lag_ms[r.name], 1),
            )
            for r in self.readers
        }
        return DeviceStats(
            device_id=self.config.device_id,
            ts=datetime.now(timezone.utc),
            cameras=cameras,
            active_tracks=self.loop.active_tracks,
            outbox_backlog=self.outbox.backlog,
            stage_ms={k: round(v, 2) for k, v in self.loop.stage_ms.items()},
        )

    def _stats_loop(self) -> None:
        while not self._stop.wait(min(self.config.mqtt.stats_every_s, 1.0)):
            self._update_gauges()
            if time.monotonic() - self._last_stats >= self.config.mqtt.stats_every_s:
                self._last_stats = time.monotonic()
                self.link.publish_now(self.topics.stats(self.config.device_id), self.stats())

    def _update_gauges(self) -> None:
        m = self.metrics
        for r in self.readers:
            m.fps.labels(r.name).set(self.loop.fps(r.name))
            m.camera_up.labels(r.name).set(int(r.connected))
            m.reconnects.labels(r.name).set(r.reconnects)
        m.frame_queue.set(sum(r.has_frame_after(self.loop.last_index(r.name)) for r in self.readers))
        m.outbox_backlog.set(self.outbox.backlog)
        m.outbox_dropped.set(self.outbox.dropped)
        m.mqtt_connected.set(int(self.link.connected))

    def run_until_stopped(self, stop: threading.Event) -> None:
        """Start, wait for `stop` (set by SIGTERM/SIGINT in the CLI), stop."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
