"""The detector's CPU lanes: work shared among threads, P-Net strips, and the same faces as one thread."""

import threading

import cv2
import numpy as np
import pytest

from models.detect.lanes import CpuExecution, Lanes, balanced_groups
from models.detect.mtcnn import MtcnnDetector
from models.detect.pyramid import pnet_output_hw, pnet_strips, strip_input_rows
from models.imageio import load_image


@pytest.mark.parametrize(
    ("costs", "count", "expected"),
    [
        ([8, 4, 2, 1, 1], 2, [[0], [1, 2, 3, 4]]),  # the pyramid's shape: the largest level alone
        ([3, 3, 3, 3], 2, [[0, 2], [1, 3]]),  # equal costs alternate
        ([5], 3, [[0]]),  # fewer items than lanes: no empty groups
        ([], 2, []),  # nothing to do
        ([1, 2, 3], 1, [[2, 1, 0]]),  # one lane takes everything, largest first
    ],
)
def test_balanced_groups(costs: list[float], count: int, expected: list[list[int]]) -> None:
    assert balanced_groups(costs, count) == expected


def test_balanced_groups_totals_differ_by_at_most_the_largest_item() -> None:
    costs = np.random.default_rng(1).integers(1, 100, 40).tolist()
    groups = balanced_groups(costs, 3)
    assert sorted(i for group in groups for i in group) == list(range(40))
    totals = [sum(costs[i] for i in group) for group in groups]
    assert max(totals) - min(totals) <= max(costs)


def test_lanes_run_side_by_side_and_keep_the_order() -> None:
    lanes = Lanes(2)
    both = threading.Barrier(2, timeout=10)  # breaks unless two items really run at the same time

    def work(item: int) -> tuple[int, int]:
        both.wait()
        return item * 10, threading.get_ident()

    results = lanes.map(work, [1, 2])
    assert [value for value, _ in results] == [10, 20]
    assert len({thread for _, thread in results}) == 2


def test_lanes_pass_exceptions_on() -> None:
    def work(item: int) -> int:
        if item == 2:
            raise ValueError("bad item")
        return item

    with pytest.raises(ValueError, match="bad item"):
        Lanes(2).map(work, [1, 2])


@pytest.mark.parametrize(
    ("rows", "count", "sizes"),
    [
        (40, 2, [20, 20]),  # split in order
        (9, 2, [9]),  # too few for two lanes of MIN_ROWS_PER_LANE
        (0, 2, [0]),  # no candidates: one empty chunk
        (41, 3, [14, 14, 13]),
    ],
)
def test_chunks(rows: int, count: int, sizes: list[int]) -> None:
    data = np.arange(rows * 4).reshape(rows, 4)
    chunks = Lanes(count).chunks(data)
    assert [len(c) for c in chunks] == sizes
    assert np.array_equal(np.concatenate(chunks), data)


def test_lanes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lanes"):
        Lanes(0)


@pytest.mark.parametrize(
    ("level_hw", "cells", "expected"),
    [
        ((433, 769), 0, [(0, 212)]),  # 0: the whole level (the ceil-mode pool makes 433 rows 212 cells)
        ((40, 30), 33, [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15)]),  # 10 cells a row: 3 rows a strip
        ((40, 30), 1, [(i, i + 1) for i in range(15)]),  # fewer cells than a row: one row a strip
    ],
)
def test_pnet_strips(level_hw: tuple[int, int], cells: int, expected: list[tuple[int, int]]) -> None:
    assert pnet_strips(level_hw, cells) == expected


@pytest.mark.parametrize("level_hw", [(433, 769), (434, 545), (14, 25), (12, 12)])
def test_pnet_strips_cover_the_map_in_order(level_hw: tuple[int, int]) -> None:
    rows, cols = pnet_output_hw(level_hw)
    strips = pnet_strips(level_hw, 16 * cols)
    assert strips[0][0] == 0 and strips[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(strips, strips[1:], strict=False))
    assert all(b - a <= 16 for a, b in strips)


@pytest.mark.parametrize("level_hw", [(217, 385), (154, 273), (77, 137), (14, 25)])
def test_pnet_on_strips_gives_the_whole_levels_maps(pipeline, level_hw: tuple[int, int]) -> None:
    level = np.random.default_rng(0).standard_normal((1, 3, *level_hw)).astype(np.float32)
    whole = pipeline.detector.pnet.run(level)
    assert whole[0].shape[2:] == pnet_output_hw(level_hw)
    parts = [pipeline.detector.pnet.run(level[:, :, strip_input_rows(s)]) for s in pnet_strips(level_hw, 2000)]
    for index, out in enumerate(whole):
        np.testing.assert_allclose(np.concatenate([p[index] for p in parts], axis=2), out, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["two_people.jpg", "obama-720p.jpg", "obama-1080p.jpg"])
def test_lanes_find_the_same_faces_as_one_thread(pipeline, shared_data, name: str) -> None:
    rgb = cv2.cvtColor(load_image(shared_data / "clips" / name), cv2.COLOR_BGR2RGB)
    det = pipeline.detector
    assert det.cpu is not None and det.cpu.lanes > 1  # the pipeline on this CPU runs lanes
    single = MtcnnDetector(det.pnet, det.rnet, det.onet, det.config, None)
    many = MtcnnDetector(
        det.pnet, det.rnet, det.onet, det.config, CpuExecution(lanes=3, pnet_strip_cells=5000, crop_batch=5)
    )
    expected, got = single.detect(rgb), many.detect(rgb)
    assert len(got) == len(expected) >= 1
    np.testing.assert_allclose(got.xyxy, expected.xyxy, atol=1e-3)
    np.testing.assert_allclose(got.landmarks, expected.landmarks, atol=1e-3)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-5)
    # the region search shares its P-Net windows among the lanes: the same faces as one thread there too
    regions = np.concatenate([expected.xyxy[:, :2] - 40, expected.xyxy[:, 2:] + 40], axis=1)
    in_regions, one_thread = many.detect_in_regions(rgb, regions), single.detect_in_regions(rgb, regions)
    assert len(in_regions) == len(one_thread) >= 1
    np.testing.assert_allclose(in_regions.xyxy, one_thread.xyxy, atol=1e-3)
    np.testing.assert_allclose(in_regions.landmarks, one_thread.landmarks, atol=1e-3)
