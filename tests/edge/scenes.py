"""Test material made from real LFW photos: short videos of several people and galleries of the same people
built from other photos of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facefleet.gallery import Gallery, build_gallery
from models.pipeline import FacePipeline

FRAME_WH = (320, 240)
ENROLLED = {
    "george_w_bush": "George_W_Bush",
    "colin_powell": "Colin_Powell",
    "tony_blair": "Tony_Blair",
    "donald_rumsfeld": "Donald_Rumsfeld",
}
STRANGER = "Gerhard_Schroeder"


def lfw_image(lfw: Path, name: str, number: int) -> np.ndarray:
    path = lfw / "images_deepfunneled" / name / f"{name}_{number:04d}.jpg"
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def face_patch(image: np.ndarray, side: int) -> np.ndarray:
    """The central 150 px of a 250 px LFW photo (the face, without most background faces), resized."""
    return cv2.resize(image[50:200, 50:200], (side, side), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Segment:
    """One person on screen: who (None = stranger) and the frame range [first, last]."""

    person_id: str | None
    first: int
    last: int


def write_people_video(
    path: Path,
    photos: list[tuple[str | None, np.ndarray]],
    frames_each: int = 24,
    gap: int = 8,
    fps: float = 25.0,
    seed: int = 0,
) -> list[Segment]:
    """Each photo drifts slowly with small jitter and scale changes for `frames_each` frames, then `gap`
    empty frames (long enough for its track to end)."""
    rng = np.random.default_rng(seed)
    w, h = FRAME_WH
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    background = np.full((h, w, 3), 96, np.uint8)
    segments, index = [], 0
    for person_id, photo in photos:
        start = index
        drift = rng.uniform(-1.0, 1.0, 2)
        for i in range(frames_each):
            side = int(140 * (1 + 0.04 * np.sin(i / 4)))
            patch = face_patch(photo, side)
            x = int(w / 2 - side / 2 + drift[0] * i + rng.integers(-2, 3))
            y = int(h / 2 - side / 2 + drift[1] * i + rng.integers(-2, 3))
            frame = background.copy()
            frame[y : y + side, x : x + side] = patch
            writer.write(frame)
            index += 1
        segments.append(Segment(person_id, start, index - 1))
        for _ in range(gap):
            writer.write(background)
            index += 1
    writer.release()
    return segments


def enrolled_gallery(
    pipeline: FacePipeline, lfw: Path, numbers: range, version: str = "1", cohort: np.ndarray | None = None
) -> Gallery:
    """Templates of the enrolled people from the given photo numbers (not the ones in the video), and the
    impostor cohort's embeddings when given (as the hub's galleries carry them)."""
    samples, labels = [], []
    for p, name in enumerate(ENROLLED.values()):
        for n in numbers:
            analysis = pipeline.analyze(lfw_image(lfw, name, n))
            i = analysis.faces.nearest_centre((250, 250))
            if i >= 0:
                samples.append(analysis.embeddings[i])
                labels.append(p)
    return build_gallery(
        version,
        pipeline.model_id,
        list(ENROLLED),
        [n.replace("_", " ") for n in ENROLLED.values()],
        np.stack(samples),
        np.array(labels),
        cohort=cohort,
    )
