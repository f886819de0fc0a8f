"""The frame loop: takes the newest frame of each camera in turn and runs it through its processor.

One thread does all inference (the accelerator is shared anyway); cameras are visited round-robin so a
busy camera cannot starve the others. A round takes the newest frame of every camera that has one, runs
each up to its embedder step, embeds all their due faces in one batch (`embed_together`), then finishes
each. Events go to a sink (the outbox), never to the network directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from edge.capture.camera import CameraReader
from edge.capture.frames import Frame
from edge.ops.metrics import EdgeMetrics
from edge.ops.sdnotify import WatchdogPinger
from edge.recognize.events import TrackEventRecord, describe
from edge.recognize.processor import CameraProcessor, FrameResult, PendingFrame, embed_together

log = logging.getLogger(__name__)

EventSink = Callable[[list[TrackEventRecord]], None]
FrameObserver = Callable[[Frame, FrameResult], None]
"""Told every processed frame and its result, on the loop's thread (a collection of crops): must be quick."""


class FrameLoop:
    """Runs in its own thread until `stop()`; `heartbeat` is the monotonic time of the last iteration."""

    def __init__(
        self,
        readers: list[CameraReader],
        processors: dict[str, CameraProcessor],
        sink: EventSink,
        metrics: EdgeMetrics,
        new_frame: threading.Event,
        lost_after_s: float,
        observer: FrameObserver | None = None,
    ) -> None:
        self.readers = readers
        self.observer = observer
        self.processors = processors
        self.sink = sink
        self.metrics = metrics
        self.new_frame = new_frame
        self.lost_after = timedelta(seconds=lost_after_s)
        self.heartbeat = time.monotonic()
        self._watchdog = WatchdogPinger()
        self._last_index = {r.name: 0 for r in readers}
        self._times: dict[str, deque[float]] = {r.name: deque(maxlen=300) for r in readers}
        self.stage_ms: dict[str, float] = {}  # moving average per stage, for the stats topic
        self.dropped = dict.fromkeys(self._last_index, 0)  # frames a newer frame overtook, per camera
        self.lag_ms = dict.fromkeys(self._last_index, 0.0)  # capture -> processed, moving average
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current frame and end every open track (their `track_ended` events are stored)."""
        self._stop.set()
        self.new_frame.set()
        self._thread.join(timeout_s)
        now = datetime.now(timezone.utc)
        for processor in self.processors.values():
            self._emit(processor.end_all(now))

    def fps(self, camera: str) -> float:
        """Frames processed per second over the last 10 s."""
        now = time.monotonic()
        recent = [t for t in self._times[camera] if now - t <= 10.0]
        return len(recent) / min(10.0, max(now - recent[0], 1e-3)) if len(recent) > 1 else 0.0

    def last_index(self, camera: str) -> int:
        return self._last_index[camera]

    @property
    def active_tracks(self) -> int:
        return sum(p.active_tracks for p in self.processors.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.new_frame.wait(0.5)
            self.new_frame.clear()
            self.heartbeat = time.monotonic()
            self._watchdog.ping()  # from the loop itself: a hung loop stops the pings and systemd restarts us
            try:
                self._round()
            except Exception:  # the loop is the agent's heartbeat: log, pause, go on
                log.exception("frame loop error")
                self._stop.wait(1.0)

    def _round(self) -> None:
        """Visit every camera once: process the newest frames of those that have one (their faces embedded
        together), then end the stale tracks."""
        frames = []
        for reader in self.readers:
            frame = reader.latest(self._last_index[reader.name])
            if frame is not None:
                self._count_dropped(reader.name, frame.index)
                self._last_index[reader.name] = frame.index
                frames.append(frame)
        if frames and not self._stop.is_set():
            self._process(frames)
            self.new_frame.set()  # others may have frames waiting: go round again
        for reader in self.readers:
            self._expire(reader)

    def _count_dropped(self, camera: str, index: int) -> None:
        """Frames numbered between the last one taken and this one were replaced in the reader's one-frame
        slot before the loop came to them: the camera's frames are dropped, the agent's latency is not."""
        skipped = max(index - self._last_index[camera] - 1, 0)
        if skipped:
            self.dropped[camera] += skipped
            self.metrics.dropped.labels(camera).inc(skipped)

    def _process(self, frames: list[Frame]) -> None:
        """Frames of different cameras: begin each, embed their faces in one batch, finish each. A frame
        that fails is logged and dropped; one bad frame or model hiccup must not stop the agent."""
        pending: list[PendingFrame] = []
        for frame in frames:
            try:
                pending.append(self.processors[frame.camera].begin(frame))
            except Exception:
                log.exception("camera %s: frame processing failed", frame.camera)
        try:
            embedded = embed_together(pending)
        except Exception:
            log.exception("embedding the faces of %d frame(s) failed", len(pending))
            return
        for frame_pending, embeddings in zip(pending, embedded, strict=True):
            frame = frame_pending.frame
            try:
                result = self.processors[frame.camera].finish(frame_pending, embeddings)
            except Exception:
                log.exception("camera %s: frame processing failed", frame.camera)
                continue
            self._done(frame, result)

    def _done(self, frame: Frame, result: FrameResult) -> None:
        camera = frame.camera
        self._times[camera].append(time.monotonic())
        lag_s = max((datetime.now(timezone.utc) - frame.ts).total_seconds(), 0.0)
        self.metrics.lag.labels(camera).observe(lag_s)
        self.lag_ms[camera] = 0.9 * self.lag_ms[camera] + 100 * lag_s if self.lag_ms[camera] else 1000 * lag_s
        self._record(camera, result)
        self._emit(result.events)
        if self.observer is not None:
            self.observer(frame, result)

    def _record(self, camera: str, result: FrameResult) -> None:
        m = self.metrics
        m.frames.labels(camera).inc()
        m.faces.labels(camera).inc(result.faces)
        m.embedded.labels(camera).inc(result.embedded)
        for stage, seconds in result.stage_s.items():
            m.stage.labels(stage).observe(seconds)
            self.stage_ms[stage] = 0.9 * self.stage_ms.get(stage, seconds * 1000) + 0.1 * seconds * 1000
        m.active_tracks.set(self.active_tracks)

    def _expire(self, reader: CameraReader) -> None:
        """End the tracks of a camera that finished or sent nothing for `lost_after_s`."""
        processor = self.processors[reader.name]
        if not processor.active_tracks or processor.last_frame_ts is None:
            return
        now = datetime.now(timezone.utc)
        if reader.finished or now - processor.last_frame_ts > self.lost_after:
            if reader.finished and reader.has_frame_after(self._last_index[reader.name]):
                return  # its last frame is still waiting: take it first
            self._emit(processor.end_all(now))

    def _emit(self, events: list[TrackEventRecord]) -> None:
        if not events:
            return
        for event in events:
            self.metrics.events.labels(event.type).inc()
            log.info("event %s", describe(event))
        try:
            self.sink(events)
        except Exception:  # e.g. a full disk under the outbox: these events are lost, the agent is not
            log.exception("could not store %d event(s)", len(events))
