"""One camera's frames -> track events.

Per frame: shot-cut test -> predict tracks -> detect (on the camera's schedule: the whole pyramid, or only
around the predicted faces, or nothing in a still, empty scene; `models.detect.schedule`) -> face quality -> embed
the faces that are due ->
associate (IoU, refused where a good crop disagrees with the track's template) -> pool embeddings ->
open-set decision per track -> events. Pure library code: no MQTT, no threads. The caller hands in frames
and gets back `FrameResult`s with the events and how long each stage took.

`process(frame)` does it all for one frame. An agent with several cameras splits it at the embedder:
`begin(frame)` for each camera's frame, one `embed_together` call for all their due faces (one batch for
the embedder: 17-21 % less time per face at batch 2 than at batch 1 on a 2-core x86 CPU, FP32 and INT8,
and more on a GPU), then `finish` for each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from edge.capture.frames import Frame
from edge.config import RecognitionConfig, TrackerConfig
from edge.recognize.events import TrackEventRecord
from edge.recognize.identity import IdentityChange, TrackIdentity
from edge.recognize.liveness import LivenessCue
from edge.recognize.matching import decision_rule, embedding_matches, match_template
from edge.recognize.memory import SightingMemory
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.pooling import PooledTemplate, appearance_verdict, pool_weight
from edge.recognize.quality import FaceQuality, assess
from edge.recognize.tracker import FaceTracker, TrackPrediction, TrackUpdate, greedy_match
from facefleet.wire import EventType
from models.detect.boxes import iou_matrix
from models.detect.schedule import DetectionKind, DetectionSchedule, ScheduleConfig, ScheduledFaces
from models.detect.shotcut import ShotCutDetector
from models.faces import Faces
from models.pipeline import EmbeddedFaces

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
class TrackSighting:
    """One track's face in one frame: whether the track is active, the face could be embedded, and its box
    (x1, y1, x2, y2, frame pixels)."""

    track_id: int
    active: bool
    embeddable: bool
    xyxy: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PooledFaces:
    """The faces of one frame that went into their track's template (embedded, and not refused as unlike
    it): `rows` (K,) index the frame's E embedded faces, `track_ids` (K,) are their tracks. The batch is
    shared, not copied (the hot path allocates no crops): aligned crops (E, S, S, 3) RGB uint8, unit
    embeddings (E, D), quality weights (E,) in [0, 1] (`edge.recognize.quality`), boxes (E, 4) xyxy in frame
    pixels. A collection of crops at the device (`edge.recognize.collect`) takes its candidates from here:
    no face is detected or embedded twice. Copy what you keep: the next frame's batch is new arrays.
    """

    rows: np.ndarray
    track_ids: np.ndarray
    crops_rgb: np.ndarray
    embeddings: np.ndarray
    face_weight: np.ndarray
    xyxy: np.ndarray


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced: events, counts, seconds per stage, whether it was a shot cut, which
    detection ran, and which tracks were seen (for evaluation and debugging; a few small records per frame)."""

    events: list[TrackEventRecord]
    faces: int
    embedded: int
    stage_s: dict[str, float]
    cut: bool = False
    sightings: tuple[TrackSighting, ...] = ()
    detection: DetectionKind = "full"
    pooled: PooledFaces | None = None


@dataclass
class _TrackState:
    """Everything the processor knows about one track (tentative ones included)."""

    first_seen: datetime
    last_seen: datetime
    template: PooledTemplate
    identity: TrackIdentity
    liveness: LivenessCue
    model_id: str
    active: bool = False
    last_embed_frame: int = -(10**9)
    best_face_weight: float = 0.0  # best pre-embedding weight of an embedded face
    must_check: bool = False  # an association was refused: check the next face before trusting boxes
    best_weight: float = 0.0
    best_crop_rgb: np.ndarray | None = None


@dataclass(frozen=True)
class _Embedded:
    """The faces embedded this frame: face indices (K,) into the frame's Faces and their embeddings."""

    index: np.ndarray
    faces: EmbeddedFaces
    face_weight: np.ndarray  # (K,) quality weights of the faces (edge.recognize.quality)
    weight: np.ndarray  # (K,) pooling weights (quality x raw norm)


@dataclass
class _Stopwatch:
    stage_s: dict[str, float] = field(default_factory=dict)
    _t: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.add(stage, now - self._t)
        self._t = now

    def add(self, stage: str, seconds: float) -> None:
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds

    def resume(self) -> None:
        """Start the next lap now (the time in between was another camera's)."""
        self._t = time.perf_counter()


