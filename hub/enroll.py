"""Turn uploaded photos and short videos into sample candidates: detect, align, embed, and judge quality.

Library code: no web framework here. The caller decides what to do with the candidates (the library
stores them in one transaction); this module only reads images and frames and explains each rejection.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hub.settings import EnrollConfig
from models.imageio import ImageError, decode_image
from models.pipeline import FaceAnalysis, FacePipeline

REJECT_REASONS = ("no_face", "too_small", "blurred", "duplicate", "over_limit")
PipelineSource = Callable[[], FacePipeline]
"""The hub's active pipeline at the moment of asking (it changes when a released model is activated)."""


class VideoError(ValueError):
    """The upload is not a video we can read; the message says why."""


@dataclass(frozen=True)
class SampleCandidate:
    """One aligned face ready to store: crop (S, S, 3) RGB uint8 and its unit embedding (D,)."""

    crop_rgb: np.ndarray
    embedding: np.ndarray
    face_px: float
    detector_score: float
    sharpness: float
    source: str

    @property
    def quality(self) -> float:
        return face_quality(self.face_px, self.detector_score, self.sharpness)


@dataclass
class EnrollReport:
    """What came of one upload: the kept candidates (embedded by `model_id`) and a count per rejection reason."""

    model_id: str = ""
    accepted: list[SampleCandidate] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    images: int = 0
    frames_read: int = 0
    frames_analyzed: int = 0

    @property
    def faces_found(self) -> int:
        return len(self.accepted) + sum(v for k, v in self.rejected.items() if k != "no_face")


