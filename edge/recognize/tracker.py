"""Face tracking across frames: a constant-velocity Kalman filter per face (SORT).

Per frame: `predict()` moves every track one step; the caller associates detections with the predictions
(`greedy_match` on `models.detect.boxes.iou_matrix`, masked by whatever else it knows, e.g. appearance) and hands
the pairs to `update(faces, pairs)`. Track ids are per camera, start at 1 and never repeat within a tracker's life. A
track becomes active after `activation_frames` hits (a single false detection never reaches the outside
world) and ends after `lost_frames` frames without a matching detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.config import TrackerConfig
from models.faces import Faces

# State [cx, cy, w, h, vcx, vcy, vw, vh]; we observe the first four.
_F = np.eye(8, dtype=np.float64)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8, dtype=np.float64)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by descending IoU, each row and column used once, IoU >= threshold.

    Greedy is what ByteTrack-style trackers fall back to without `lap`; with a handful of faces per frame
    it agrees with the Hungarian assignment except in contrived overlaps.
    """
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_r, used_c = set(), set()
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


@dataclass
class KalmanBox:
    """Kalman filter of one box; noise scales with the box height (as in DeepSORT)."""

    x: np.ndarray
    p: np.ndarray = field(default_factory=lambda: np.diag([1, 1, 1, 1, 10, 10, 10, 10]).astype(np.float64))

    @classmethod
    def from_xyxy(cls, xyxy: np.ndarray) -> KalmanBox:
        x = np.zeros(8)
        x[:4] = _to_cxcywh(xyxy)
        kb = cls(x)
        kb.p *= max(float(x[3]), 1.0) ** 2 * 0.01
        return kb

    def predict(self) -> np.ndarray:
        h = max(float(self.x[3]), 1.0)
        q = np.diag([0.05 * h] * 4 + [0.01 * h] * 4) ** 2
        self.x = _F @ self.x
        self.p = _F @ self.p @ _F.T + q
        return self.xyxy

    def update(self, xyxy: np.ndarray) -> None:
        r = np.diag([0.05 * max(float(self.x[3]), 1.0)] * 4) ** 2
        s = _H @ self.p @ _H.T + r
        gain = self.p @ _H.T @ np.linalg.inv(s)
        self.x = self.x + gain @ (_to_cxcywh(xyxy) - _H @ self.x)
        self.p = (np.eye(8) - gain @ _H) @ self.p

    @property
    def xyxy(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def _to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


@dataclass
class Track:
    track_id: int
    kalman: KalmanBox
    hits: int = 1
    misses: int = 0
    active: bool = False
    detection: int = -1  # index into this frame's Faces, -1 when unmatched this frame


@dataclass(frozen=True)
class TrackPrediction:
    """Where the live tracks should be in this frame, one row per track.

    ids: (T,) track ids. xyxy: (T, 4) predicted boxes. will_activate: (T,) bool, active already or
    activated by a hit in this frame.
    """

    ids: np.ndarray
    xyxy: np.ndarray
    will_activate: np.ndarray


@dataclass(frozen=True)
class TrackUpdate:
    """What one frame did to the tracks.

    assigned: (track_id, face index) for every face of the frame, tentative and new tracks included.
    matched: the pairs of active tracks. started: ids that became active now. ended: ids that were active
    and are now lost. dropped: tentative ids that vanished before becoming active.
    """

    assigned: list[tuple[int, int]]
    matched: list[tuple[int, int]]
    started: list[int]
    ended: list[int]
    dropped: list[int]


class FaceTracker:
    """`predict()` then `update(faces, pairs)` once per frame; `end_all()` at a shot cut or camera stop."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.tracks: list[Track] = []
        self._next_id = 1

    def predict(self) -> TrackPrediction:
        """Advance every track's Kalman filter to this frame (call once per frame, before `update`)."""
        if not self.tracks:
            return TrackPrediction(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, bool))
        xyxy = np.stack([t.kalman.predict() for t in self.tracks])
        ids = np.array([t.track_id for t in self.tracks], np.int64)
        soon = np.array([t.active or t.hits + 1 >= self.config.activation_frames for t in self.tracks])
        return TrackPrediction(ids, xyxy, soon)

    def update(self, faces: Faces, pairs: list[tuple[int, int]]) -> TrackUpdate:
        """Apply this frame's associations: pairs of (row of `predict()`, face index), each used once.

        Faces left unpaired start new tentative tracks.
        """
        for track in self.tracks:
            track.detection = -1
        for row, col in pairs:
            track = self.tracks[row]
            track.kalman.update(faces.xyxy[col])
            track.hits, track.misses, track.detection = track.hits + 1, 0, col
        used = {c for _, c in pairs}
        for col in range(len(faces)):
            if col not in used:
                self.tracks.append(Track(self._next_id, KalmanBox.from_xyxy(faces.xyxy[col]), detection=col))
                self._next_id += 1
        return self._lifecycle()

    def _lifecycle(self) -> TrackUpdate:
        started: list[int] = []
        ended: list[int] = []
        dropped: list[int] = []
        kept: list[Track] = []
        for track in self.tracks:
            if track.detection < 0:
                track.misses += 1
            # A tentative track gets one miss of grace; an active one rides out `lost_frames` (occlusion).
            if track.misses > (self.config.lost_frames if track.active else 1):
                (ended if track.active else dropped).append(track.track_id)
                continue
            if not track.active and track.hits >= self.config.activation_frames:
                track.active = True
                started.append(track.track_id)
            kept.append(track)
        self.tracks = kept
        assigned = [(t.track_id, t.detection) for t in kept if t.detection >= 0]
        matched = [(t.track_id, t.detection) for t in kept if t.active and t.detection >= 0]
        return TrackUpdate(assigned, matched, started, ended, dropped)

    def end_all(self) -> tuple[list[int], list[int]]:
        """Forget every track; returns (active ids, which need a `track_ended`; tentative ids)."""
        ended = [t.track_id for t in self.tracks if t.active]
        dropped = [t.track_id for t in self.tracks if not t.active]
        self.tracks = []
        return ended, dropped