@dataclass
class PendingFrame:
    """A frame between `CameraProcessor.begin` and `finish`: what was found, and the crops to embed."""

    frame: Frame
    rec: ModelGallery  # one (model, gallery) pair for the whole frame
    watch: _Stopwatch
    cut: bool
    events: list[TrackEventRecord]
    prediction: TrackPrediction
    found: ScheduledFaces
    quality: FaceQuality
    iou: np.ndarray
    proposals: list[tuple[int, int]]
    needs_check: np.ndarray  # (T, N) bool: track and face may pair only if the face looks like the track
    suspect: bool  # a suspected cut: no track keeps a face it has not seen again
    due: np.ndarray  # (K,) indices of the faces to embed
    crops_rgb: np.ndarray  # (K, S, S, 3) their aligned crops


def embed_together(pending: list[PendingFrame]) -> list[EmbeddedFaces]:
    """The due faces of several frames (an agent's cameras) embedded in one call per model, in order; the
    time is charged to each frame's `embed` stage by its share of the faces."""
    embedded: dict[int, EmbeddedFaces] = {}  # by index into `pending`
    groups: dict[int, list[int]] = {}  # frames of one model (an update may switch it between two frames)
    for i, p in enumerate(pending):
        groups.setdefault(id(p.rec.pipeline), []).append(i)
    for members in groups.values():
        start = time.perf_counter()
        joint = pending[members[0]].rec.pipeline.embed_crops(np.concatenate([pending[i].crops_rgb for i in members]))
        seconds = time.perf_counter() - start
        ends = np.cumsum([len(pending[i].due) for i in members])
        for i, end in zip(members, ends.tolist(), strict=True):
            part = slice(end - len(pending[i].due), end)
            embedded[i] = EmbeddedFaces(joint.crops_rgb[part], joint.embeddings[part], joint.norms[part])
            pending[i].watch.add("embed", seconds * len(pending[i].due) / max(int(ends[-1]), 1))
    return [embedded[i] for i in range(len(pending))]


def _pooled_faces(pooled: list[tuple[int, int]], embedded: _Embedded, faces: Faces) -> PooledFaces | None:
    """The pooled faces of a frame as one record (None when none was)."""
    if not pooled:
        return None
    return PooledFaces(
        np.array([k for k, _ in pooled], np.int64),
        np.array([tid for _, tid in pooled], np.int64),
        embedded.faces.crops_rgb,
        embedded.faces.embeddings,
        embedded.face_weight,
        faces.xyxy[embedded.index],
    )


