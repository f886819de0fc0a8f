"""Box maths for the MTCNN cascade: numpy, NMS in OpenCV; boxes are (N, 4) x1 y1 x2 y2 in pixels."""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np

_DNN: Any = cv2.dnn  # its stubs ask for Python sequences; it takes numpy arrays (no copy)


def nms(
    xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, method: Literal["union", "min"] = "union"
) -> np.ndarray:
    """Greedy non-maximum suppression (boxes are inclusive pixel boxes: width = x2 - x1 + 1).

    Args:
        xyxy: (N, 4) boxes. scores: (N,), all > 0.
        iou_threshold: a box overlapping a kept one by more than this is dropped.
        method: "union" divides the intersection by the union (IoU); "min" by the smaller box, which also
            removes a small box lying inside a bigger one (used after O-Net).
    Returns:
        (K,) int64 indices of kept boxes, best first.

    "union" runs in OpenCV's C++ NMS (the same greedy rule and IoU): the Python loop below cost 0.5 ms for
    40 boxes and 14 ms for 770, OpenCV 0.04 ms and 4 ms; P-Net's candidates made it 25-55 ms a frame.
    """
    if len(xyxy) == 0:
        return np.zeros((0,), np.int64)
    if method == "union":
        return _nms_union(xyxy, scores, iou_threshold)
    return _nms_loop(xyxy, scores, iou_threshold, method)


def _nms_union(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    # OpenCV's rects are x, y, w, h with area w * h and intersections of [x, x + w): the +1 widths make
    # them the same IoU as the inclusive boxes.
    rects = np.empty((len(xyxy), 4), np.float64)
    rects[:, :2] = xyxy[:, :2]
    rects[:, 2:] = xyxy[:, 2:] - xyxy[:, :2] + 1
    scores32 = np.ascontiguousarray(scores, np.float32)
    kept = _DNN.NMSBoxes(rects, scores32, 0.0, float(iou_threshold))
    return np.asarray(kept, np.int64).reshape(-1)


def _nms_loop(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, method: str) -> np.ndarray:
    x1, y1, x2, y2 = xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= iou_threshold]
    return np.asarray(keep, np.int64)


def regress(xyxy: np.ndarray, offsets: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Apply MTCNN box regression: each edge moves by offset * box size. (N,4),(N,4) -> (N,4)."""
    extra = 1.0 if inclusive else 0.0
    w = xyxy[:, 2] - xyxy[:, 0] + extra
    h = xyxy[:, 3] - xyxy[:, 1] + extra
    moved: np.ndarray = xyxy + offsets * np.stack([w, h, w, h], axis=1)
    return moved


def square(xyxy: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (side = the longer side). (N,4) -> (N,4)."""
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    side = np.maximum(w, h)
    x1 = xyxy[:, 0] + w * 0.5 - side * 0.5
    y1 = xyxy[:, 1] + h * 0.5 - side * 0.5
    squares: np.ndarray = np.stack([x1, y1, x1 + side, y1 + side], axis=1)
    return squares


def clip_int(xyxy: np.ndarray, resolution_wh: tuple[int, int]) -> np.ndarray:
    """Truncate to int and clip to the image, as 0-based [x1, x2) slices. (N,4) float -> (N,4) int32."""
    w, h = resolution_wh
    boxes: np.ndarray = np.trunc(xyxy).astype(np.int32)
    boxes[:, 0] = np.maximum(boxes[:, 0] - 1, 0)  # MTCNN boxes are 1-based inclusive
    boxes[:, 1] = np.maximum(boxes[:, 1] - 1, 0)
    boxes[:, 2] = np.minimum(boxes[:, 2], w)
    boxes[:, 3] = np.minimum(boxes[:, 3], h)
    return boxes


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) boxes -> (N, M) float32; continuous coordinates (no +1).

    0 for empty or degenerate (zero-size, inverted) boxes. The tracker, the detector tests and the schedule
    benchmark all use this one.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    iou: np.ndarray = (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)
    return iou
