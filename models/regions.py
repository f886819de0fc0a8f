"""Geometry of MTCNN's search inside given regions (`MtcnnDetector.detect_in_regions`). Pure numpy/OpenCV.

A region (say a live track's predicted face box, enlarged by a margin) is made square and cut out of the
frame; P-Net then looks at it at a few scales only, for faces from `face_fraction[0]` to `face_fraction[1]`
of the square's side. Because the scales are relative to the square, every region of a frame has the same
P-Net input sizes (a 56 px square with faces from 0.25 to 0.9 of it: 14, 19, 27, 38, 54 px), so all
regions run as one batch per scale, whatever their size in the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

PNET_CELL_PX = 12


def region_squares(regions_xyxy: np.ndarray, resolution_wh: tuple[int, int]) -> np.ndarray:
    """Integer squares around each region's centre, side = the longer side (rounded up).

    Args:
        regions_xyxy: (R, 4) float boxes in frame pixels.
        resolution_wh: frame size; squares with no pixel inside the frame or under P-Net's 12 px are
            dropped.
    Returns:
        (K, 4) int32 squares x0 y0 x1 y1, 0-based, x1 exclusive (they may reach past the frame's edges).
    """
    boxes = np.asarray(regions_xyxy, np.float64).reshape(-1, 4)
    side = np.ceil(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
    x0 = np.floor((boxes[:, 0] + boxes[:, 2] - side) / 2)
    y0 = np.floor((boxes[:, 1] + boxes[:, 3] - side) / 2)
    squares = np.stack([x0, y0, x0 + side, y0 + side], axis=1)
    w, h = resolution_wh
    inside = (squares[:, 2] > 0) & (squares[:, 3] > 0) & (squares[:, 0] < w) & (squares[:, 1] < h)
    keep = inside & (side >= PNET_CELL_PX) & np.isfinite(side)
    return squares[keep].astype(np.int32)


def level_fractions(face_fraction: tuple[float, float], scale_factor: float) -> list[float]:
    """Face sizes searched, as fractions of the square's side: largest first, one pyramid step apart."""
    low, high = face_fraction
    fractions = []
    fraction = high
    while fraction >= low:
        fractions.append(fraction)
        fraction *= scale_factor
    return fractions


def level_side_px(fraction: float) -> int:
    """P-Net input side for one level: the square resized so that a face of `fraction` is 12 px."""
    return max(PNET_CELL_PX, round(PNET_CELL_PX / fraction))


def cut_square(image: np.ndarray, square: np.ndarray, out_side_px: int) -> np.ndarray:
    """One square of the frame (black outside it) resized to (out_side_px, out_side_px, 3) with area
    interpolation. image: (H, W, 3) uint8; square: (4,) int x0 y0 x1 y1, x1 exclusive."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in square)
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        patch = image[y0:y1, x0:x1]
    else:
        patch = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = image[cy0:cy1, cx0:cx1]
    resized: np.ndarray = cv2.resize(patch, (out_side_px, out_side_px), interpolation=cv2.INTER_AREA)
    return resized


def cells_to_boxes(cells_xy: np.ndarray, squares: np.ndarray, level_px: int) -> np.ndarray:
    """P-Net output cells of the squares' level images -> their 12 px windows in frame pixels.

    Args:
        cells_xy: (K, 2) cell column, row in the level image.
        squares: (K, 4) int the square each cell belongs to.
        level_px: side of the level image.
    Returns:
        (K, 4) float32 boxes, in the 1-based inclusive convention of the full-frame P-Net boxes.
    """
    scale = level_px / (squares[:, 2:3] - squares[:, 0:1]).astype(np.float32)  # level px per frame px
    origin = squares[:, :2].astype(np.float32)
    top_left = origin + (2 * cells_xy + 1) / scale
    bottom_right = origin + (2 * cells_xy + PNET_CELL_PX) / scale
    boxes: np.ndarray = np.concatenate([top_left, bottom_right], axis=1).astype(np.float32)
    return boxes
