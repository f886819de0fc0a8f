"""Collecting enrollment crops of the face nearest the centre of a camera: which track, and which of its crops.

Pure library code (no MQTT, no HTTP, no threads). During a collection the frame loop hands each frame's
`PooledFaces` (crops the processor embedded and pooled anyway) and sightings to a `CropCollection`; at the
end, `chosen()` returns the crops of the one track that stayed nearest the centre, picked for quality and
spread over poses.

Which track: each frame, every seen track scores `1 - d` (d: its box centre's distance from the frame centre,
in half-diagonals), so the person standing in the middle throughout beats one crossing the middle once.
Which crops: greedy farthest-point on the embeddings, each step weighed by quality: the sharpest large face
first, then the crop that adds most unlike the ones chosen (a turned head, other light), skipping crops under
`min_quality_ratio` of the best (a blurred one adds "difference" that is only noise).

Memory is bounded: at most `MAX_TRACKS` tracks keep candidates, each at most `candidates_per_track` copies of
112 px crops (the lowest quality is dropped first when full).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.recognize.processor import PooledFaces, TrackSighting

MAX_TRACKS = 6
MAX_SCORED_TRACKS = 64  # tracks whose centre score is counted (more in one collection are ignored)


def centre_distance(xyxy: np.ndarray, frame_wh: tuple[int, int]) -> np.ndarray:
    """(N, 4) boxes -> (N,) distance of each box centre from the frame centre, in half-diagonals (0 centre,
    1 a corner)."""
    w, h = frame_wh
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    half_diagonal = max(float(np.hypot(w, h)) / 2, 1e-6)
    distance: np.ndarray = np.linalg.norm(centres - np.array([w / 2, h / 2]), axis=1) / half_diagonal
    return distance


def choose_crops(
    embeddings: np.ndarray, quality: np.ndarray, keep: int, min_quality_ratio: float = 0.5, min_distance: float = 0.02
) -> list[int]:
    """Indices of at most `keep` crops: the best first, then greedily the one maximising quality x cosine
    distance to the nearest chosen one.

    Args:
        embeddings: (N, D) unit vectors.
        quality: (N,) weights >= 0.
        keep: at most this many.
        min_quality_ratio: crops under this share of the best quality are never chosen.
        min_distance: a crop closer than this (1 - cosine) to a chosen one is a duplicate, never chosen.
    """
    if len(quality) == 0 or keep <= 0 or float(quality.max()) <= 0:
        return []
    eligible = quality >= min_quality_ratio * float(quality.max())
    chosen = [int(np.argmax(quality))]
    nearest = 1.0 - embeddings @ embeddings[chosen[0]]  # (N,) distance to the nearest chosen crop
    while len(chosen) < keep:
        score = np.where(eligible & (nearest >= min_distance), quality * nearest, -1.0)
        score[chosen] = -1.0
        best = int(np.argmax(score))
        if score[best] < 0:
            break
        chosen.append(best)
        nearest = np.minimum(nearest, 1.0 - embeddings @ embeddings[best])
    return chosen


@dataclass
class _Candidates:
    """One track's kept crops, (S, S, 3) RGB copies, with their embeddings and quality."""

    crops_rgb: list[np.ndarray] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)

    def add(self, crop_rgb: np.ndarray, embedding: np.ndarray, quality: float, limit: int) -> None:
        if len(self.quality) >= limit:
            worst = int(np.argmin(self.quality))
            if quality <= self.quality[worst]:
                return
            del self.crops_rgb[worst], self.embeddings[worst], self.quality[worst]
        self.crops_rgb.append(crop_rgb.copy())
        self.embeddings.append(embedding.copy())
        self.quality.append(quality)


class CropCollection:
    """One collection on one camera: `observe` each processed frame, then `chosen()`."""

    def __init__(self, max_crops: int, candidates_per_track: int | None = None) -> None:
        self.max_crops = max_crops
        self.candidates_per_track = candidates_per_track or 3 * max_crops
        self.centre_score: dict[int, float] = {}
        self.candidates: dict[int, _Candidates] = {}
        self.frames = 0

    def observe(
        self, sightings: Sequence[TrackSighting], pooled: PooledFaces | None, frame_wh: tuple[int, int]
    ) -> None:
        """One frame: score the active tracks' centrality, keep the pooled crops of the tracks followed."""
        self.frames += 1
        active = [s for s in sightings if s.active]
        if active:
            distance = centre_distance(np.array([s.xyxy for s in active], np.float64), frame_wh)
            for sighting, d in zip(active, distance.tolist(), strict=True):
                if sighting.track_id in self.centre_score or len(self.centre_score) < MAX_SCORED_TRACKS:
                    self.centre_score[sighting.track_id] = self.centre_score.get(sighting.track_id, 0.0) + 1 - d
        if pooled is None:
            return
        for row, track_id in zip(pooled.rows.tolist(), pooled.track_ids.tolist(), strict=True):
            kept = self.candidates.get(track_id)
            if kept is None:
                if len(self.candidates) >= MAX_TRACKS:
                    continue
                kept = self.candidates[track_id] = _Candidates()
            kept.add(
                pooled.crops_rgb[row], pooled.embeddings[row], float(pooled.face_weight[row]), self.candidates_per_track
            )

    def target_track(self) -> int | None:
        """The track with crops that scored most centrality; None when no track has crops."""
        with_crops = [t for t in self.candidates if self.candidates[t].quality]
        return max(with_crops, key=lambda t: self.centre_score.get(t, 0.0)) if with_crops else None

    def chosen(self) -> list[np.ndarray]:
        """The (S, S, 3) RGB crops to upload: the centre track's, best and most varied first."""
        track = self.target_track()
        if track is None:
            return []
        kept = self.candidates[track]
        picks = choose_crops(np.stack(kept.embeddings), np.array(kept.quality, np.float32), self.max_crops)
        return [kept.crops_rgb[i] for i in picks]
