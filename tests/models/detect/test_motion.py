"""The motion test on synthetic frames (exact expectations) and on the real clip (a cut is a big change)."""

import cv2
import numpy as np
import pytest

from models.detect.motion import MotionConfig, MotionDetector


def _scene(square_x: int | None) -> np.ndarray:
    frame = np.full((360, 640, 3), 90, np.uint8)
    if square_x is not None:
        frame[100:180, square_x : square_x + 80] = 230
    return frame


def test_first_frame_is_all_change() -> None:
    motion = MotionDetector().update(_scene(None))
    assert motion.changed and motion.changed_fraction == 1.0
    assert motion.regions_xyxy.tolist() == [[0, 0, 640, 360]]


@pytest.mark.parametrize(
    ("second", "changed"),
    [
        (_scene(None), False),  # the same frame again: nothing moved
        (_scene(None) + np.random.default_rng(0).integers(0, 6, (360, 640, 3), dtype=np.uint8), False),  # noise
        (_scene(300), True),  # a bright square appeared
    ],
)
def test_change_against_the_background(second: np.ndarray, changed: bool) -> None:
    detector = MotionDetector()
    detector.update(_scene(None))
    motion = detector.update(second)
    assert motion.changed is changed
    assert (len(motion.regions_xyxy) > 0) is changed


def test_moving_square_region_covers_it_in_frame_pixels() -> None:
    detector = MotionDetector(MotionConfig(background_alpha=1.0))  # background = the previous frame
    detector.update(_scene(100))
    motion = detector.update(_scene(140))  # moved 40 px right: x 100-140 and 180-220 changed
    boxes = motion.regions_xyxy
    assert len(boxes) == 2  # the two changed strips are two blobs; the middle did not change
    x1, y1 = boxes[:, :2].min(axis=0)
    x2, y2 = boxes[:, 2:].max(axis=0)
    assert x1 <= 100 and x2 >= 220 and y1 <= 100 and y2 >= 180  # in 640x360 frame pixels
    assert x2 - x1 < 160 and y2 - y1 < 120  # and not much more


def test_still_object_fades_into_the_background() -> None:
    detector = MotionDetector(MotionConfig(background_alpha=0.5))
    detector.update(_scene(None))
    results = [detector.update(_scene(300)).changed for _ in range(12)]
    assert results[0] and not results[-1]


def test_gray_frames_and_reset() -> None:
    detector = MotionDetector()
    gray = cv2.cvtColor(_scene(None), cv2.COLOR_BGR2GRAY)
    detector.update(gray)
    assert not detector.update(gray).changed
    detector.reset()
    assert detector.update(gray).changed


@pytest.mark.parametrize(
    "frame", [np.zeros((10, 10), np.float32), np.zeros((0, 10, 3), np.uint8), np.zeros((4, 4, 4, 4), np.uint8)]
)
def test_bad_frames_are_a_clear_error(frame: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        MotionDetector().update(frame)


def test_scene_cut_in_the_real_clip_is_a_large_change(shared_data) -> None:
    capture = cv2.VideoCapture(str(shared_data / "clips" / "short_hamilton_clip.mp4"))
    detector, fractions = MotionDetector(), []
    for _ in range(25):  # the first cut is between frames 19 and 20
        ok, frame = capture.read()
        assert ok
        fractions.append(detector.update(frame).changed_fraction)
    capture.release()
    assert fractions[20] > 0.4
    assert max(fractions[1:20]) < fractions[20]
