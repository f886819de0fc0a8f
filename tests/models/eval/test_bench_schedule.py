"""`facefleet bench models --schedule` treats a shot cut as the agent does: the whole pyramid, no live faces kept."""

from __future__ import annotations

import cv2
import numpy as np

from models.eval.bench_schedule import run_clip


def _flat(bgr: tuple[int, int, int]) -> np.ndarray:
    image = np.zeros((180, 320, 3), np.uint8)
    image[:] = bgr
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_a_cut_without_motion_gets_the_whole_pyramid(pipeline) -> None:  # type: ignore[no-untyped-def]
    # green and magenta have the same gray level (59) whichever channel order a gray conversion assumes:
    # no motion, but other colours
    green, magenta = _flat((0, 100, 0)), _flat((142, 0, 142))
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).mean() for f in (green, magenta)]
    assert abs(gray[0] - gray[1]) < 1
    reference, every5 = run_clip(pipeline.detector, iter([green] * 3 + [magenta] * 3), (5,))
    assert reference.kinds == ["full"] * 6
    assert every5.kinds == ["full", "skip", "skip", "full", "skip", "skip"]
