"""Decode untrusted image bytes into BGR uint8 arrays, with clear errors instead of crashes or huge allocations."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

MAX_PIXELS = 40_000_000  # 40 MP: larger uploads are refused before decoding
MAX_BYTES = 50 * 1024 * 1024


class ImageError(ValueError):
    """The bytes are not an image we accept; the message says why."""


def _header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone, without decoding pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"not a readable image ({exc.__class__.__name__})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}") from exc


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Bytes of a JPEG/PNG/BMP/WebP -> (H, W, 3) uint8 BGR.

    Grayscale is expanded to 3 channels, alpha is dropped, 16-bit is scaled to 8-bit.
    Raises ImageError for empty, truncated, corrupt, or oversized input.
    """
    if not data:
        raise ImageError("empty file")
    if len(data) > MAX_BYTES:
        raise ImageError(f"file of {len(data)} bytes exceeds the {MAX_BYTES} byte limit")
    width, height = _header_size(data)
    if width * height > max_pixels:
        raise ImageError(f"image of {width}x{height} exceeds the {max_pixels} pixel limit")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageError("corrupt or truncated image data")
    return to_bgr8(image)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any 8/16-bit gray, BGR or BGRA array -> contiguous (H, W, 3) uint8 BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if channels == 3:
        return np.ascontiguousarray(image)
    raise ImageError(f"unsupported channel count {channels}")


def load_image(path: Path | str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return decode_image(data, max_pixels)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from exc
