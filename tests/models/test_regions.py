"""Region geometry for detect_in_regions: squares, level sizes, cut-outs, cells back to frame pixels."""

import cv2
import numpy as np
import pytest

from models.regions import cells_to_boxes, cut_square, level_fractions, level_side_px, region_squares


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
    ("fractions", "factor", "sides"),
    [
        ((0.25, 0.9), 0.709, [13, 19, 27, 37]),  # the default search: faces from a quarter to 0.9 of the side
        ((0.5, 0.5), 0.709, [24]),  # one level
        ((0.05, 1.0), 0.5, [12, 24, 48, 96, 192]),  # halving steps; never under P-Net's 12 px
    ],
)
def test_level_sides(fractions: tuple[float, float], factor: float, sides: list[int]) -> None:
    assert [level_side_px(f) for f in level_fractions(fractions, factor)] == sides


def test_cut_square_inside_is_an_area_resize() -> None:
    image = np.random.default_rng(0).integers(0, 255, (100, 120, 3), dtype=np.uint8)
    out = cut_square(image, np.array([10, 20, 58, 68]), 24)
    np.testing.assert_array_equal(out, cv2.resize(image[20:68, 10:58], (24, 24), interpolation=cv2.INTER_AREA))


def test_cut_square_outside_the_frame_is_black() -> None:
    image = np.full((50, 50, 3), 200, np.uint8)
    out = cut_square(image, np.array([-50, 0, 50, 100]), 10)  # left half and bottom half outside
    assert out.shape == (10, 10, 3)
    assert (out[:5, 5:] == 200).all() and (out[:, :5] == 0).all() and (out[5:] == 0).all()


@pytest.mark.parametrize(
    ("cell", "square", "level_px", "expected"),
    [
        ([0, 0], [100, 50, 148, 98], 24, [102, 52, 124, 74]),  # level at half scale: windows twice as big
        ([3, 1], [0, 0, 24, 24], 24, [7, 3, 18, 14]),  # level at frame scale: 2 px stride
    ],
)
def test_cells_to_boxes(cell: list[int], square: list[int], level_px: int, expected: list[float]) -> None:
    boxes = cells_to_boxes(np.array([cell], np.float32), np.array([square], np.int32), level_px)
    np.testing.assert_allclose(boxes, [expected])
