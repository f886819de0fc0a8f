"""The truth file of a clip: who is on screen, shot by shot, and which of them are enrolled.

Format (YAML): `clip: <file name>` and `shots:`, a list of `{frames: [first, last], enrolled: [...],
others: [...]}` with 0-based inclusive frame numbers; `enrolled` names folders of the people directory,
`others` are people on screen who must never be named (free text). Other keys (`what`, `view`) are notes.

Truth read off the frames by eye is often a few frames off at the cuts; `align_to_cuts` moves each shot
boundary to the largest colour change within a few frames of it (and says so), so that a track ended at
the real cut is not counted as crossing into the next shot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from facefleet.yamlfile import read_yaml_model
from models.detect.shotcut import colour_histogram, histogram_distance


class TruthError(ValueError):
    """The truth file is unreadable or inconsistent; the message says where."""


class Shot(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    frames: tuple[int, int]
    enrolled: tuple[str, ...] = ()
    others: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> Shot:
        if not 0 <= self.frames[0] <= self.frames[1]:
            raise ValueError(f"frames {list(self.frames)} must be 0 <= first <= last")
        return self

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[1]

    @property
    def label(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def strangers_on_screen(self) -> bool:
        return bool(self.others)


class ClipTruth(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    clip: str = ""
    shots: tuple[Shot, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_order(self) -> ClipTruth:
        for a, b in zip(self.shots, self.shots[1:], strict=False):
            if b.first <= a.last:
                raise ValueError(f"shot {b.label} overlaps or precedes shot {a.label}")
        return self

    @property
    def enrolled_people(self) -> list[str]:
        return sorted({p for s in self.shots for p in s.enrolled})


def load_truth(path: Path) -> ClipTruth:
    return read_yaml_model(path, ClipTruth, TruthError, "truth file")


@dataclass(frozen=True)
class BoundaryMove:
    """A shot boundary (first frame of the later shot) moved to where the picture really changes."""

    stated: int
    aligned: int
    distance: float


def frame_changes(clip: Path) -> np.ndarray:
    """(F,) colour-histogram distance of each frame to the one before (0 for the first)."""
    capture = cv2.VideoCapture(str(clip))
    if not capture.isOpened():
        raise TruthError(f"{clip}: not a readable video")
    distances, previous = [], None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            hist = colour_histogram(frame)
            distances.append(histogram_distance(previous, hist) if previous is not None else 0.0)
            previous = hist
    finally:
        capture.release()
    return np.array(distances, np.float32)


def align_to_cuts(
    truth: ClipTruth, changes: np.ndarray, tolerance: int = 10, min_distance: float = 0.2, min_ratio: float = 4.0
) -> tuple[ClipTruth, list[BoundaryMove]]:
    """Move each boundary between consecutive shots to the largest frame change within `tolerance` frames,
    if that change is a visible cut: at least `min_distance`, or `min_ratio` times the median change of
    those frames (a cut between two shots of one room changes fewer colours); the earlier shot then ends the
    frame before."""
    shots = [s.model_copy() for s in truth.shots]
    moves = []
    for i in range(1, len(shots)):
        prev, cur = shots[i - 1], shots[i]
        if cur.first != prev.last + 1:
            continue  # a gap between shots: nothing to align
        lo, hi = max(prev.first + 1, cur.first - tolerance), min(cur.last, cur.first + tolerance, len(changes) - 1)
        if lo > hi:
            continue
        window = changes[lo : hi + 1]
        at = lo + int(np.argmax(window))
        if at != cur.first and (changes[at] >= min_distance or changes[at] >= min_ratio * float(np.median(window))):
            moves.append(BoundaryMove(cur.first, at, float(changes[at])))
            shots[i - 1] = prev.model_copy(update={"frames": (prev.first, at - 1)})
            shots[i] = cur.model_copy(update={"frames": (at, cur.last)})
    return truth.model_copy(update={"shots": tuple(shots)}), moves
