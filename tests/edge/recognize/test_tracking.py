"""Tracker, quality, liveness and voting maths on small tables."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import TrackerConfig
from edge.recognize.liveness import LivenessCue, nonrigid_motion
from edge.recognize.quality import alignable, assess, sharpness_score, size_score
from edge.recognize.tracker import FaceTracker, greedy_match
from models.detect.boxes import iou_matrix
from models.faces import Faces

# A frontal face's 5 landmarks in a 100 px box at the origin.
FRONTAL = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)


def faces_at(*boxes: tuple[float, float, float, float]) -> Faces:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    points = [FRONTAL * (b[2] - b[0]) / 100 + b[:2] for b in xyxy]
    landmarks = np.stack(points) if points else np.zeros((0, 5, 2))
    return Faces(xyxy, np.ones(len(xyxy), np.float32), landmarks.astype(np.float32))


def test_greedy_match() -> None:
    iou = np.array([[0.9, 0.8], [0.85, 0.1]], np.float32)
    assert greedy_match(iou, 0.3) == [(0, 0)]  # row 1 only overlaps column 1 by 0.1, below the threshold
    assert greedy_match(np.zeros((0, 0)), 0.3) == []


def step(tracker: FaceTracker, faces: Faces):  # type: ignore[no-untyped-def]
    """One frame of plain IoU tracking."""
    prediction = tracker.predict()
    pairs = greedy_match(iou_matrix(prediction.xyxy, faces.xyxy), tracker.config.iou_match_threshold)
    return tracker.update(faces, pairs)


def test_tracks_keep_ids_while_faces_move_and_end_after_misses() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=2, lost_frames=2))
    started, ended, matched = [], [], []
    for i in range(6):
        right, left = (10 + 3 * i, 10, 110 + 3 * i, 110), (200 - 2 * i, 50, 280 - 2 * i, 130)
        update = step(tracker, faces_at(right, left))
        started += update.started
        matched.append(sorted(update.matched))
    assert started == [1, 2]
    assert matched[-1] == [(1, 0), (2, 1)], "ids stay with their faces"
    for _ in range(3):
        ended += step(tracker, faces_at()).ended
    assert sorted(ended) == [1, 2]


def test_a_single_false_detection_never_starts_a_track() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=3))
    assert step(tracker, faces_at((0, 0, 50, 50))).started == []
    dropped = []
    for _ in range(3):
        update = step(tracker, faces_at())
        assert update.started == [] and update.ended == []
        dropped += update.dropped
    assert dropped == [1], "the tentative track is dropped, never ended"
    assert tracker.end_all() == ([], [])


def test_end_all_splits_active_and_tentative_tracks() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=2))
    step(tracker, faces_at((0, 0, 50, 50)))
    step(tracker, faces_at((0, 0, 50, 50), (200, 0, 250, 50)))  # track 1 active, track 2 tentative
    assert tracker.end_all() == ([1], [2])
    assert len(tracker.predict().ids) == 0


def test_prediction_says_which_tracks_activate_with_this_frame() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=3))
    step(tracker, faces_at((0, 0, 50, 50)))
    assert not tracker.predict().will_activate[0], "one hit so far: a hit now makes two of three"
    tracker.update(faces_at((0, 0, 50, 50)), [(0, 0)])
    assert tracker.predict().will_activate[0], "two hits: a hit in this frame activates it"


def test_a_refused_pair_starts_a_new_track_for_the_face() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=1))
    step(tracker, faces_at((0, 0, 50, 50)))
    tracker.predict()
    update = tracker.update(faces_at((0, 0, 50, 50)), [])  # the caller refused the IoU pair
    assert update.assigned == [(2, 0)] and update.started == [2]


@pytest.mark.parametrize(
    ("landmarks", "ok"),
    [
        (FRONTAL, True),  # frontal
        (FRONTAL + np.array([[0, 0], [0, 0], [-25, 0], [0, 0], [0, 0]]), True),  # nose beside the eyes: a profile
        (np.array([[48, 40], [52, 40], [50, 60], [35, 80], [65, 80]], np.float32), False),  # eyes collapsed
        (np.array([[30, 80], [70, 80], [50, 60], [35, 40], [65, 40]], np.float32), False),  # mouth above the eyes
        (FRONTAL + np.array([[0, 0], [0, 0], [0, 0], [0, 0], [90, 0]]), False),  # a point far outside the box
    ],
)
def test_alignable(landmarks: np.ndarray, ok: bool) -> None:
    box = np.array([[0, 0, 100, 100]], np.float32)
    assert alignable(box, landmarks[None].astype(np.float32))[0] == ok


def test_quality_weighs_small_faces_less_but_never_zero() -> None:
    rng = np.random.default_rng(2)
    gray = (rng.random((400, 400)) * 255).astype(np.uint8)
    quality = assess(gray, faces_at((0, 0, 20, 20), (0, 0, 40, 40), (100, 100, 250, 250)), 32, 112)
    assert quality.embeddable.tolist() == [False, True, True]
    assert quality.weight[0] == 0.0, "below the embedder's useful size: not embedded"
    assert 0 < quality.weight[1] < quality.weight[2] <= 1.0
    empty = assess(gray, Faces.empty(), 32, 112)
    assert empty.embeddable.shape == (0,) and empty.weight.shape == (0,)


def test_size_score() -> None:
    np.testing.assert_allclose(size_score(np.array([20, 40, 76, 112, 300]), 40, 112), [0, 0, 0.5, 1, 1])


def test_liveness_separates_a_still_photo_from_a_moving_face() -> None:
    rng = np.random.default_rng(0)
    photo, live = LivenessCue(30, 0.02, 0.06), LivenessCue(30, 0.02, 0.06)
    for i in range(20):
        # the photo moves and scales in its own plane, with 0.5 px detector jitter
        photo.update(FRONTAL * (1 + 0.01 * i) + 3 * i + rng.normal(0, 0.5, (5, 2)))
        # the live face also changes shape: mouth opens, head turns
        live.update(
            FRONTAL
            + np.array([[0, 0], [0, 0], [8 * np.sin(i), 0], [0, 6 * np.sin(i / 2)], [0, 6 * np.sin(i / 2)]])
            + rng.normal(0, 0.5, (5, 2))
        )
    photo_score, live_score = photo.score(), live.score()
    assert photo_score is not None and photo_score < 0.2
    assert live_score is not None and live_score > 0.8
    assert nonrigid_motion(np.stack([FRONTAL] * 4)) == pytest.approx(0.0, abs=1e-5)


def test_sharpness_drops_with_blur() -> None:
    rng = np.random.default_rng(1)
    sharp = (rng.random((120, 120)) * 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    box = np.array([[10, 10, 110, 110]], np.float32)
    assert sharpness_score(sharp, box)[0] == pytest.approx(1.0)
    assert sharpness_score(blurred, box)[0] < 0.5
    assert sharpness_score(sharp, np.array([[0, 0, 2, 2]], np.float32))[0] == 0.0, "too small to judge"
