"""Turn uploaded photos and short videos into sample candidates: detect, align, embed, and judge quality.

Library code: no web framework here. The caller decides what to do with the candidates (the library
stores them in one transaction); this module only reads images and frames and explains each rejection.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from hub.library.video import VideoError, frames_at, scan_frames, video_header
from hub.settings import EnrollConfig
from models.imageio import ImageError, ImageHeader, check_header, decode_image, fit_pixels, read_header
from models.pipeline import FaceAnalysis, FacePipeline

REJECT_REASONS = ("no_face", "too_small", "blurred", "duplicate", "other_person", "over_limit")
PipelineSource = Callable[[], FacePipeline]
"""The hub's active pipeline at the moment of asking (it changes when a released model is activated)."""


class RequestTooLarge(ValueError):
    """One request asks for more work than `enroll.max_request_pixels` allows (HTTP 413)."""


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


def centre_person(embeddings: np.ndarray, same_person_cosine: float) -> np.ndarray:
    """Indices (sorted) of the faces of the one person most of `embeddings` (N, D unit rows) show.

    The anchor is the face with the most others at least `same_person_cosine` alike; the person's template
    is the mean of the faces alike to the anchor, and the faces at least that alike to the template are kept.
    The template step keeps a face that resembles two people (a blurred half-turn as the anchor) from
    carrying the other one in. Fed the central face of each frame of a video, this is the person who stood
    in the centre: a frame whose central face was someone else (the subject turned away, stepped aside, or
    the shot changed) is left out.
    """
    if len(embeddings) == 0:
        return np.arange(0)
    alike = embeddings @ embeddings.T >= same_person_cosine
    anchor = int(np.argmax(alike.sum(axis=1)))
    template = embeddings[alike[anchor]].mean(axis=0)
    template /= max(float(np.linalg.norm(template)), 1e-12)
    return np.flatnonzero(embeddings @ template >= same_person_cosine)


