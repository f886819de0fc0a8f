"""Which crops a collection at the device keeps: the centre track's, by quality, spread over poses."""

from __future__ import annotations

import numpy as np
import pytest

from edge.recognize.collect import MAX_TRACKS, CropCollection, centre_distance, choose_crops
from edge.recognize.processor import PooledFaces, TrackSighting

WH = (640, 360)


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize(
    ("xyxy", "expected"),
    [
        ((300, 160, 340, 200), 0.0),  # centred
        ((0, 0, 0, 0), 1.0),  # a corner
        ((620, 160, 660, 200), 320 / np.hypot(320, 180)),  # right edge, middle height
    ],
)
def test_centre_distance(xyxy: tuple[float, ...], expected: float) -> None:
    assert centre_distance(np.array([xyxy], np.float64), WH)[0] == pytest.approx(expected, abs=1e-6)


def test_choose_crops_empty_and_zero_quality() -> None:
    assert choose_crops(np.zeros((0, 3), np.float32), np.zeros(0, np.float32), 5) == []  # nothing seen
    assert choose_crops(np.stack([unit(1, 0, 0)]), np.zeros(1, np.float32), 5) == []  # no usable face


def test_choose_crops_best_first_then_most_different() -> None:
    # 0: best frontal; 1: close to 0, sharper than 2; 2: a turned head, a bit softer; 3: blurred, far away
    embeddings = np.stack([unit(1, 0, 0), unit(1, 0.3, 0), unit(0.6, 0.8, 0), unit(0, 0, 1)])
    quality = np.array([1.0, 0.9, 0.7, 0.2], np.float32)
    assert choose_crops(embeddings, quality, 2) == [0, 2]  # the pose adds more than a sharper duplicate
    assert choose_crops(embeddings, quality, 10) == [0, 2, 1]  # the blurred one (under half the best) never
    assert choose_crops(embeddings, quality, 10, min_quality_ratio=0.1) == [0, 2, 3, 1]


def test_choose_crops_skips_duplicates() -> None:
    embeddings = np.stack([unit(1, 0, 0)] * 3 + [unit(1, 0.05, 0)])
    assert choose_crops(embeddings, np.ones(4, np.float32), 4) == [0]  # one face, four near-identical crops


def pooled(
    track_ids: list[int],
    embeddings: list[np.ndarray],
    weights: list[float],
    boxes: list[tuple[float, float, float, float]],
) -> PooledFaces:
    n = len(track_ids)
    crops = np.stack([np.full((112, 112, 3), 10 * (i + 1), np.uint8) for i in range(n)])
    return PooledFaces(
        np.arange(n),
        np.array(track_ids),
        crops,
        np.stack(embeddings),
        np.array(weights, np.float32),
        np.array(boxes, np.float64),
    )


CENTRE = (300.0, 160.0, 340.0, 200.0)
EDGE = (10.0, 10.0, 50.0, 50.0)


def test_collection_keeps_the_centre_track_only() -> None:
    collection = CropCollection(max_crops=3)
    for i in range(8):
        # track 1 stands in the middle; track 2 (sharper crops) stands at the edge
        sightings = [TrackSighting(1, True, True, CENTRE), TrackSighting(2, True, True, EDGE)]
        angle = i / 8
        faces = pooled([1, 2], [unit(1, angle, 0), unit(0, 1, angle)], [0.6, 1.0], [CENTRE, EDGE])
        collection.observe(sightings, faces, WH)
    assert collection.target_track() == 1
    chosen = collection.chosen()
    assert 1 < len(chosen) <= 3
    assert all(int(crop[0, 0, 0]) == 10 for crop in chosen)  # track 1's crops (row 0), copies kept


def test_collection_copies_crops_and_bounds_tracks() -> None:
    collection = CropCollection(max_crops=2, candidates_per_track=4)
    faces = pooled([1], [unit(1, 0, 0)], [0.5], [CENTRE])
    collection.observe([TrackSighting(1, True, True, CENTRE)], faces, WH)
    faces.crops_rgb[:] = 0  # the processor's next batch reuses nothing, but a copy must not care
    assert int(collection.chosen()[0][0, 0, 0]) == 10
    for i in range(10):  # one face seen ten times: at most 4 kept, the best ones
        collection.observe([], pooled([1], [unit(1, i, 0)], [0.1 * i], [CENTRE]), WH)
    assert sorted(collection.candidates[1].quality) == pytest.approx([0.6, 0.7, 0.8, 0.9])
    for tid in range(2, 20):  # a crowd: only MAX_TRACKS tracks keep crops
        collection.observe([], pooled([tid], [unit(1, 0, tid)], [0.5], [EDGE]), WH)
    assert len(collection.candidates) == MAX_TRACKS


def test_collection_without_faces_chooses_nothing() -> None:
    collection = CropCollection(max_crops=5)
    collection.observe([TrackSighting(1, True, False, CENTRE)], None, WH)  # seen, never embedded
    assert collection.target_track() is None
    assert collection.chosen() == []
