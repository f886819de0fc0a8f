"""A fake camera for headless Chromium: frames of a real clip written as a Y4M file, which Chromium plays in
a loop as its camera (`--use-fake-device-for-media-stream --use-file-for-fake-video-capture=<file>`)."""

from __future__ import annotations

from pathlib import Path

import cv2


def write_y4m(clip: Path, first: int, last: int, target: Path, width: int | None = None) -> Path:
    """Frames `first`..`last` (inclusive, 0-based) of `clip` as a 4:2:0 Y4M at the clip's rate, scaled to
    `width` (even sides) when given."""
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    clip_w, clip_h = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    width = width or clip_w
    height = round(clip_h * width / clip_w) // 2 * 2
    capture.set(cv2.CAP_PROP_POS_FRAMES, first)
    with target.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{round(fps * 1000)}:1000 Ip A1:1 C420jpeg\n".encode())
        for _ in range(first, last + 1):
            ok, frame = capture.read()
            if not ok:
                break
            if frame.shape[1] != width:
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    capture.release()
    return target


def camera_flags(y4m: Path) -> tuple[str, ...]:
    """Chromium flags: the Y4M as the camera, and camera permission granted without asking."""
    return (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    )
