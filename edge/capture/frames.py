"""The record a camera hands to the frame loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class Frame:
    """A camera frame: (H, W, 3) uint8 BGR, its wall-clock capture time and its number on that camera."""

    camera: str
    image_bgr: np.ndarray
    ts: datetime
    index: int
