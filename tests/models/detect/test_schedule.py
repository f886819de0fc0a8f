"""The detection schedule: which detection each frame gets, and detect_in_regions on real frames."""

import cv2
import numpy as np
import pytest

from models.detect.boxes import iou_matrix
from models.detect.motion import Motion
from models.detect.schedule import DetectionSchedule, ScheduleConfig, grow_boxes, plan_detection
from models.imageio import load_image

STILL = Motion(np.zeros((0, 4), np.float32), 0.0, False)
MOVING = Motion(np.array([[0, 0, 50, 50]], np.float32), 0.05, True)
CUT = Motion(np.array([[0, 0, 640, 360]], np.float32), 0.9, True)
LIVE = np.array([[100, 100, 140, 140]], np.float32)
NONE = np.zeros((0, 4), np.float32)


@pytest.mark.parametrize(
    ("since_full", "live", "motion", "every", "kind"),
    [
        (None, LIVE, STILL, 5, "full"),  # never detected: the whole frame first
        (0, LIVE, MOVING, 5, "regions"),  # just after a full detection: only around the live faces
        (3, LIVE, MOVING, 5, "regions"),  # 4th frame since
        (4, LIVE, STILL, 5, "full"),  # 5th frame: the interval is due
        (0, LIVE, CUT, 5, "full"),  # most of the picture changed: tracks are no guide
        (0, NONE, MOVING, 5, "full"),  # nothing tracked, something moved: search at once
        (0, NONE, STILL, 5, "skip"),  # nothing tracked, nothing moved: no face can have appeared
        (0, LIVE, STILL, 1, "full"),  # full_every_frames 1: no schedule
    ],
)
def test_plan(since_full: int | None, live: np.ndarray, motion: Motion, every: int, kind: str) -> None:
    planned, regions = plan_detection(since_full, live, motion, ScheduleConfig(full_every_frames=every))
    assert planned == kind
    assert len(regions) == (len(live) if kind == "regions" else 0)


def test_grow_boxes() -> None:
    grown = grow_boxes(np.array([[10, 20, 30, 60]], np.float32), 2.0)  # 20x40 box -> 80x80 square
    np.testing.assert_allclose(grown, [[-20, 0, 60, 80]])


def _match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return iou_matrix(a, b).max(axis=1) if len(b) else np.zeros(len(a))


def test_regions_find_the_faces_full_detection_finds(pipeline, shared_data) -> None:
    rgb = cv2.cvtColor(load_image(shared_data / "clips" / "two_people.jpg"), cv2.COLOR_BGR2RGB)
    full = pipeline.detector.detect(rgb)
    assert len(full) == 2
    found = pipeline.detector.detect_in_regions(rgb, grow_boxes(full.xyxy, 2.0))
    assert len(found) == 2
    assert (_match(found.xyxy, full.xyxy) > 0.8).all()
    one = pipeline.detector.detect_in_regions(rgb, grow_boxes(full.xyxy[:1], 2.0))
    assert len(one) == 1 and _match(one.xyxy, full.xyxy[:1])[0] > 0.8  # only the face that was asked about


@pytest.mark.parametrize(
    "regions",
    [
        np.zeros((0, 4), np.float32),  # none
        np.array([[-500, -500, -400, -400]], np.float32),  # wholly outside the frame
        np.array([[0, 0, 60, 60]], np.float32),  # a corner without a face
    ],
)
def test_regions_without_faces(pipeline, shared_data, regions: np.ndarray) -> None:
    rgb = cv2.cvtColor(load_image(shared_data / "clips" / "two_people.jpg"), cv2.COLOR_BGR2RGB)
    assert len(pipeline.detector.detect_in_regions(rgb, regions)) == 0


def test_schedule_on_the_real_clip_keeps_the_singer(pipeline, shared_data) -> None:
    """Frames 90-104 of the Hamilton clip (the singer, large and moving): full detection every 5 frames,
    regions around the last faces in between, and every frame still has his face."""
    capture = cv2.VideoCapture(str(shared_data / "clips" / "short_hamilton_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 90)
    scheduled = DetectionSchedule(ScheduleConfig(full_every_frames=5))
    live, kinds = np.zeros((0, 4), np.float32), []
    for _ in range(15):
        ok, frame = capture.read()
        assert ok
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        result = scheduled.detect(pipeline.detector, rgb, live)
        kinds.append(result.kind)
        full = pipeline.detector.detect(rgb)
        assert (_match(full.xyxy[full.size_px > 60], result.faces.xyxy) > 0.5).all()
        live = result.faces.xyxy
    capture.release()
    assert kinds == ["full", "regions", "regions", "regions", "regions"] * 3
