"""A liveness cue from landmark motion: a face moves non-rigidly, a photo or a screen does not.

Each frame's 5 landmarks are brought onto the track's first shape by the best similarity transform
(rotation, scale, shift). Whatever that cannot explain is non-rigid motion: expressions, blinks moving the
eye points, head turns. A printed photo or a phone screen held still (or moved in its own plane) leaves only
detector jitter. This is a cue to report, not a verdict: a tilted photo adds some perspective change.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from models.embed.align import similarity_transform


def align_to(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(5, 2) landmarks -> (5, 2) the same points after the similarity transform that best fits reference."""
    matrix = similarity_transform(landmarks, reference)
    aligned: np.ndarray = landmarks @ matrix[:, :2].T + matrix[:, 2]
    return aligned


def nonrigid_motion(shapes: np.ndarray) -> float:
    """(T, 5, 2) landmarks of one face over T frames -> RMS non-rigid motion, in eye distances.

    Every shape is aligned onto the first; the spread of the aligned shapes around their mean is what no
    rigid in-plane motion explains.
    """
    reference = shapes[0]
    aligned = np.stack([align_to(s, reference) for s in shapes])
    eye_dist = max(float(np.linalg.norm(reference[1] - reference[0])), 1e-6)
    spread = aligned - aligned.mean(axis=0)
    return float(np.sqrt((spread**2).sum(axis=2).mean())) / eye_dist


class LivenessCue:
    """Per-track bounded history of landmarks -> score in [0, 1] (1 = natural motion, 0 = still as a photo).

    noise_floor: non-rigid motion (in eye distances) that detector jitter alone produces on a still photo
    (about 0.015-0.02 for MTCNN on 100 px faces); it scores 0. motion_ref: motion that scores 1 (a talking,
    turning head reaches 0.06-0.09). Needs at least 4 frames; `score()` is None before that.
    """

    def __init__(self, window: int, noise_floor: float, motion_ref: float) -> None:
        self._shapes: deque[np.ndarray] = deque(maxlen=window)
        self.noise_floor = noise_floor
        self.motion_ref = motion_ref

    def update(self, landmarks: np.ndarray) -> None:
        self._shapes.append(np.asarray(landmarks, np.float32).copy())

    def score(self) -> float | None:
        if len(self._shapes) < 4:
            return None
        motion = nonrigid_motion(np.stack(self._shapes))
        return float(np.clip((motion - self.noise_floor) / (self.motion_ref - self.noise_floor), 0.0, 1.0))
