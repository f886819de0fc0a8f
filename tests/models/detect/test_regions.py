"""Region geometry for detect_in_regions: squares, their windows in pyramid levels, the per-square cap."""

import numpy as np
import pytest

from models.detect.regions import level_window, region_squares


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ([100, 100, 140, 120], [[100, 90, 140, 130]]),  # wide box: square of the longer side, same centre
        ([10.5, 10.5, 30.2, 30.2], [[10, 10, 30, 30]]),  # fractional: floor the corner, ceil the side
        ([-30, -30, 20, 20], [[-30, -30, 20, 20]]),  # partly outside the frame: kept as it is
        ([700, 10, 760, 70], []),  # wholly right of the 640 px frame: dropped
        ([100, 100, 108, 108], []),  # under P-Net's 12 px window: dropped
    ],
)
def test_region_squares(region: list[float], expected: list[list[int]]) -> None:
    squares = region_squares(np.array([region], np.float32), (640, 360))
    assert squares.dtype == np.int32
    assert squares.tolist() == expected


def test_region_squares_of_nothing() -> None:
    assert region_squares(np.zeros((0, 4), np.float32), (640, 360)).shape == (0, 4)


@pytest.mark.parametrize(
    ("square", "scale", "expected"),
    [
        ([100, 50, 200, 150], 0.5, (50, 24, 100, 75)),  # scaled; origin rounded down to even
        ([-40, -40, 60, 60], 0.5, (0, 0, 30, 30)),  # clipped at the level's top-left
        ([500, 300, 700, 500], 0.5, (250, 150, 321, 181)),  # clipped at the level's size (181 x 321)
        ([101, 51, 151, 101], 1.0, (100, 50, 151, 101)),  # odd origin: one pixel more, cells stay whole
    ],
)
def test_level_window(square: list[int], scale: float, expected: tuple[int, int, int, int]) -> None:
    assert level_window(np.array(square), scale, (181, 321, 3)) == expected


@pytest.mark.parametrize(
    ("centres_x", "count", "expected"),
    [
        ([10, 12, 90, 11, 91], 1, [0, 2]),  # best of each square (boxes come best first)
        ([10, 12, 90, 11, 91], 2, [0, 1, 2, 4]),
        ([10, 12, 11], 5, [0, 1, 2]),  # fewer than the cap: all
        ([], 3, []),  # nothing in
    ],
)
def test_best_per_square(centres_x: list[int], count: int, expected: list[int]) -> None:
    from models.detect.regions import best_per_square

    boxes = np.array([[x - 5, 45, x + 5, 55] for x in centres_x], np.float32).reshape(-1, 4)
    squares = np.array([[0, 0, 50, 100], [50, 0, 150, 100]], np.int32)  # centres at x 25 and 100
    assert best_per_square(boxes, squares, count).tolist() == expected
