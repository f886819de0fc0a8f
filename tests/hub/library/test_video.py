"""A video's frames, read as stored: each Motion-JPEG frame's size from its JPEG header, nothing decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.library.video import VideoError, jpeg_size, scan_frames
from tooling.bench.hub.hostile import gray_jpeg, mjpeg_avi

JPEG = gray_jpeg(320, 200)
SOF = JPEG.index(b"\xff\xc0")


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (JPEG, (320, 200)),  # baseline
        (JPEG[:2] + b"\xff\xff\xff" + JPEG[2:], (320, 200)),  # fill bytes before a marker
        (JPEG[: SOF + 1] + b"\xc2" + JPEG[SOF + 2 :], (320, 200)),  # progressive (SOF2)
        (JPEG[: SOF + 5], None),  # cut inside the frame header
        (JPEG[:SOF] + b"\xff\xda\x00\x02", None),  # a scan before any frame header
        (b"\xff\xd8", None),  # nothing after the start
    ],
)
def test_jpeg_size(data: bytes, size: tuple[int, int] | None) -> None:
    assert jpeg_size(data) == size


def test_every_frame_is_counted_and_checked_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    path.write_bytes(mjpeg_avi([gray_jpeg(64, 64)] * 3 + [gray_jpeg(4000, 3000)], (64, 64)))
    assert scan_frames(path, 3, 8_294_400) == 3  # the frames read: the fourth is never looked at
    with pytest.raises(VideoError, match=r"frame 3 declares 4000x3000 \(12.0 MP\)"):
        scan_frames(path, 200, 8_294_400)
    path.write_bytes(mjpeg_avi([gray_jpeg(64, 64), JPEG[:SOF] + b"\xff\xda\x00\x02"], (64, 64)))
    with pytest.raises(VideoError, match="without a readable frame header"):
        scan_frames(path, 200, 8_294_400)
