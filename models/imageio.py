"""Decode untrusted image bytes into BGR uint8 arrays, with clear errors instead of crashes or huge allocations.

What an image costs is known from its header before any pixel is decoded, so limits are checked there:
every format has a declared-size ceiling; JPEG can be decoded reduced (libjpeg scales by 1/2, 1/4 or 1/8
inside the IDCT, so the full-size image never exists in memory), every other format is decoded whole and
so has a lower ceiling. The EXIF orientation is applied (a phone photo stored sideways comes back upright).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

MAX_PIXELS = 40_000_000  # 40 MP: larger uploads are refused before decoding
MAX_BYTES = 50 * 1024 * 1024
REDUCIBLE_FORMATS = frozenset({"JPEG", "MPO"})  # MPO: the multi-picture JPEG some cameras write
_REDUCED_READ = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


class ImageError(ValueError):
    """The bytes are not an image we accept; the message says why."""


@dataclass(frozen=True)
class ImageHeader:
    """What the file declares: its format (Pillow's name, e.g. `JPEG`, `PNG`) and stored size in pixels."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def describe(self) -> str:
        return f"{self.width}x{self.height} {self.format} ({self.pixels / 1e6:.1f} MP)"


@dataclass(frozen=True)
class DecodeLimits:
    """What decoding one image may cost.

    Attributes:
        max_pixels: declared size above which any image is refused.
        max_full_decode_pixels: declared size above which an image that cannot be decoded reduced (every
            format but JPEG) is refused: it would exist whole in memory (3 bytes a pixel) before scaling.
        target_pixels: the decoded image is scaled down to at most this many pixels (JPEG by reduced
            decoding first, then area resampling); None keeps the full size. Face detection costs about
            70 bytes a pixel, so this bounds the work and memory of everything after decoding.
    """

    max_pixels: int = MAX_PIXELS
    max_full_decode_pixels: int = MAX_PIXELS
    target_pixels: int | None = None


def read_header(source: BinaryIO) -> ImageHeader:
    """The header of an image file, without decoding pixels; the stream is left at its start."""
    from PIL import Image, UnidentifiedImageError

    size, _ = source.seek(0, io.SEEK_END), source.seek(0)
    if size == 0:
        raise ImageError("empty file")
    if size > MAX_BYTES:
        raise ImageError(f"file of {size} bytes exceeds the {MAX_BYTES} byte limit")
    try:
        with Image.open(source) as im:
            return ImageHeader(im.format or "unknown", *im.size)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"not a readable image ({exc.__class__.__name__})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}") from exc
    finally:
        source.seek(0)


def check_header(header: ImageHeader, limits: DecodeLimits) -> None:
    """Refuse, before decoding, an image the limits do not allow (ImageError naming its size)."""
    if header.pixels > limits.max_pixels:
        raise ImageError(f"image of {header.describe()} exceeds the {limits.max_pixels / 1e6:.1f} MP limit")
    if header.format not in REDUCIBLE_FORMATS and header.pixels > limits.max_full_decode_pixels:
        raise ImageError(
            f"image of {header.describe()} exceeds the {limits.max_full_decode_pixels / 1e6:.1f} MP "
            "limit for formats that cannot be decoded reduced (a JPEG of that size can)"
        )


def reduction_factor(header: ImageHeader, target_pixels: int | None) -> int:
    """1, 2, 4 or 8: the largest JPEG reduction that still leaves at least `target_pixels` (1 for others)."""
    if target_pixels is None or header.format not in REDUCIBLE_FORMATS:
        return 1
    return max(f for f in (1, 2, 4, 8) if f == 1 or header.pixels / (f * f) >= target_pixels)


def fit_pixels(image: np.ndarray, max_pixels: int | None) -> np.ndarray:
    """(H, W, C) image scaled down (area resampling, aspect kept) to at most `max_pixels`; smaller ones as is."""
    height, width = image.shape[:2]
    if max_pixels is None or height * width <= max_pixels:
        return image
    scale = (max_pixels / (height * width)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def decode_image(data: bytes, limits: DecodeLimits = DecodeLimits(), header: ImageHeader | None = None) -> np.ndarray:
    """Bytes of a JPEG/PNG/BMP/WebP/TIFF -> (H, W, 3) uint8 BGR, upright (EXIF), within `limits`.

    Grayscale is expanded to 3 channels, alpha is dropped, 16-bit is scaled to 8-bit.
    Raises ImageError for empty, truncated, corrupt, or oversized input.
    header: these bytes' header, when the caller has read and checked it already (an upload checks every
    photo's header before it decodes any), so that it is not parsed twice.
    """
    if header is None:
        header = read_header(io.BytesIO(data))
        check_header(header, limits)
    flags = _REDUCED_READ[reduction_factor(header, limits.target_pixels)]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)  # IMREAD_COLOR*: EXIF orientation applied
    if image is None or image.size == 0:
        raise ImageError("corrupt or truncated image data")
    return fit_pixels(to_bgr8(image), limits.target_pixels)


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


def load_image(path: Path | str, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return decode_image(data, limits)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from exc
