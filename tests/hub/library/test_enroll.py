"""Why a face is rejected, table-driven over real photos altered in known ways (library level, no HTTP)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import pytest

from hub.library import enroll
from hub.library.enroll import Enroller, face_quality
from hub.settings import EnrollConfig
from models import imageio
from models.imageio import load_image


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def photos(*named: tuple[str, bytes]) -> list[tuple[str, io.BytesIO]]:
    """(name, bytes) pairs as the (name, open file) pairs an upload hands the enroller."""
    return [(name, io.BytesIO(data)) for name, data in named]


ALTERATIONS: list[tuple[str, Callable[[np.ndarray], np.ndarray], str | None]] = [
    # the photo as it is: accepted
    ("as is", lambda im: im, None),
    # a flat grey picture: no face
    ("blank", lambda im: np.full_like(im, 128), "no_face"),
    # shrunk to a tenth: the face is about 26 px, under min_sample_face_px 40
    ("tiny", lambda im: cv2.resize(im, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA), "too_small"),
    # a strong Gaussian blur (sigma 14): Laplacian variance of the crop about 7
    ("blurred", lambda im: cv2.GaussianBlur(im, (0, 0), 14), "blurred"),
]


@pytest.fixture(scope="module")
def enroller(pipeline) -> Enroller:  # type: ignore[no-untyped-def]
    return Enroller(lambda: pipeline, EnrollConfig())


@pytest.mark.parametrize(("case", "alter", "reason"), ALTERATIONS, ids=[a[0] for a in ALTERATIONS])
def test_rejection_reasons(
    enroller: Enroller,
    shared_data: Path,
    case: str,
    alter: Callable[[np.ndarray], np.ndarray],
    reason: str | None,
) -> None:
    image = alter(load_image(shared_data / "clips/people/obama/obama2.jpg"))
    report = enroller.from_photos(photos((f"{case}.jpg", jpeg(image))), np.zeros((0, 128), np.float32))
    assert report.images == 1
    if reason is None:
        assert len(report.accepted) == 1 and not report.rejected
    else:
        assert not report.accepted and dict(report.rejected) == {reason: 1}


def test_duplicate_within_request_and_against_library(enroller: Enroller, shared_data: Path) -> None:
    data = (shared_data / "clips/people/obama/obama2.jpg").read_bytes()
    report = enroller.from_photos(photos(("a.jpg", data), ("b.jpg", data)), np.zeros((0, 128), np.float32))
    assert len(report.accepted) == 1 and report.rejected["duplicate"] == 1
    stored = np.stack([report.accepted[0].embedding])
    again = enroller.from_photos(photos(("c.jpg", data)), stored)
    assert not again.accepted and again.rejected["duplicate"] == 1


def test_each_photo_header_is_read_once(enroller: Enroller, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request's check reads every header before any decode; decoding uses what it read."""
    read: list[str] = []
    real = imageio.read_header

    def counting(source: BinaryIO) -> imageio.ImageHeader:
        read.append(type(source).__name__)
        return real(source)

    monkeypatch.setattr(imageio, "read_header", counting)
    monkeypatch.setattr(enroll, "read_header", counting)
    data = (shared_data / "clips/people/obama/obama2.jpg").read_bytes()
    report = enroller.from_photos(photos(("a.jpg", data), ("b.jpg", data)), np.zeros((0, 128), np.float32))
    assert report.images == 2 and len(read) == 2


def test_two_people_takes_the_face_nearest_the_centre(enroller: Enroller, shared_data: Path) -> None:
    image = load_image(shared_data / "clips/two_people.jpg")
    analysis, index = enroller.main_face(image)
    assert len(analysis.faces) == 2
    height, width = image.shape[:2]
    centres = (analysis.faces.xyxy[:, :2] + analysis.faces.xyxy[:, 2:]) / 2
    distances = np.linalg.norm(centres - np.array([width / 2, height / 2]), axis=1)
    assert index == int(distances.argmin())
    report = enroller.from_photos(photos(("two.jpg", jpeg(image))), np.zeros((0, 128), np.float32))
    assert len(report.accepted) == 1
    assert float(report.accepted[0].embedding @ analysis.embeddings[index]) > 0.95  # same face, re-encoded


@pytest.mark.parametrize(
    ("face_px", "score", "sharp", "expected"),
    [
        (112, 1.0, 100, 1.0),  # full size, certain, sharp
        (56, 1.0, 100, 0.5),  # half the crop size: upscaled, half the value
        (200, 0.9, 50, 0.45),  # large face, soft crop
    ],
)
def test_face_quality(face_px: float, score: float, sharp: float, expected: float) -> None:
    assert face_quality(face_px, score, sharp) == pytest.approx(expected)
