"""Reading an uploaded video under the pixel budget: what the container declares, then every frame's own size,
before anything is decoded.

A container's header can lie: a Motion-JPEG AVI may declare 64x64 and carry 16000x16000 frames after the
first, which FFmpeg decodes at their own size (hundreds of MB and seconds each). So after the header check,
the first `max_frames` packets of the video stream are read as they are stored (OpenCV's demux-only mode:
nothing is decoded) and counted, and every packet that carries its own frame size is checked against the
frame limit: each Motion-JPEG packet is a whole JPEG, whose header gives its size. One frame over the limit
refuses the video before any frame is decoded. Other codecs (H.264, MPEG-4, VP9, ...) keep their frame size
in parameter sets only their decoder reads, and OpenCV hands their frames over at the size the container
declared: such a stream that changes its frame size midway is still decoded at the new size (its memory
spent) before anything here can see it. Reading their parameter sets is not built (hub/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

JPEG_START = b"\xff\xd8"
_FRAME_HEADERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15 (not DHT, JPG, DAC)


class VideoError(ValueError):
    """The upload is not a video we can read, or one over the limits; the message says why."""


def open_video(path: Path, demux_only: bool = False) -> cv2.VideoCapture:
    """The video through FFmpeg; `demux_only`: packets as stored, never decoded (`retrieve` gives the bytes)."""
    params = [cv2.CAP_PROP_FORMAT, -1] if demux_only else []
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        raise VideoError("not a readable video (no decodable stream)")
    return capture


def video_header(path: Path) -> tuple[int, int, int, float]:
    """(width, height, frame count, fps) as the container declares them; 0 where it does not say."""
    capture = open_video(path)
    try:
        props = (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FPS)
        width, height, frames, fps = (max(0.0, capture.get(p)) for p in props)
    finally:
        capture.release()
    return int(width), int(height), int(frames), float(fps)


def packets(path: Path, count: int) -> Iterator[bytes]:
    """The first `count` packets of the video stream as stored (one a frame), none of them decoded."""
    capture = open_video(path, demux_only=True)
    try:
        for _ in range(count):
            if not capture.grab():
                return
            ok, packet = capture.retrieve()
            if not ok or packet is None:
                return
            yield np.asarray(packet).tobytes()
    finally:
        capture.release()


def stored_size(packet: bytes) -> tuple[int, int] | None:
    """(width, height) a packet declares for its own frame: a Motion-JPEG packet's JPEG header; None for a
    codec whose packets do not carry it. VideoError for a JPEG whose frame header cannot be found."""
    if not packet.startswith(JPEG_START):
        return None
    size = jpeg_size(packet)
    if size is None or 0 in size:
        raise VideoError("a Motion-JPEG frame without a readable frame header (SOF)")
    return size


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header (SOFn), walking the markers before it; None when none
    comes before the first scan or the data ends. Nothing is decoded."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:  # fill byte, TEM, RSTn: no length
            i += 1 if marker == 0xFF else 2
            continue
        if marker in _FRAME_HEADERS:  # length, precision, then height and width
            if i + 9 > len(data):
                return None
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xDA:  # start of scan: no frame header came first
            return None
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def scan_frames(path: Path, max_frames: int, max_frame_pixels: int) -> int:
    """How many frames (packets) the video has, up to `max_frames`, each declared size within
    `max_frame_pixels` (VideoError naming the first that is not), without decoding any."""
    count = 0
    for index, packet in enumerate(packets(path, max_frames)):
        size = stored_size(packet)
        if size is not None and size[0] * size[1] > max_frame_pixels:
            raise VideoError(
                f"frame {index} declares {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP), over "
                f"the {max_frame_pixels / 1e6:.1f} MP frame limit; refused before decoding"
            )
        count += 1
    if count == 0:
        raise VideoError("the video has no readable frames")
    return count


def frames_at(path: Path, indices: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, BGR frame) for the wanted frame indices, decoding only those."""
    capture = open_video(path)
    try:
        last = max(indices, default=-1)
        for index in range(last + 1):
            if not capture.grab():
                return
            if index in indices:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    yield index, frame
    finally:
        capture.release()
