"""One camera's frames -> track events: detect -> track -> pick faces to embed -> embed -> match -> vote.

Pure library code: no MQTT, no threads. The caller hands in frames and gets back `FrameResult`s with the
events and how long each stage took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from edge.config import RecognitionConfig, TrackerConfig
from edge.events import TrackEventRecord
from edge.liveness import LivenessCue
from edge.quality import face_quality
from edge.recognizer import Recognizer, RecognizerHolder
from edge.tracker import FaceTracker
from edge.voting import TrackVotes
from facefleet.wire import EventType
from models.faces import Faces

STAGES = ("convert", "detect", "track", "quality", "embed", "match")


def _convert(image: np.ndarray, code: int, buffer: np.ndarray | None) -> np.ndarray:
    """cv2.cvtColor into `buffer` when it fits the result (same frame size as last time)."""
    channels = 1 if code == cv2.COLOR_RGB2GRAY else 3
    shape = image.shape[:2] if channels == 1 else (*image.shape[:2], 3)
    if buffer is None or buffer.shape != shape:
        buffer = np.empty(shape, np.uint8)
    converted: np.ndarray = cv2.cvtColor(image, code, dst=buffer)
    return converted


@dataclass(frozen=True)
class Frame:
    """A camera frame: (H, W, 3) uint8 BGR, its wall-clock capture time and its number on that camera."""

    camera: str
    image_bgr: np.ndarray
    ts: datetime
    index: int


@dataclass(frozen=True)
class FrameResult:
    events: list[TrackEventRecord]
    faces: int
    embedded: int
    stage_s: dict[str, float]


@dataclass
class _TrackState:
    started_at: datetime
    last_seen: datetime
    votes: TrackVotes
    liveness: LivenessCue
    last_embed_frame: int = -(10**9)
    best_quality: float = 0.0
    best_crop_rgb: np.ndarray | None = None


@dataclass
class _Stopwatch:
    stage_s: dict[str, float] = field(default_factory=dict)
    _t: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + now - self._t
        self._t = now


class CameraProcessor:
    """Tracks and identities of one camera. `process(frame)` per frame; `end_all(ts)` when it stops."""

    def __init__(self, camera: str, holder: RecognizerHolder, tracker: TrackerConfig,
                 recognition: RecognitionConfig) -> None:
        self.camera = camera
        self.holder = holder
        self.config = recognition
        self.tracker = FaceTracker(tracker)
        self.tracks: dict[int, _TrackState] = {}
        self.last_frame_ts: datetime | None = None
        self._rgb: np.ndarray | None = None  # reused per frame: the hot path allocates no full frames
        self._gray: np.ndarray | None = None
        self._processed = 0  # frames this processor saw; camera frame numbers skip when frames are dropped

    def process(self, frame: Frame) -> FrameResult:
        watch = _Stopwatch()
        self._processed += 1
        rec = self.holder.current  # one (model, gallery) pair for the whole frame
        rgb = self._rgb = _convert(frame.image_bgr, cv2.COLOR_BGR2RGB, self._rgb)
        watch.lap("convert")
        faces = rec.pipeline.detector.detect(rgb)
        watch.lap("detect")
        update = self.tracker.update(faces)
        self.last_frame_ts = frame.ts
        events = [self._start(tid, frame.ts, rec) for tid in update.started]
        events += [self._end(tid, frame.ts, rec) for tid in update.ended]
        watch.lap("track")
        due = self._due(rgb, faces, update.matched, frame)
        watch.lap("quality")
        embedded = self._embed_and_vote(rgb, faces, due, frame, rec, events, watch)
        return FrameResult(events, len(faces), embedded, watch.stage_s)

    def end_all(self, ts: datetime) -> list[TrackEventRecord]:
        """End every active track (camera lost or agent stopping)."""
        rec = self.holder.current
        return [self._end(tid, ts, rec) for tid in self.tracker.end_all()]

    def _due(self, rgb: np.ndarray, faces: Faces, matched: list[tuple[int, int]],
             frame: Frame) -> list[tuple[int, int, float]]:
        """(track id, face index, quality) of the matched faces worth an embedding in this frame."""
        if not matched:
            return []
        gray = self._gray = _convert(rgb, cv2.COLOR_RGB2GRAY, self._gray)
        cfg = self.config
        quality = face_quality(gray, faces, cfg.min_face_px, cfg.good_face_px)
        due = []
        for tid, idx in matched:
            state = self.tracks[tid]
            state.last_seen = frame.ts
            state.liveness.update(faces.landmarks[idx])
            q = float(quality[idx])
            if q < cfg.min_quality:
                continue
            stale = self._processed - state.last_embed_frame >= cfg.embed_every_frames
            better = q > state.best_quality * (1 + cfg.quality_improvement)
            if stale or better:
                due.append((tid, idx, q))
        return due

    def _embed_and_vote(self, rgb: np.ndarray, faces: Faces, due: list[tuple[int, int, float]], frame: Frame,
                        rec: Recognizer, events: list[TrackEventRecord], watch: _Stopwatch) -> int:
        if not due:
            return 0
        crops, embeddings = rec.pipeline.embed_faces(rgb, faces.select([idx for _, idx, _ in due]))
        watch.lap("embed")
        person_index, cosine = rec.gallery.best_match(embeddings)
        for (tid, _, q), crop, p, c in zip(due, crops, person_index.tolist(), cosine.tolist(), strict=True):
            state = self.tracks[tid]
            state.last_embed_frame = self._processed
            if q > state.best_quality:
                state.best_quality, state.best_crop_rgb = q, crop.copy()
            person = rec.gallery.person_ids[p] if p >= 0 else None
            name = rec.gallery.names[p] if p >= 0 else None
            change = state.votes.add(person, name, c if p >= 0 else 0.0)  # empty gallery: neutral, not -1
            if change.changed:
                events.append(self._record("identity_changed", tid, frame.ts, rec))
            if change.confirmed:
                events.append(self._record("identity_confirmed", tid, frame.ts, rec))
        watch.lap("match")
        return len(due)

    def _start(self, tid: int, ts: datetime, rec: Recognizer) -> TrackEventRecord:
        cfg = self.config
        liveness = LivenessCue(cfg.liveness_window, cfg.liveness_noise_floor, cfg.liveness_motion_ref)
        self.tracks[tid] = _TrackState(ts, ts, TrackVotes(cfg), liveness)
        return self._record("track_started", tid, ts, rec)

    def _end(self, tid: int, ts: datetime, rec: Recognizer) -> TrackEventRecord:
        state = self.tracks[tid]
        jpeg = None
        if state.best_crop_rgb is not None:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(state.best_crop_rgb, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, 90])
            jpeg = buf.tobytes() if ok else None
        record = self._record("track_ended", tid, ts, rec, ended_at=state.last_seen, best_crop_jpeg=jpeg)
        del self.tracks[tid]
        return record

    def _record(self, kind: EventType, tid: int, ts: datetime, rec: Recognizer,
                ended_at: datetime | None = None, best_crop_jpeg: bytes | None = None) -> TrackEventRecord:
        state = self.tracks[tid]
        return TrackEventRecord(kind, self.camera, tid, ts, state.started_at, state.votes.identity,
                                state.votes.samples, state.liveness.score(), rec.model_id,
                                rec.gallery.version, ended_at=ended_at, best_crop_jpeg=best_crop_jpeg)

    @property
    def active_tracks(self) -> int:
        return len(self.tracks)
