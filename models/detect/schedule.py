"""When to run the full MTCNN pyramid: a detection interval with region re-detection in between, gated by
motion (DeepStream's `interval`, Frigate's motion gating).

Per frame, `plan_detection` chooses one of:
- "full": the whole pyramid. Every `full_every_frames` frames, at a shot cut (`force_full`: the agent's
  cut test has just ended every track), on a frame where most of the picture moved
  (`full_on_motion_fraction`: a camera that panned or was knocked), and on any motion while nothing is
  tracked (a face entering an empty scene is searched for at once).
- "regions": `MtcnnDetector.detect_in_regions` around the live faces (the tracker's predicted boxes grown
  to `region_scale` times their side): fresh boxes, scores and landmarks for a fraction of the cost.
- "skip": nothing tracked and nothing moved; no face can have appeared.
A new face next to a tracked one is found at the next full detection, at most `full_every_frames - 1`
frames late; `facefleet bench models --schedule` measures what that costs in faces found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.detect.motion import Motion, MotionConfig, MotionDetector
from models.detect.mtcnn import MtcnnDetector
from models.faces import Faces

DetectionKind = Literal["full", "regions", "skip"]


class ScheduleConfig(BaseModel):
    """full_every_frames: 1 runs the full pyramid on every frame (no schedule); larger is cheaper and finds
    faces that appear beside tracked ones later. region_scale: side of the searched square around a live
    face, in face sides; it must leave the face inside the detector's `region_face_fraction` (0.25-0.9 by
    default: 2.0 puts the face at 0.5, room for it to move by half its size or grow 1.8x in a frame).
    full_on_motion_fraction: share of the frame that must move to force the whole pyramid. People walking
    move up to about 40 % of the small motion frame (the 90th percentile is 0.37-0.38 on both real clips
    of the test data, the 1080p crowd included); a pan or a knocked camera moves nearly all of it. 0.6
    sits between the two, so a walking crowd keeps its schedule; shot cuts are forced apart from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    full_every_frames: int = Field(5, ge=1, le=1000)
    region_scale: float = Field(2.0, ge=1.2, le=4.0)
    full_on_motion_fraction: float = Field(0.6, gt=0.0, le=1.0)
    motion: MotionConfig = MotionConfig()


@dataclass(frozen=True)
class ScheduledFaces:
    """Faces of one frame and how they were found; `regions_xyxy` (R, 4) are the squares searched."""

    faces: Faces
    kind: DetectionKind
    regions_xyxy: np.ndarray
    motion: Motion


def grow_boxes(xyxy: np.ndarray, scale: float) -> np.ndarray:
    """(N, 4) boxes -> (N, 4) squares of side `scale` x the longer side, same centres."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = scale * (boxes[:, 2:] - boxes[:, :2]).max(axis=1, keepdims=True) / 2
    grown: np.ndarray = np.concatenate([centre - half, centre + half], axis=1)
    return grown


def plan_detection(
    frames_since_full: int | None, live_xyxy: np.ndarray, motion: Motion, config: ScheduleConfig
) -> tuple[DetectionKind, np.ndarray]:
    """The detection for this frame and the regions to search (empty unless "regions").

    Args:
        frames_since_full: frames since the last full detection (0: the previous frame had one; None: never).
        live_xyxy: (N, 4) predicted boxes of the live tracks in this frame.
        motion: this frame's motion test.
    """
    no_regions = np.zeros((0, 4), np.float32)
    due = frames_since_full is None or frames_since_full + 1 >= config.full_every_frames
    if due or motion.changed_fraction >= config.full_on_motion_fraction:
        return "full", no_regions
    if len(live_xyxy) == 0:
        return ("full" if motion.changed else "skip"), no_regions
    return "regions", grow_boxes(live_xyxy, config.region_scale)


class DetectionSchedule:
    """One camera's detection schedule: `detect(detector, frame, live boxes)` per frame, in order. The
    detector is passed per call, so a model update between frames changes nothing here."""

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        self.config = config or ScheduleConfig()
        self.motion = MotionDetector(self.config.motion)
        self._since_full: int | None = None

    def detect(
        self, detector: MtcnnDetector, image_rgb: np.ndarray, live_xyxy: np.ndarray, force_full: bool = False
    ) -> ScheduledFaces:
        """image_rgb: (H, W, 3) uint8 RGB; live_xyxy: (N, 4) the live tracks' predicted boxes; force_full:
        run the whole pyramid whatever the plan (a shot cut: every track just ended)."""
        motion = self.motion.update(image_rgb)
        kind, regions = plan_detection(self._since_full, live_xyxy, motion, self.config)
        if force_full and kind != "full":
            kind, regions = "full", np.zeros((0, 4), np.float32)
        if kind == "full":
            faces, self._since_full = detector.detect(image_rgb), 0
        else:
            self._since_full = (self._since_full or 0) + 1
            faces = detector.detect_in_regions(image_rgb, regions) if kind == "regions" else Faces.empty()
        return ScheduledFaces(faces, kind, regions, motion)