class CameraProcessor:
    """Tracks and identities of one camera. `process(frame)` per frame; `end_all(ts)` when it stops."""

    def __init__(
        self,
        camera: str,
        holder: ModelGalleryHolder,
        tracker: TrackerConfig,
        recognition: RecognitionConfig,
        detection: ScheduleConfig,
    ) -> None:
        self.camera = camera
        self.holder = holder
        self.config = recognition
        self.tracker_config = tracker
        self.tracker = FaceTracker(tracker)
        self.cuts = ShotCutDetector(tracker.cut_threshold, tracker.cut_ratio)
        self.schedule = DetectionSchedule(detection)
        self.memory = SightingMemory(recognition.memory)
        self.tracks: dict[int, _TrackState] = {}
        self.last_frame_ts: datetime | None = None
        self._rgb: np.ndarray | None = None  # reused per frame: the hot path allocates no full frames
        self._gray: np.ndarray | None = None
        self._processed = 0  # frames this processor saw; camera frame numbers skip when frames are dropped

    def process(self, frame: Frame) -> FrameResult:
        """One frame, start to end (`begin`, its own embedder call, `finish`)."""
        pending = self.begin(frame)
        return self.finish(pending, embed_together([pending])[0])

    def begin(self, frame: Frame) -> PendingFrame:
        """Everything before the embedder: shot cut, prediction, detection, quality, the due faces' crops."""
        watch = _Stopwatch()
        self._processed += 1
        rec = self.holder.current
        cut = self.cuts.update(frame.image_bgr)
        events = self._end_all(frame.ts, rec) if cut else []
        rgb = self._rgb = _convert(frame.image_bgr, cv2.COLOR_BGR2RGB, self._rgb)
        watch.lap("convert")
        prediction = self.tracker.predict()
        found = rec.pipeline.detect_scheduled(self.schedule, rgb, prediction.xyxy, force_full=cut)
        watch.lap("detect")
        gray = self._gray = _convert(rgb, cv2.COLOR_RGB2GRAY, self._gray)
        quality = assess(gray, found.faces, self.config.min_embed_face_px, self.config.good_face_px)
        iou = iou_matrix(prediction.xyxy, found.faces.xyxy)
        proposals = greedy_match(iou, self.tracker_config.iou_match_threshold)
        needs_check = self._needs_check(prediction, iou, self.cuts.suspected)
        due = np.array(self._due(prediction, proposals, quality, needs_check), np.int64)
        watch.lap("quality")
        crops = rec.pipeline.crops_of(rgb, found.faces.select(due))
        watch.lap("embed")
        return PendingFrame(
            frame,
            rec,
            watch,
            cut,
            events,
            prediction,
            found,
            quality,
            iou,
            proposals,
            needs_check,
            self.cuts.suspected,
            due,
            crops,
        )

    def finish(self, pending: PendingFrame, embeddings: EmbeddedFaces) -> FrameResult:
        """Everything after the embedder: association, pooling, identities, events."""
        frame, rec, watch, prediction, faces = (
            pending.frame,
            pending.rec,
            pending.watch,
            pending.prediction,
            pending.found.faces,
        )
        watch.resume()
        face_weight = pending.quality.weight[pending.due]
        embedded = _Embedded(pending.due, embeddings, face_weight, pool_weight(face_weight, embeddings.norms))
        iou, proposals, quality, events = pending.iou, pending.proposals, pending.quality, pending.events
        cosines = self._template_cosines(prediction, embedded)
        allowed = self._appearance_gate(prediction, embedded, cosines, pending.needs_check, pending.suspect)
        refused = {int(prediction.ids[row]) for row, face in proposals if allowed[row, face] == 0}
        update = self.tracker.update(faces, greedy_match(iou * allowed, self.tracker_config.iou_match_threshold))
        watch.lap("track")
        pooled: list[tuple[int, int]] = []  # (k, track id) of the faces pooled into their track
        events += self._apply(
            update, faces, embedded, cosines, prediction, pending.needs_check, refused, frame, rec, pooled
        )
        watch.lap("match")
        sightings = tuple(
            TrackSighting(
                tid,
                self.tracks[tid].active,
                bool(quality.embeddable[face]),
                tuple(float(v) for v in faces.xyxy[face]),  # type: ignore[arg-type]
            )
            for tid, face in update.assigned
        )
        return FrameResult(
            events,
            len(faces),
            len(embedded.index),
            watch.stage_s,
            pending.cut,
            sightings,
            pending.found.kind,
            _pooled_faces(pooled, embedded, faces),
        )

    def end_all(self, ts: datetime) -> list[TrackEventRecord]:
        """End every active track (camera lost or agent stopping)."""
        return self._end_all(ts, self.holder.current)

    @property
    def active_tracks(self) -> int:
        return sum(1 for s in self.tracks.values() if s.active)

    # -- choosing what to embed ------------------------------------------------------------------------

    def _needs_check(self, prediction: TrackPrediction, iou: np.ndarray, suspect: bool) -> np.ndarray:
        """(T, N) bool: where the boxes do not vouch for a face (`edge.recognize.pooling.appearance_verdict`):
        overlap under `appearance_check_iou`, a suspected cut, or a refusal still to be checked."""
        check: np.ndarray = (iou < self.tracker_config.appearance_check_iou) | suspect
        for row, track_id in enumerate(prediction.ids.tolist()):
            state = self.tracks.get(track_id)
            if state is not None and state.must_check:
                check[row] = True
        return check

    def _due(
        self,
        prediction: TrackPrediction,
        proposals: list[tuple[int, int]],
        quality: FaceQuality,
        needs_check: np.ndarray,
    ) -> list[int]:
        """Face indices to embed this frame, most needed first, at most `max_embeds_per_frame`.

        A face is due when its (proposed) track is or becomes active and has no embedding yet (first ones
        go first: every track gets its best face embedded early), must show that it looks like its track
        (`_needs_check`), has not been embedded for `embed_every_frames`, or shows a clearly better face.
        """
        cfg = self.config
        ranked: list[tuple[int, int, int]] = []  # (priority, -age, face)
        for row, face in proposals:
            state = self.tracks.get(int(prediction.ids[row]))
            if state is None or not quality.embeddable[face] or not prediction.will_activate[row]:
                continue
            age = self._processed - state.last_embed_frame
            weight = float(quality.weight[face])
            if state.template.empty:
                ranked.append((0, -age, face))
            elif needs_check[row, face]:
                ranked.append((1, -age, face))
            elif age >= cfg.embed_every_frames or weight > state.best_face_weight * (1 + cfg.quality_improvement):
                ranked.append((2, -age, face))
        ranked.sort()
        return [face for _, _, face in ranked[: cfg.max_embeds_per_frame]]

    # -- association -------------------------------------------------------------------------------------

    def _template_cosines(self, prediction: TrackPrediction, embedded: _Embedded) -> np.ndarray:
        """(T, K) cosine of each predicted track's template to each embedded face (0 for empty templates)."""
        if len(prediction.ids) == 0 or len(embedded.index) == 0:
            return np.zeros((len(prediction.ids), len(embedded.index)), np.float32)
        templates = np.stack([self.tracks[int(t)].template.vector for t in prediction.ids])
        cosines: np.ndarray = templates @ embedded.faces.embeddings.T
        return cosines

    def _appearance_gate(
        self,
        prediction: TrackPrediction,
        embedded: _Embedded,
        cosines: np.ndarray,
        needs_check: np.ndarray,
        suspect: bool,
    ) -> np.ndarray:
        """(T, N) 1 where a track may take a face, 0 where an embedded face is someone else's (`split`), or,
        on a suspected cut, where a track that has a template could not see its face again (not embedded)."""
        allowed = np.ones(needs_check.shape, np.float32)
        gate = self.config.appearance_gate
        seen = set(embedded.index.tolist())
        for row, track_id in enumerate(prediction.ids.tolist()):
            state = self.tracks[track_id]
            if (suspect or state.must_check) and not state.template.empty:
                allowed[row, [f for f in range(needs_check.shape[1]) if f not in seen]] = 0.0
            for k, face in enumerate(embedded.index.tolist()):
                verdict = appearance_verdict(
                    float(cosines[row, k]),
                    float(embedded.weight[k]),
                    state.template,
                    gate,
                    boxes_vouch=not needs_check[row, face],
                )
                if verdict == "split":
                    allowed[row, face] = 0.0
        return allowed

    # -- applying the frame --------------------------------------------------------------------------------

    def _apply(
        self,
        update: TrackUpdate,
        faces: Faces,
        embedded: _Embedded,
        cosines: np.ndarray,
        prediction: TrackPrediction,
        needs_check: np.ndarray,
        refused: set[int],
        frame: Frame,
        rec: ModelGallery,
        pooled: list[tuple[int, int]],
    ) -> list[TrackEventRecord]:
        """Update per-track state from the tracker's verdict and the embeddings; the frame's events."""
        ts = frame.ts
        self.last_frame_ts = ts
        events = [self._end(tid, ts, rec) for tid in update.ended]
        for tid in update.dropped:
            self.tracks.pop(tid, None)
        for tid, face in update.assigned:
            state = self.tracks.get(tid) or self._new_state(tid, ts, rec)
            state.last_seen = ts
            state.liveness.update(faces.landmarks[face])
            if state.model_id != rec.model_id:  # the model changed under a live track: start its evidence anew
                self.tracks[tid] = state = self._new_state(tid, state.first_seen, rec, state.active)
        for tid in refused:
            if tid in self.tracks:
                self.tracks[tid].must_check = True
        started = set(update.started)
        for tid in started:
            self.tracks[tid].active = True
        changes = self._pool(update, embedded, cosines, prediction, needs_check, rec, ts, pooled)
        for tid in update.started:
            events.append(self._record("track_started", tid, ts, rec))
        for tid, change in changes:
            state = self.tracks[tid]
            if not state.active:
                continue
            if change.changed and tid not in started:
                events.append(self._record("identity_changed", tid, ts, rec))
            if change.confirmed:
                events.append(self._record("identity_confirmed", tid, ts, rec))
        return events

    def _pool(
        self,
        update: TrackUpdate,
        embedded: _Embedded,
        cosines: np.ndarray,
        prediction: TrackPrediction,
        needs_check: np.ndarray,
        rec: ModelGallery,
        ts: datetime,
        pooled: list[tuple[int, int]],
    ) -> list[tuple[int, IdentityChange]]:
        """Add each embedded face to its track's template (unless an outlier; the others are appended to
        `pooled` as (k, track id)) and decide the identity."""
        track_of_face = {face: tid for tid, face in update.assigned}
        row_of_track = {int(t): row for row, t in enumerate(prediction.ids.tolist())}
        gallery = rec.gallery
        if len(embedded.index):
            self.memory.refresh(ts, rec.model_id, gallery.person_ids)
        rule = decision_rule(gallery, len(self.memory), self.config)
        own = embedding_matches(embedded.faces.embeddings, gallery, rule)
        gate = self.config.appearance_gate
        changes = []
        for k, face in enumerate(embedded.index.tolist()):
            tid = track_of_face[face]
            state = self.tracks[tid]
            state.last_embed_frame = self._processed
            row = row_of_track.get(tid)
            cosine = float(cosines[row, k]) if row is not None else 1.0
            vouch = row is None or not needs_check[row, face]
            if appearance_verdict(cosine, float(embedded.weight[k]), state.template, gate, vouch) != "pool":
                continue  # a poor crop far from the template: kept by the boxes, not by the evidence
            weight = float(embedded.weight[k])
            state.must_check = False
            pooled.append((k, tid))
            state.template.add(embedded.faces.embeddings[k], weight)
            state.best_face_weight = max(state.best_face_weight, float(embedded.face_weight[k]))
            if weight > state.best_weight:
                state.best_weight, state.best_crop_rgb = weight, embedded.faces.crops_rgb[k].copy()
            person = int(own[k])
            state.identity.vote(gallery.person_ids[person] if person >= 0 else None)
            template = state.template.vector
            match = match_template(template, gallery, self.memory.person_cosines(template, gallery.person_ids))
            changes.append(
                (tid, state.identity.update(match, rule, gallery.person_ids, gallery.names, state.template.count))
            )
        return changes

    def _new_state(self, tid: int, ts: datetime, rec: ModelGallery, active: bool = False) -> _TrackState:
        cfg = self.config
        liveness = LivenessCue(cfg.liveness_window, cfg.liveness_noise_floor, cfg.liveness_motion_ref)
        state = _TrackState(
            ts, ts, PooledTemplate(rec.pipeline.embedder.dim), TrackIdentity(cfg), liveness, rec.model_id, active=active
        )
        self.tracks[tid] = state
        return state

    def _end_all(self, ts: datetime, rec: ModelGallery) -> list[TrackEventRecord]:
        ended, dropped = self.tracker.end_all()
        events = [self._end(tid, ts, rec) for tid in ended]
        for tid in dropped:
            self.tracks.pop(tid, None)
        return events

    def _end(self, tid: int, ts: datetime, rec: ModelGallery) -> TrackEventRecord:
        state = self.tracks[tid]
        jpeg = None
        if state.best_crop_rgb is not None:
            ok, buf = cv2.imencode(
                ".jpg", cv2.cvtColor(state.best_crop_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
            )
            jpeg = buf.tobytes() if ok else None
        template = None if state.template.empty else state.template.vector
        record = self._record(
            "track_ended", tid, ts, rec, ended_at=state.last_seen, best_crop_jpeg=jpeg, template=template
        )
        if template is not None and self._may_lend(state, rec):
            self.memory.lend(str(state.identity.identity.person_id), template, state.last_seen, tid)
        del self.tracks[tid]
        return record

    def _may_lend(self, state: _TrackState, rec: ModelGallery) -> bool:
        """A track named by the gallery alone, clearly, confirmed and never contested (`edge.recognize.memory`)."""
        identity, lending = state.identity, self.config.memory
        return (
            identity.identity.confirmed
            and not identity.contested
            and not identity.borrowed
            and state.model_id == rec.model_id
            and rec.gallery.has_cohort
            and state.template.count >= lending.min_embeddings
            and identity.lead >= lending.lend_margin_z
        )

    def _record(
        self,
        kind: EventType,
        tid: int,
        ts: datetime,
        rec: ModelGallery,
        ended_at: datetime | None = None,
        best_crop_jpeg: bytes | None = None,
        template: np.ndarray | None = None,
    ) -> TrackEventRecord:
        state = self.tracks[tid]
        identity = state.identity.identity
        return TrackEventRecord(
            kind,
            self.camera,
            tid,
            ts,
            state.first_seen,
            identity,
            identity.frames,
            state.liveness.score(),
            state.model_id,
            rec.gallery.version,
            ended_at=ended_at,
            best_crop_jpeg=best_crop_jpeg,
            template=template,
        )
