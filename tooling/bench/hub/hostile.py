"""Hostile upload files for the benchmarks and tests: small on the wire, huge or lying once decoded.

A PNG declaring 6000x6000, a real face photo stretched to a 6000x6000 JPEG, an mp4 of 8000x6000 frames, and
a Motion-JPEG AVI whose container and first frame say 64x64 while its next frame is 16000x16000 (the AVI is
written here, RIFF chunk by chunk, since no writer makes a stream whose frame size changes).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def png_bomb(width: int = 6000, height: int = 6000) -> bytes:
    """A gray PNG that is tiny on the wire (zlib) and width x height once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def upscaled_jpeg(photo: Path, width: int = 6000, height: int = 6000) -> bytes:
    """A real face photo stretched to width x height and saved as a JPEG (a large phone photo)."""
    image = cv2.imread(str(photo))
    assert image is not None, photo
    ok, data = cv2.imencode(".jpg", cv2.resize(image, (width, height)), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return data.tobytes()


def video_bomb(path: Path, width: int = 8000, height: int = 6000, frames: int = 3) -> bytes:
    """An mp4 (MPEG-4 part 2) of flat width x height frames: a few hundred KB."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 5.0, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    frame = np.full((height, width, 3), 100, np.uint8)
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def gray_jpeg(width: int, height: int, value: int = 128) -> bytes:
    """A flat gray JPEG of width x height (16000x16000: 3 MB on the wire, 256 MB to 768 MB decoded)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), value).save(buffer, format="JPEG", quality=50)
    return buffer.getvalue()


def lying_mjpeg(big_px: int = 16000) -> bytes:
    """A Motion-JPEG AVI whose header and first frame are 64x64 and whose second frame is big_px x big_px."""
    return mjpeg_avi([gray_jpeg(64, 64), gray_jpeg(big_px, big_px)], (64, 64))


def mjpeg_avi(frames: list[bytes], declared_wh: tuple[int, int], fps: int = 5) -> bytes:
    """An AVI (RIFF) of one Motion-JPEG stream: `frames` as they are, the headers declaring `declared_wh`."""
    width, height = declared_wh
    largest = max(map(len, frames))
    avih = struct.pack("<14I", 1_000_000 // fps, 0, 0, 0x10, len(frames), 0, 1, largest, width, height, 0, 0, 0, 0)
    strh = b"vidsMJPG" + struct.pack(
        "<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, fps, 0, len(frames), largest, 0xFFFFFFFF, 0, 0, 0, width, height
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    headers = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    movi, index, offset = b"", b"", 4
    for frame in frames:
        index += b"00dc" + struct.pack("<III", 0x10, offset, len(frame))  # a key frame, from the 'movi' tag
        movi += (chunk := _chunk(b"00dc", frame))
        offset += len(chunk)
    body = b"AVI " + headers + _list(b"movi", movi) + _chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, data: bytes) -> bytes:
    return _chunk(b"LIST", kind + data)
