"""Geometry of MTCNN's search inside given regions (`MtcnnDetector.detect_in_regions`). Pure numpy.

A region (say a live track's predicted face box, enlarged by a margin) is made square; P-Net then runs on
the part of each pyramid level that covers the square, at the levels that find faces of a quarter to
nine tenths of its side (three or four levels). The parts are cut at even offsets of the very level
images full detection uses, so the windows inside see the same pixels and give the same candidates.

Measured against the first version of this search (each square resampled to fixed sizes, all squares in
one batch): on the Hamilton clip with full detection every 5 frames it kept more of the faces that
full detection finds on every frame, see `facefleet bench models --schedule`.
"""

from __future__ import annotations

import numpy as np

from models.detect.pyramid import PNET_CELL_PX


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


def level_window(square: np.ndarray, scale: float, level_hw: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The part of a pyramid level that covers a square: x0, y0, x1, y1 in level pixels, clipped to the
    level, x0 and y0 even (P-Net's stride is 2, so the part's cells are whole cells of the level).

    Args:
        square: (4,) x0 y0 x1 y1 in frame pixels. scale: level pixels per frame pixel.
        level_hw: the level image's (h, w, ...) shape.
    """
    h, w = level_hw[0], level_hw[1]
    x0 = max(0, int(np.floor(square[0] * scale)) // 2 * 2)
    y0 = max(0, int(np.floor(square[1] * scale)) // 2 * 2)
    x1 = min(w, int(np.ceil(square[2] * scale)))
    y1 = min(h, int(np.ceil(square[3] * scale)))
    return x0, y0, x1, y1


def best_per_square(xyxy: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first `count` boxes of each square, in the given (best first) order.

    Args:
        xyxy: (N, 4) boxes sorted best first; each belongs to the square whose centre is nearest its own.
        squares: (K, 4) the regions' squares. count: boxes kept per square.
    Returns:
        (M,) int64 indices into xyxy, ascending (so still best first).
    """
    if len(xyxy) == 0 or len(squares) == 0:
        return np.zeros((0,), np.int64)
    centres = (xyxy[:, None, :2] + xyxy[:, None, 2:]) / 2
    square_centres = (squares[None, :, :2] + squares[None, :, 2:]).astype(np.float32) / 2
    owner = ((centres - square_centres) ** 2).sum(axis=2).argmin(axis=1)
    order = np.argsort(owner, kind="stable")  # grouped by square, best first within each
    grouped = owner[order]
    rank = np.arange(len(order)) - np.searchsorted(grouped, grouped)
    return np.sort(order[rank < count])
