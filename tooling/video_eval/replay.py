"""Enroll the people of a folder with the hub's own enrollment code, then play a clip through the agent's
own `CameraProcessor`, every frame, and keep what each track did."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from edge.capture.frames import Frame
from edge.config import RecognitionConfig, TrackerConfig
from edge.recognize.events import TrackEventRecord
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.processor import CameraProcessor, TrackSighting
from facefleet.gallery import Gallery, build_gallery
from hub.library.enroll import Enroller
from hub.settings import EnrollConfig
from models.detect.schedule import ScheduleConfig
from models.engines.blas import single_threaded_blas
from models.pipeline import FacePipeline

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Enrolled:
    """The gallery built from a people folder, and the samples each person got (0: photos refused)."""

    gallery: Gallery
    samples: dict[str, int]


def enroll_folder(
    pipeline: FacePipeline, people_dir: Path, config: EnrollConfig | None = None, cohort: np.ndarray | None = None
) -> Enrolled:
    """One person per sub-folder (its name is the person's id and name), photos inside, as the hub enrolls;
    `cohort`: (K, D) impostor cohort embeddings of this pipeline to carry in the gallery, as the hub does."""
    enroller = Enroller(lambda: pipeline, config or EnrollConfig())
    embeddings: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    samples: dict[str, int] = {}
    for folder in sorted(p for p in people_dir.iterdir() if p.is_dir()):
        paths = [f for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        with contextlib.ExitStack() as files:
            photos = [(f.name, files.enter_context(f.open("rb"))) for f in paths]
            report = enroller.from_photos(photos, np.zeros((0, pipeline.embedder.dim), np.float32))
        samples[folder.name] = len(report.accepted)
        if report.accepted:
            embeddings += [c.embedding for c in report.accepted]
            labels += [len(names)] * len(report.accepted)
            names.append(folder.name)
    if not names:
        raise ValueError(f"{people_dir}: no person folder gave a usable face")
    gallery = build_gallery(
        "eval", pipeline.model_id, names, names, np.stack(embeddings), np.array(labels), cohort=cohort
    )
    return Enrolled(gallery, samples)


@dataclass
class TrackLog:
    """What one active track did over the clip (frame numbers of the clip, 0-based)."""

    track_id: int
    first_frame: int
    last_frame: int
    frames_seen: int = 0
    first_embeddable_frame: int | None = None
    named: list[tuple[int, str | None]] = field(default_factory=list)  # (frame, person id) per identity event
    final_person: str | None = None
    embeddings: int = 0
    confirmed: bool = False
    started: bool = False

    @property
    def first_named_frame(self) -> int | None:
        return next((f for f, p in self.named if p is not None), None)


@dataclass(frozen=True)
class Replay:
    """tracks: what each active track did; events: every event the processor produced, in order (the
    `track_ended` ones carry crops and templates)."""

    tracks: list[TrackLog]
    cut_frames: list[int]
    frames: int
    fps: float
    seconds: float
    events: list[TrackEventRecord] = field(default_factory=list)


def replay_clip(
    clip: Path,
    pipeline: FacePipeline,
    gallery: Gallery,
    tracker: TrackerConfig,
    recognition: RecognitionConfig,
    detection: ScheduleConfig,
    only: Collection[int] | None = None,
) -> Replay:
    """Every frame of `clip` (or the frame numbers in `only`) through a fresh processor; the events at the
    end included. Frames keep their clip numbers, so a replay of part of a clip scores against its truth."""
    single_threaded_blas()  # as the agent (models/engines/blas.py)
    capture = cv2.VideoCapture(str(clip))
    if not capture.isOpened():
        raise ValueError(f"{clip}: not a readable video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    processor = CameraProcessor(
        "eval", ModelGalleryHolder(ModelGallery(pipeline, gallery)), tracker, recognition, detection
    )
    logs: dict[int, TrackLog] = {}
    cuts: list[int] = []
    events: list[TrackEventRecord] = []
    start, t0, index = time.perf_counter(), datetime(2000, 1, 1, tzinfo=timezone.utc), 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if only is None or index in only:
                result = processor.process(Frame("eval", image, t0 + timedelta(seconds=index / fps), index))
                if result.cut:
                    cuts.append(index)
                _log_frame(logs, index, result.sightings, result.events)
                events += result.events
            index += 1
    finally:
        capture.release()
    seconds = time.perf_counter() - start
    last = processor.end_all(t0 + timedelta(seconds=index / fps))
    _log_frame(logs, index - 1, (), last)
    tracks = sorted((t for t in logs.values() if t.started), key=lambda t: t.track_id)
    return Replay(tracks, cuts, index if only is None else len(set(only)), fps, seconds, events + last)


def _log_frame(
    logs: dict[int, TrackLog], index: int, sightings: tuple[TrackSighting, ...], events: list[TrackEventRecord]
) -> None:
    """Tentative tracks are logged too (their frames count from the face's first sighting); the ones that
    never became active are dropped at the end."""
    for seen in sightings:
        log = logs.setdefault(seen.track_id, TrackLog(seen.track_id, index, index))
        log.last_frame, log.frames_seen = index, log.frames_seen + 1
        if seen.embeddable and log.first_embeddable_frame is None:
            log.first_embeddable_frame = index
    for event in events:
        log = logs.setdefault(event.track_id, TrackLog(event.track_id, index, index))
        identity = event.identity
        log.started = log.started or event.type == "track_started"
        if event.type in ("track_started", "identity_changed"):
            log.named.append((index, identity.person_id))
        log.final_person, log.embeddings = identity.person_id, identity.frames
        log.confirmed = log.confirmed or identity.confirmed
