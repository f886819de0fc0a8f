import numpy as np
import pytest

from models.detect.boxes import clip_int, iou_matrix, nms, regress, square


@pytest.mark.parametrize(
    ("boxes", "scores", "threshold", "method", "expected"),
    [
        ([], [], 0.5, "union", []),  # nothing in, nothing out
        ([[0, 0, 10, 10]], [0.9], 0.5, "union", [0]),  # one box survives
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.8, 0.9], 0.5, "union", [1]),  # overlap: best score wins
        ([[0, 0, 10, 10], [20, 20, 30, 30]], [0.8, 0.9], 0.5, "union", [1, 0]),  # disjoint: both, best first
        ([[0, 0, 100, 100], [10, 10, 30, 30]], [0.9, 0.8], 0.5, "union", [0, 1]),  # nested, small IoU
        ([[0, 0, 100, 100], [10, 10, 30, 30]], [0.9, 0.8], 0.5, "min", [0]),  # nested: "min" removes it
    ],
)
def test_nms(boxes: list, scores: list, threshold: float, method: str, expected: list) -> None:
    keep = nms(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), threshold, method)
    assert keep.tolist() == expected


def test_square_keeps_centre_and_takes_longer_side() -> None:
    out = square(np.array([[10, 20, 30, 60]], np.float32))
    np.testing.assert_allclose(out, [[0, 20, 40, 60]])


def test_regress_moves_edges_by_box_size() -> None:
    out = regress(np.array([[0, 0, 9, 9]], np.float32), np.array([[0.1, -0.1, 0.0, 0.5]], np.float32))
    np.testing.assert_allclose(out, [[1, -1, 9, 14]])


def test_clip_int_clips_to_image() -> None:
    out = clip_int(np.array([[-5.5, 3.7, 700.2, 50.0]], np.float32), (640, 360))
    assert out.tolist() == [[0, 2, 640, 50]]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([[0, 0, 10, 10]], [[0, 0, 10, 10]], 1.0),  # identical
        ([[0, 0, 10, 10]], [[5, 0, 15, 10]], 1 / 3),  # half overlap
        ([[0, 0, 10, 10]], [[20, 20, 30, 30]], 0.0),  # disjoint
        ([[0, 0, 0, 0]], [[0, 0, 0, 0]], 0.0),  # zero-size boxes
        ([[10, 10, 0, 0]], [[0, 0, 10, 10]], 0.0),  # an inverted box has no area
    ],
)
def test_iou(a: list[list[float]], b: list[list[float]], expected: float) -> None:
    iou = iou_matrix(np.array(a, np.float32), np.array(b, np.float32))
    assert iou.dtype == np.float32 and iou[0, 0] == pytest.approx(expected, abs=1e-6)


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 5, 5]], np.float32)
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 0.0], [0.25, 0.0]], atol=1e-6)
    assert iou_matrix(a[:0], b).shape == (0, 2)
    assert iou_matrix(a, b[:0]).shape == (2, 0)


@pytest.mark.parametrize("seed", range(6))
def test_opencv_union_nms_is_the_greedy_rule(seed: int) -> None:
    from models.detect.boxes import _nms_loop

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    xy = rng.uniform(0, 300, (n, 2))
    xyxy = np.floor(np.concatenate([xy, xy + rng.uniform(5, 60, (n, 1))], 1)).astype(np.float32)
    scores = rng.uniform(0.6, 1.0, n).astype(np.float32)
    if seed % 2:
        scores = np.round(scores, 2)  # ties
    for threshold in (0.5, 0.7):
        assert nms(xyxy, scores, threshold).tolist() == _nms_loop(xyxy, scores, threshold, "union").tolist()
