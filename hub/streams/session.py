"""One thin camera's WebSocket: the hello, then frames in and results out, latency first.

Three tasks per connection. The receiver checks each frame's size and JPEG header as it arrives and puts it
in a one-frame slot, replacing (and counting as dropped) a frame still waiting there: frames are never
queued, so a hub that falls behind answers the newest frame, not a backlog. The worker takes the slot's
frame, decodes it and runs the camera's `CameraProcessor` on the service's thread pool. The sender writes
the results; they wait in a queue of `stream.send_queue` messages, and a client that lets it fill (one that
does not read) is closed. Whichever task ends first ends the stream: its tracks end (their `track_ended`
events are published like an agent's when its camera is lost) and the socket closes with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from edge.capture.frames import Frame
from edge.config import RecognitionConfig, TrackerConfig
from edge.recognize.model_gallery import ModelGalleryHolder
from edge.recognize.processor import CameraProcessor
from facefleet.stream import (
    CLOSE_POLICY,
    CLOSE_SLOW_READER,
    CLOSE_UNSUPPORTED,
    EventMessage,
    Face,
    FrameResult,
    Hello,
    Ready,
)
from hub.streams.frames import FrameRefused, check_frame, decode_frame
from hub.streams.service import StreamLease, StreamRefused, StreamService
from models.detect.schedule import ScheduleConfig

log = logging.getLogger(__name__)
Close = tuple[int, str]  # WebSocket close code and reason


@dataclass
class _Waiting:
    """The newest frame not yet processed: its number on the stream, bytes, declared size, arrival time."""

    number: int
    data: bytes
    size_wh: tuple[int, int]
    ts: datetime


@dataclass
class _Counts:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    started: float = field(default_factory=time.monotonic)


async def serve_stream(ws: WebSocket, service: StreamService) -> None:
    """The whole life of one connection."""
    await ws.accept()
    try:
        lease = await _hello(ws, service)
    except StreamRefused as exc:
        await _close(ws, (exc.code, exc.reason))
        return
    except WebSocketDisconnect:
        return
    try:
        await _Stream(ws, service, lease).run()
    finally:
        service.leave(lease)


async def _hello(ws: WebSocket, service: StreamService) -> StreamLease:
    try:
        message = await asyncio.wait_for(ws.receive(), service.config.hello_timeout_s)
    except asyncio.TimeoutError:
        raise StreamRefused(CLOSE_POLICY, f"no hello within {service.config.hello_timeout_s:g} s") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise StreamRefused(CLOSE_POLICY, 'the first message is the text hello {"token": ..., "camera": ...}')
    try:
        hello = Hello.model_validate_json(message["text"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "hello"
        raise StreamRefused(CLOSE_POLICY, f"bad hello: {where}: {first['msg']}"[:120]) from None
    lease = await asyncio.to_thread(service.join, hello)
    try:
        rec = await asyncio.to_thread(service.recognizer)
        bounds = service.config
        await ws.send_text(
            Ready(
                device_id=lease.device_id,
                camera=lease.camera,
                model_id=rec.model_id,
                gallery_version=rec.gallery.version,
                max_frame_bytes=bounds.max_frame_bytes,
                max_frame_pixels=bounds.max_frame_pixels,
            ).model_dump_json()
        )
    except BaseException:
        service.leave(lease)
        raise
    log.info(
        "stream %s/%s open (%d of %d)", lease.device_id, lease.camera, service.open_streams, service.config.max_streams
    )
    return lease


async def _close(ws: WebSocket, close: Close) -> None:
    """Close with a code and reason; a peer that is gone or does not read cannot hold this up."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(close[0], close[1][:120]), 5.0)