def sharpness(crop_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of a (S, S, 3) crop: low for blurred or flat faces."""
    gray = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def face_quality(face_px: float, detector_score: float, sharpness_value: float) -> float:
    """0..1 usefulness of a sample: detector confidence, scaled down for faces under 112 px (the crop
    size, so upscaled) and for soft crops (sharpness under 100)."""
    return float(detector_score * min(1.0, face_px / 112.0) * min(1.0, sharpness_value / 100.0))


def evenly_spread(count: int, keep: int) -> np.ndarray:
    """Indices of `keep` items spread evenly over `count` (all of them when count <= keep)."""
    if count <= keep:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, keep)).astype(np.int64))


class Enroller:
    """Runs the hub's active face pipeline over uploads. Thread-safe: one analysis at a time.

    One upload is analysed by one pipeline (asked for once at its start), so its candidates all carry the
    embeddings of one model, named in the report.
    """

    def __init__(self, pipeline: PipelineSource, config: EnrollConfig) -> None:
        self._pipeline = pipeline
        self.config = config
        self._lock = threading.Lock()

    def analyze(self, image_bgr: np.ndarray, pipeline: FacePipeline | None = None) -> FaceAnalysis:
        with self._lock:
            return (pipeline or self._pipeline()).analyze(image_bgr)

    def main_face(self, image_bgr: np.ndarray, pipeline: FacePipeline | None = None) -> tuple[FaceAnalysis, int]:
        """The analysis of an image and the index of the face nearest its centre (-1 when none)."""
        analysis = self.analyze(image_bgr, pipeline)
        height, width = image_bgr.shape[:2]
        return analysis, analysis.faces.nearest_centre((width, height))

    def _room(self, stored: int, wanted: int) -> int:
        """How many more samples a person holding `stored` may get: `wanted`, capped by the per-person limit."""
        return max(0, min(wanted, self.config.max_samples_per_person - stored))

    @staticmethod
    def _keep_spread(report: EnrollReport, keep: int) -> None:
        """Keep `keep` accepted candidates evenly spread over the upload; count the rest as `over_limit`."""
        chosen = set(evenly_spread(len(report.accepted), keep).tolist()) if keep else set()
        if dropped := len(report.accepted) - len(chosen):
            report.rejected["over_limit"] += dropped
            report.accepted = [c for i, c in enumerate(report.accepted) if i in chosen]

    def _judge(self, image_bgr: np.ndarray, source: str, kept: list[np.ndarray], report: EnrollReport,
               pipeline: FacePipeline) -> None:
        """Add the central face of one image to the report as accepted or with its rejection reason."""
        analysis, index = self.main_face(image_bgr, pipeline)
        if index < 0:
            report.rejected["no_face"] += 1
            return
        face_px = float(analysis.faces.size_px[index])
        crop = analysis.crops_rgb[index]
        sharp = sharpness(crop)
        embedding = analysis.embeddings[index]
        if face_px < self.config.min_face_px:
            report.rejected["too_small"] += 1
        elif sharp < self.config.min_sharpness:
            report.rejected["blurred"] += 1
        elif kept and float(np.max(np.stack(kept) @ embedding)) >= self.config.duplicate_cosine:
            report.rejected["duplicate"] += 1
        else:
            kept.append(embedding)
            report.accepted.append(
                SampleCandidate(
                    crop.copy(), embedding.copy(), face_px, float(analysis.faces.scores[index]), sharp, source
                )
            )

    def from_photos(self, photos: list[tuple[str, bytes]], existing: np.ndarray, stored: int = 0) -> EnrollReport:
        """Photos as (file name, bytes); `existing` (K, D) are the person's stored embeddings (duplicates),
        `stored` how many samples the person has (faces past `max_samples_per_person` are `over_limit`).

        Raises ImageError (naming the file) for the first undecodable photo: the request fails as a whole
        (nothing is stored before the whole report exists). Photos are decoded one at a time, so memory
        holds one full-size image, not all of them.
        """
        pipeline = self._pipeline()
        report = EnrollReport(model_id=pipeline.model_id)
        kept = list(existing)
        for name, data in photos:
            report.images += 1
            self._judge(_decode_named(name, data), f"photo:{name}", kept, report, pipeline)
        self._keep_spread(report, self._room(stored, len(report.accepted)))
        return report

    def from_video(
        self,
        path: Path,
        name: str,
        existing: np.ndarray,
        max_frames: int | None = None,
        max_samples: int | None = None,
        stored: int = 0,
    ) -> EnrollReport:
        """At most `max_frames` frames are read; `frames_per_sample` per wanted sample, evenly spaced, are
        analyzed; of the accepted faces at most `max_samples` are kept, evenly spread over the video.

        The configured `max_video_frames` / `max_video_samples` are the defaults and the ceilings: a
        request may ask for less, never for more (a long video must not hold the pipeline for minutes).
        A person holding `stored` samples gets at most `max_samples_per_person - stored` more.
        """
        max_frames = min(max_frames or self.config.max_video_frames, self.config.max_video_frames)
        max_samples = min(max_samples or self.config.max_video_samples, self.config.max_video_samples)
        pipeline = self._pipeline()
        report = EnrollReport(model_id=pipeline.model_id)
        report.frames_read = _count_frames(path, max_frames)
        wanted = set(evenly_spread(report.frames_read, max_samples * self.config.frames_per_sample).tolist())
        kept = list(existing)
        for index, frame in _frames_at(path, wanted):
            report.frames_analyzed += 1
            self._judge(frame, f"video:{name}#{index}", kept, report, pipeline)
        self._keep_spread(report, self._room(stored, max_samples))
        return report


def _decode_named(name: str, data: bytes) -> np.ndarray:
    try:
        return decode_image(data)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}") from exc


def _open_video(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError("not a readable video (no decodable stream)")
    return capture


def _count_frames(path: Path, max_frames: int) -> int:
    """Frames that can actually be read, up to max_frames (container frame counts are often wrong)."""
    capture = _open_video(path)
    try:
        count = 0
        while count < max_frames and capture.grab():
            count += 1
    finally:
        capture.release()
    if count == 0:
        raise VideoError("the video has no readable frames")
    return count


def _frames_at(path: Path, indices: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, BGR frame) for the wanted frame indices, decoding only those."""
    capture = _open_video(path)
    try:
        last = max(indices, default=-1)
        for index in range(last + 1):
            if not capture.grab():
                return
            if index in indices:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    yield index, frame
    finally:
        capture.release()
