"""Shot cuts: the frame-level test that ends every track when the picture changes to another scene.

An edited video (a broadcast, a stage show, a montage) cuts from one camera to another; a tracker that only
compares boxes keeps a track alive when a different face lands in about the same place. The test compares
the hue-saturation histograms of downscaled consecutive frames (total variation distance, 0 = the same
colours, 1 = none in common): a cut swaps most of the colours at once, while motion, panning, zooming and
people walking through keep them. A cut must also stand out from the recent frame-to-frame changes (a
multiple of their median), so that a shaky or flickering camera whose every frame changes a lot does not
cut all the time. Cost: a strided sample of the frame, a 64x36 resize and a histogram (under a millisecond
at 1080p).

Cuts between two shots of one room can change the colours less: on the sitcom clip of the test data two of
32 cuts measure 0.30 and 0.19 (within-shot changes there stay under 0.1, their median about 0.01-0.04). A
frame that changes at least `SUSPECT_FRACTION` of the threshold and stands out like a cut (the same ratio)
is a suspected cut: tracks are not ended, but each must show the same face again before it keeps its box
(`edge.recognize.processor`).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

_SMALL_WH = (64, 36)
_SAMPLED_WIDTH = 128  # every k-th pixel first, so a 1080p frame costs what a 128-pixel-wide one does
_BINS = (16, 8)  # hue, saturation
_RANGES = [0, 180, 0, 256]
CUT_THRESHOLD = 0.3  # defaults of the agent's `tracker.cut_threshold` and `tracker.cut_ratio`
CUT_RATIO = 3.0
SUSPECT_FRACTION = 0.5


def colour_histogram(image_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR frame -> (16 * 8,) float32 hue-saturation histogram summing to 1."""
    step = max(1, image_bgr.shape[1] // _SAMPLED_WIDTH)
    small = cv2.resize(image_bgr[::step, ::step], _SMALL_WH, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(_BINS), _RANGES).ravel()
    total = float(hist.sum())
    return hist / total if total > 0 else hist


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance of two histograms that sum to 1: 0 identical, 1 disjoint."""
    return 0.5 * float(np.abs(a - b).sum())


class ShotCutDetector:
    """`update(frame) -> True` on the first frame of a new shot; `suspected` after it: the frame changed
    like a cut, by at least `SUSPECT_FRACTION` of the threshold but less than the threshold.

    Args:
        threshold: histogram distance a cut needs at least. Cuts between shots of one broadcast measure
            0.35-0.65; consecutive frames of one shot, even with fast motion, stay under 0.2.
        ratio: a cut's distance must also be this many times the median of the last `history` distances.
        history: frames of recent distances kept (bounded).
    """

    def __init__(self, threshold: float = CUT_THRESHOLD, ratio: float = CUT_RATIO, history: int = 15) -> None:
        self.threshold = threshold
        self.ratio = ratio
        self._recent: deque[float] = deque(maxlen=history)
        self._previous: np.ndarray | None = None
        self.suspected = False

    def update(self, image_bgr: np.ndarray) -> bool:
        hist = colour_histogram(image_bgr)
        previous, self._previous = self._previous, hist
        self.suspected = False
        if previous is None:
            return False
        distance = histogram_distance(previous, hist)
        usual = float(np.median(self._recent)) if self._recent else 0.0
        self._recent.append(distance)
        stands_out = distance >= self.ratio * usual
        self.suspected = stands_out and SUSPECT_FRACTION * self.threshold <= distance < self.threshold
        return distance >= self.threshold and stands_out

    def reset(self) -> None:
        """Forget the previous frame (the camera reconnected: its next frame is not a cut)."""
        self._previous = None
        self._recent.clear()
        self.suspected = False