class Enroller:
    """Runs the hub's active face pipeline over uploads under the configured pixel budget. Thread-safe: one
    analysis at a time (the hub gives 1:N search and verify an Enroller of their own, so a query never waits
    behind an enrollment's lock).

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
        """The analysis of an image and the index of the face nearest its centre (-1 when none).

        A photo cropped close to the face (an ID photo, a crop made by another tool) gives the detector no
        context: MTCNN then finds a box reaching past the photo's edges with landmarks spread too wide, and
        the aligned crop shows a shrunken face with black around it. Such a photo (no face found, or the
        central face's box more than `_TIGHT_SPILL` of its side outside the photo) is analysed again with
        its border replicated outward by half its longer side. On the six one-photo enrollments of the
        sitcom clip, all of this kind, that raised the right person's median z-score over the clip's
        tracks from 4.0 to 5.8.
        """
        analysis, index = self._central(image_bgr, pipeline)
        if index >= 0 and not _spills(analysis.faces.xyxy[index], image_bgr.shape[:2]):
            return analysis, index
        pad = max(image_bgr.shape[:2]) // 2
        padded = fit_pixels(
            cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE), self.config.analysis_pixels
        )
        again, found = self._central(padded, pipeline)
        return (again, found) if found >= 0 else (analysis, index)

    def _central(self, image_bgr: np.ndarray, pipeline: FacePipeline | None) -> tuple[FaceAnalysis, int]:
        analysis = self.analyze(image_bgr, pipeline)
        height, width = image_bgr.shape[:2]
        return analysis, analysis.faces.nearest_centre((width, height))

    def _room(self, stored: int, wanted: int) -> int:
        """How many more samples a person holding `stored` may get: `wanted`, capped by the per-person limit."""
        return max(0, min(wanted, self.config.max_samples_per_person - stored))

    def _keep_centre_person(self, report: EnrollReport) -> None:
        """Keep the accepted faces of the person most often in the centre; count the rest as `other_person`."""
        if not report.accepted:
            return
        chosen = set(
            centre_person(np.stack([c.embedding for c in report.accepted]), self.config.same_person_cosine).tolist()
        )
        if dropped := len(report.accepted) - len(chosen):
            report.rejected["other_person"] += dropped
            report.accepted = [c for i, c in enumerate(report.accepted) if i in chosen]

    @staticmethod
    def _keep_spread(report: EnrollReport, keep: int) -> None:
        """Keep `keep` accepted candidates evenly spread over the upload; count the rest as `over_limit`."""
        chosen = set(evenly_spread(len(report.accepted), keep).tolist()) if keep else set()
        if dropped := len(report.accepted) - len(chosen):
            report.rejected["over_limit"] += dropped
            report.accepted = [c for i, c in enumerate(report.accepted) if i in chosen]

    def _judge(
        self, image_bgr: np.ndarray, source: str, kept: list[np.ndarray], report: EnrollReport, pipeline: FacePipeline
    ) -> None:
        """Add the central face of one image to the report as accepted or with its rejection reason."""
        analysis, index = self.main_face(image_bgr, pipeline)
        if index < 0:
            report.rejected["no_face"] += 1
            return
        face_px = float(analysis.faces.size_px[index])
        crop = analysis.crops_rgb[index]
        sharp = sharpness(crop)
        embedding = analysis.embeddings[index]
        if face_px < self.config.min_sample_face_px:
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

    def decode(self, name: str, file: BinaryIO, header: ImageHeader | None = None) -> np.ndarray:
        """A photo file -> (H, W, 3) BGR upright and within the pixel budget; ImageError names the file.
        Its size and header are checked before it is read into memory (`header`: already checked)."""
        try:
            if header is None:
                header = self._checked_header(file)
            return decode_image(file.read(), self.config.decode_limits, header)
        except ImageError as exc:
            raise ImageError(f"{name}: {exc}") from exc

    def check_photos(self, photos: Sequence[tuple[str, BinaryIO]]) -> list[ImageHeader]:
        """Every header within the limits, and their declared pixels summed within the request budget,
        before any photo is decoded (ImageError naming the file, or RequestTooLarge). Returns the headers,
        in order, for `decode`."""
        headers = []
        for name, file in photos:
            try:
                headers.append(self._checked_header(file))
            except ImageError as exc:
                raise ImageError(f"{name}: {exc}") from exc
        total = sum(header.pixels for header in headers)
        if total > self.config.max_request_pixels:
            raise RequestTooLarge(
                f"the photos declare {total / 1e6:.0f} MP together; one request may "
                f"declare at most {self.config.max_request_pixels / 1e6:.0f} MP"
            )
        return headers

    def _checked_header(self, file: BinaryIO) -> ImageHeader:
        header = read_header(file)
        check_header(header, self.config.decode_limits)
        return header

    def from_photos(
        self, photos: Sequence[tuple[str, BinaryIO]], existing: np.ndarray, stored: int = 0
    ) -> EnrollReport:
        """Photos as (file name, open file); `existing` (K, D) are the person's stored embeddings (duplicates),
        `stored` how many samples the person has (faces past `max_samples_per_person` are `over_limit`).

        Headers are checked first (`check_photos`), then photos are read and decoded one at a time, so
        memory holds one photo within the budget, not all of them. Raises ImageError (naming the file) for
        the first undecodable photo: the request fails as a whole (nothing is stored before the whole
        report exists).
        """
        headers = self.check_photos(photos)
        pipeline = self._pipeline()
        report = EnrollReport(model_id=pipeline.model_id)
        kept = list(existing)
        for (name, file), header in zip(photos, headers, strict=True):
            report.images += 1
            self._judge(self.decode(name, file, header), f"photo:{name}", kept, report, pipeline)
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
        analyzed; of the accepted faces of the person in the centre (`centre_person` over each frame's face
        nearest its centre) at most `max_samples` are kept, evenly spread over the video.

        The configured `max_video_frames` / `max_video_samples` are the defaults and the ceilings: a
        request may ask for less, never for more (a long video must not hold the pipeline for minutes).
        A person holding `stored` samples gets at most `max_samples_per_person - stored` more.
        """
        max_frames = min(max_frames or self.config.max_video_frames, self.config.max_video_frames)
        max_samples = min(max_samples or self.config.max_video_samples, self.config.max_video_samples)
        self.check_video(path)
        pipeline = self._pipeline()
        report = EnrollReport(model_id=pipeline.model_id)
        report.frames_read = scan_frames(path, max_frames, self.config.max_video_frame_pixels)
        wanted = set(evenly_spread(report.frames_read, max_samples * self.config.frames_per_sample).tolist())
        kept = list(existing)
        for index, frame in frames_at(path, wanted):
            report.frames_analyzed += 1
            if frame.shape[0] * frame.shape[1] > self.config.max_video_frame_pixels:  # defence in depth
                raise VideoError(f"frame {index} of {frame.shape[1]}x{frame.shape[0]} is over the frame limit")
            frame = fit_pixels(frame, self.config.analysis_pixels)
            self._judge(frame, f"video:{name}#{index}", kept, report, pipeline)
        self._keep_centre_person(report)
        self._keep_spread(report, self._room(stored, max_samples))
        return report

    def check_video(self, path: Path) -> None:
        """Refuse (VideoError) a video whose frame size or duration, as its container declares them, is
        over the limits, before any frame is decoded."""
        width, height, frames, fps = video_header(path)
        if width * height > self.config.max_video_frame_pixels:
            raise VideoError(
                f"frames of {width}x{height} ({width * height / 1e6:.1f} MP) exceed the "
                f"{self.config.max_video_frame_pixels / 1e6:.1f} MP frame limit"
            )
        if frames > 0 and fps > 0 and frames / fps > self.config.max_video_duration_s:
            limit_s = self.config.max_video_duration_s
            raise VideoError(f"a video of {frames / fps:.0f} s exceeds the {limit_s:g} s limit")


_TIGHT_SPILL = 0.1  # a face box this far (in box sides) past a photo's edge: the photo is cropped to the face


def _spills(xyxy: np.ndarray, image_hw: tuple[int, ...]) -> bool:
    """Whether a (4,) face box reaches more than `_TIGHT_SPILL` of its side past the (H, W) image's edges."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    margin = _TIGHT_SPILL * max(min(x2 - x1, y2 - y1), 1.0)
    height, width = image_hw[0], image_hw[1]
    return x1 < -margin or y1 < -margin or x2 > width + margin or y2 > height + margin
