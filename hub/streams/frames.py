"""One stream message -> one BGR frame, refused with a close code and reason before anything large is made.

Order of the checks: size of the message (cheap), the JPEG start marker (garbage), the frame header's
declared width and height (read without decoding: a 200-byte message may declare 60000x60000, which would
cost gigabytes decoded), then the decode, and the decoded size against the declared one (a header that
lies, or a second image glued behind the first).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facefleet.stream import CLOSE_BAD_DATA, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED
from hub.library.video import JPEG_START, jpeg_size


@dataclass(frozen=True)
class FrameRefused(Exception):
    """A frame the stream is closed for: the WebSocket close code and a reason (at most 123 bytes)."""

    code: int
    reason: str


def check_frame(data: bytes, max_bytes: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) a JPEG message declares, checked against the bounds without decoding; raises
    `FrameRefused`. Run on every frame as it arrives, dropped ones too."""
    if len(data) > max_bytes:
        raise FrameRefused(CLOSE_TOO_BIG, f"frame of {len(data)} bytes; at most {max_bytes}")
    if not data.startswith(JPEG_START):
        raise FrameRefused(CLOSE_UNSUPPORTED, "a frame must be one JPEG image (no JPEG start marker)")
    size = jpeg_size(data)
    if size is None:
        raise FrameRefused(CLOSE_BAD_DATA, "JPEG without a readable frame header")
    width, height = size
    if width * height > max_pixels or not width or not height:
        raise FrameRefused(CLOSE_BAD_DATA, f"frame header declares {width}x{height}; at most {max_pixels} pixels")
    return width, height


def decode_frame(data: bytes, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR image of a checked JPEG message that declared `width` x `height`; raises
    `FrameRefused` when it does not decode to that."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameRefused(CLOSE_BAD_DATA, f"JPEG declaring {width}x{height} does not decode")
    if image.shape[:2] != (height, width):
        raise FrameRefused(
            CLOSE_BAD_DATA, f"JPEG header declares {width}x{height}, the image is {image.shape[1]}x{image.shape[0]}"
        )
    return image
