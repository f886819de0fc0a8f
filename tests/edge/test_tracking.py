"""Tracker, quality, liveness and voting maths on small tables."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import RecognitionConfig, TrackerConfig
from edge.liveness import LivenessCue, nonrigid_motion
from edge.quality import pose_score, sharpness_score, size_score
from edge.tracker import FaceTracker, greedy_match, iou_matrix
from edge.voting import TrackVotes
from models.faces import Faces

# A frontal face's 5 landmarks in a 100 px box at the origin.
FRONTAL = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)


def faces_at(*boxes: tuple[float, float, float, float]) -> Faces:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    points = [FRONTAL * (b[2] - b[0]) / 100 + b[:2] for b in xyxy]
    landmarks = np.stack(points) if points else np.zeros((0, 5, 2))
    return Faces(xyxy, np.ones(len(xyxy), np.float32), landmarks.astype(np.float32))


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([[0, 0, 10, 10]], [[0, 0, 10, 10]], 1.0),  # identical
    ([[0, 0, 10, 10]], [[5, 0, 15, 10]], 1 / 3),  # half overlap
    ([[0, 0, 10, 10]], [[20, 20, 30, 30]], 0.0),  # disjoint
    ([[0, 0, 0, 0]], [[0, 0, 0, 0]], 0.0),  # zero-size boxes
])
def test_iou(a: list[list[float]], b: list[list[float]], expected: float) -> None:
    iou = iou_matrix(np.array(a, np.float32), np.array(b, np.float32))
    assert iou[0, 0] == pytest.approx(expected, abs=1e-6)


def test_iou_of_nothing_and_greedy_match() -> None:
    assert iou_matrix(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    iou = np.array([[0.9, 0.8], [0.85, 0.1]], np.float32)
    assert greedy_match(iou, 0.3) == [(0, 0)]  # row 1 only overlaps column 1 by 0.1, below the threshold
    assert greedy_match(np.zeros((0, 0)), 0.3) == []


def test_tracks_keep_ids_while_faces_move_and_end_after_misses() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=2, lost_frames=2))
    started, ended, matched = [], [], []
    for i in range(6):
        right, left = (10 + 3 * i, 10, 110 + 3 * i, 110), (200 - 2 * i, 50, 280 - 2 * i, 130)
        update = tracker.update(faces_at(right, left))
        started += update.started
        matched.append(sorted(update.matched))
    assert started == [1, 2]
    assert matched[-1] == [(1, 0), (2, 1)], "ids stay with their faces"
    for _ in range(3):
        ended += tracker.update(faces_at()).ended
    assert sorted(ended) == [1, 2]


def test_a_single_false_detection_never_starts_a_track() -> None:
    tracker = FaceTracker(TrackerConfig(activation_frames=3))
    assert tracker.update(faces_at((0, 0, 50, 50))).started == []
    for _ in range(3):
        assert tracker.update(faces_at()).started == []
    assert tracker.end_all() == []


@pytest.mark.parametrize(("landmarks", "low", "high"), [
    (FRONTAL, 0.9, 1.0),  # frontal
    # nose far to one side: a profile
    (FRONTAL + np.array([[0, 0], [0, 0], [18, 0], [0, 0], [0, 0]]), 0.0, 0.2),
    (FRONTAL @ np.array([[0.8, 0.6], [-0.6, 0.8]], np.float32), 0.0, 0.4),  # rolled ~37 degrees
])
def test_pose_score(landmarks: np.ndarray, low: float, high: float) -> None:
    assert low <= pose_score(landmarks[None].astype(np.float32))[0] <= high


def test_size_score() -> None:
    np.testing.assert_allclose(size_score(np.array([20, 40, 76, 112, 300]), 40, 112), [0, 0, 0.5, 1, 1])


def test_liveness_separates_a_still_photo_from_a_moving_face() -> None:
    rng = np.random.default_rng(0)
    photo, live = LivenessCue(30, 0.02, 0.06), LivenessCue(30, 0.02, 0.06)
    for i in range(20):
        # the photo moves and scales in its own plane, with 0.5 px detector jitter
        photo.update(FRONTAL * (1 + 0.01 * i) + 3 * i + rng.normal(0, 0.5, (5, 2)))
        # the live face also changes shape: mouth opens, head turns
        live.update(FRONTAL + np.array([[0, 0], [0, 0], [8 * np.sin(i), 0], [0, 6 * np.sin(i / 2)],
                                        [0, 6 * np.sin(i / 2)]]) + rng.normal(0, 0.5, (5, 2)))
    photo_score, live_score = photo.score(), live.score()
    assert photo_score is not None and photo_score < 0.2
    assert live_score is not None and live_score > 0.8
    assert nonrigid_motion(np.stack([FRONTAL] * 4)) == pytest.approx(0.0, abs=1e-5)


def test_votes_change_confirm_and_fall_back_to_unknown() -> None:
    config = RecognitionConfig(match_threshold=0.4, change_votes=2, confirm_votes=3, confirm_share=0.6)
    votes = TrackVotes(config)
    assert not votes.add("ann", "Ann", 0.7).changed, "one vote is not enough to switch"
    change = votes.add("ann", "Ann", 0.8)
    assert change.changed and votes.identity.person_id == "ann" and votes.identity.name == "Ann"
    assert votes.add("ann", "Ann", 0.75).confirmed and votes.identity.confirmed
    assert votes.identity.confidence == pytest.approx(0.75)
    assert not votes.add("bob", "Bob", 0.2).changed, "below the threshold votes unknown, still a minority"
    assert votes.identity.votes == {"ann": 3, "unknown": 1}


def test_vote_window_is_bounded() -> None:
    votes = TrackVotes(RecognitionConfig(window_frames=5))
    for _ in range(20):
        votes.add(None, None, -1.0)
    assert votes.identity.votes == {"unknown": 5} and votes.samples == 20 and votes.identity.person_id is None


def test_sharpness_drops_with_blur() -> None:
    rng = np.random.default_rng(1)
    sharp = (rng.random((120, 120)) * 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    box = np.array([[10, 10, 110, 110]], np.float32)
    assert sharpness_score(sharp, box)[0] == pytest.approx(1.0)
    assert sharpness_score(blurred, box)[0] < 0.5
    assert sharpness_score(sharp, np.array([[0, 0, 2, 2]], np.float32))[0] == 0.0, "too small to judge"