class _Stream:
    def __init__(self, ws: WebSocket, service: StreamService, lease: StreamLease) -> None:
        self.ws = ws
        self.service = service
        self.lease = lease
        self.holder = ModelGalleryHolder(service.recognizer())
        self.processor = CameraProcessor(
            lease.camera, self.holder, TrackerConfig(), RecognitionConfig(), ScheduleConfig()
        )
        self.waiting: _Waiting | None = None
        self.wake = asyncio.Event()
        self.results: asyncio.Queue[str] = asyncio.Queue(service.config.send_queue)
        self.counts = _Counts()
        self.inflight: asyncio.Future[list[str]] | None = None

    async def run(self) -> None:
        tasks = [asyncio.create_task(t) for t in (self._receive(), self._work(), self._send())]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        outcomes = [t.result() if not t.cancelled() and t.exception() is None else None for t in done]
        close = next((c for c in outcomes if c is not None), None)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("stream %s/%s failed", self.lease.device_id, self.lease.camera, exc_info=task.exception())
                close = close or (1011, "the hub failed on this stream")
        if self.inflight is not None:
            with contextlib.suppress(Exception):
                await self.inflight  # the worker thread finishes its frame before the tracks end
        await asyncio.get_running_loop().run_in_executor(self.service.executor, self._end_tracks)
        c = self.counts
        log.info(
            "stream %s/%s closed (%s): %d frames received, %d processed, %d dropped",
            self.lease.device_id,
            self.lease.camera,
            close[1] if close else "client left",
            c.received,
            c.processed,
            c.dropped,
        )
        if close is not None:
            self.service.closed[close[0]] += 1
            await _close(self.ws, close)

    async def _receive(self) -> Close | None:
        bounds = self.service.config
        while True:
            try:
                message = await self.ws.receive()
            except RuntimeError:  # the socket is closed already
                return None
            if message["type"] == "websocket.disconnect":
                return None
            data = message.get("bytes")
            if data is None:
                return CLOSE_UNSUPPORTED, "after the hello, every message is one binary JPEG frame"
            self.counts.received += 1
            try:
                size_wh = check_frame(data, bounds.max_frame_bytes, bounds.max_frame_pixels)
            except FrameRefused as exc:
                return exc.code, f"frame {self.counts.received}: {exc.reason}"
            if self.waiting is not None:
                self.counts.dropped += 1
                self.service.frames_dropped += 1
            self.waiting = _Waiting(self.counts.received, data, size_wh, datetime.now(timezone.utc))
            self.wake.set()

    async def _work(self) -> Close | None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            frame, self.waiting = self.waiting, None
            if frame is None:
                continue
            self.inflight = loop.run_in_executor(self.service.executor, self._process, frame)
            try:
                messages = await asyncio.shield(self.inflight)
            except FrameRefused as exc:
                return exc.code, f"frame {frame.number}: {exc.reason}"
            self.inflight = None
            for text in messages:
                try:
                    self.results.put_nowait(text)
                except asyncio.QueueFull:
                    return CLOSE_SLOW_READER, f"{self.results.maxsize} results waiting unread; read them"

    async def _send(self) -> Close | None:
        while True:
            text = await self.results.get()
            try:
                await self.ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError):
                return None

    def _process(self, waiting: _Waiting) -> list[str]:
        """On a worker thread: decode, process, publish the events; the messages for the socket."""
        start = time.perf_counter()
        image = decode_frame(waiting.data, *waiting.size_wh)
        rec = self.service.recognizer()
        current = self.holder.current
        if rec.gallery.version != current.gallery.version or rec.pipeline is not current.pipeline:
            self.holder.swap(rec)
        result = self.processor.process(Frame(self.lease.camera, image, waiting.ts, waiting.number))
        self.counts.processed += 1
        self.service.frames_processed += 1  # one worker thread at a time per stream; a lost count is harmless
        faces = []
        for sighting in result.sightings:
            state = self.processor.tracks.get(sighting.track_id)
            if state is None:
                continue
            who = state.identity.identity
            faces.append(
                Face(
                    track_id=sighting.track_id,
                    xyxy=sighting.xyxy,
                    active=sighting.active,
                    person_id=who.person_id,
                    name=who.name,
                    confidence=round(who.confidence, 4),
                    confirmed=who.confirmed,
                )
            )
        events = [self.service.publish_event(self.lease, record) for record in result.events]
        frame = FrameResult(
            frame=waiting.number,
            width=image.shape[1],
            height=image.shape[0],
            faces=faces,
            dropped=self.counts.dropped,
            process_ms=round(1000 * (time.perf_counter() - start), 1),
        )
        return [frame.model_dump_json(), *(EventMessage(event=e).model_dump_json() for e in events)]

    def _end_tracks(self) -> None:
        """The stream is over: its open tracks end, their events go to the broker (the socket is closing)."""
        for record in self.processor.end_all(datetime.now(timezone.utc)):
            self.service.publish_event(self.lease, record)
