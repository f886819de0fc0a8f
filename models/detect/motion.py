"""A cheap motion test: frame difference on a small gray frame against a running-average background.

Frigate's idea (its `ImprovedMotionDetector`): the detector need not search a frame in which nothing
moved. The frame is shrunk to `width_px` wide (160 px: 0.3 ms for a 1080p frame), turned gray and blurred;
pixels that differ from the background by more than `pixel_threshold` gray levels are motion; they are
dilated into blobs whose boxes, scaled back to the frame, are the moving regions. The background follows
the scene at `background_alpha` per frame, so something that stops moving fades out of the motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class MotionConfig(BaseModel):
    """pixel_threshold: gray levels (0-255) a pixel must change by; lower finds fainter motion and more
    noise. min_area_fraction: share of the frame that must move for `changed`; below it, compression noise
    and flicker are ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width_px: int = Field(160, ge=16, le=1920)
    pixel_threshold: int = Field(20, ge=1, le=255)
    min_area_fraction: float = Field(0.002, ge=0.0, le=1.0)
    background_alpha: float = Field(0.2, gt=0.0, le=1.0)
    blur_px: int = Field(5, ge=1, le=31, description="Gaussian kernel on the small frame; odd")
    dilate_px: int = Field(3, ge=0, le=31)


@dataclass(frozen=True)
class Motion:
    """What moved in one frame.

    Attributes:
        regions_xyxy: (M, 4) float32 boxes of the moving blobs, in frame pixels.
        changed_fraction: share of the frame (0..1) that moved.
        changed: True when `changed_fraction` reached the configured minimum (always on the first frame).
    """

    regions_xyxy: np.ndarray
    changed_fraction: float
    changed: bool


class MotionDetector:
    """One camera's motion test; `update(frame)` per frame, in order. Keeps one small float background."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._background: np.ndarray | None = None
        self._kernel = np.ones((2 * self.config.dilate_px + 1,) * 2, np.uint8)

    def reset(self) -> None:
        """Forget the background (after a camera reconnect): the next frame counts as all changed."""
        self._background = None

    def update(self, image: np.ndarray) -> Motion:
        """(H, W, 3) uint8 colour (any channel order) or (H, W) uint8 gray frame -> Motion."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
            raise ValueError(f"motion expects an (H, W[, 3]) uint8 frame, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        small = self._small_gray(image)
        if self._background is None or self._background.shape != small.shape:
            self._background = small.astype(np.float32)
            return Motion(np.array([[0, 0, w, h]], np.float32), 1.0, True)
        mask = self._moving(small)
        fraction = float(np.count_nonzero(mask)) / mask.size
        cv2.accumulateWeighted(small, self._background, self.config.background_alpha)
        return Motion(_blob_boxes(mask, (w, h)), fraction, fraction >= max(self.config.min_area_fraction, 1e-9))

    def _small_gray(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = min(self.config.width_px, w)
        size = (width, max(1, round(h * width / w)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        gray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        k = self.config.blur_px | 1
        blurred: np.ndarray = cv2.GaussianBlur(gray, (k, k), 0) if k > 1 else gray
        return blurred

    def _moving(self, small: np.ndarray) -> np.ndarray:
        """uint8 mask (255 = moving) of the small frame, dilated into blobs."""
        assert self._background is not None
        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._background))
        _, mask = cv2.threshold(diff, self.config.pixel_threshold, 255, cv2.THRESH_BINARY)
        dilated: np.ndarray = cv2.dilate(mask, self._kernel) if self.config.dilate_px else mask
        return dilated


def _blob_boxes(mask: np.ndarray, resolution_wh: tuple[int, int]) -> np.ndarray:
    """Boxes (M, 4) float32 in frame pixels of the connected blobs of a small uint8 mask."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros((0, 4), np.float32)
    x, y, bw, bh = (stats[1:, i].astype(np.float32) for i in range(4))
    scale_x, scale_y = resolution_wh[0] / mask.shape[1], resolution_wh[1] / mask.shape[0]
    boxes: np.ndarray = np.stack([x * scale_x, y * scale_y, (x + bw) * scale_x, (y + bh) * scale_y], axis=1)
    return boxes.astype(np.float32)
