"""A person's coverage from their sample embeddings: views counted by the gallery's template rule, levels;
and, on real photos, the spread bound between re-captures of one photo and photos of different occasions."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from facefleet.gallery import MAX_TEMPLATES
from hub.library.coverage import (
    ADVICE,
    GOOD_MIN_SPREAD,
    NO_SAMPLES,
    CoverageCache,
    coverage_level,
    person_coverage,
)
from hub.library.embeddings import SampleEmbeddings
from hub.library.enroll import Enroller
from hub.settings import EnrollConfig
from models.imageio import load_image

DIM = 128


def views(count: int, pairwise_cosine: float, first_axis: int = 0) -> np.ndarray:
    """(count, DIM) unit vectors, each pair at `pairwise_cosine`: a shared axis plus an axis of each one's own."""
    vectors = np.zeros((count, DIM), np.float32)
    vectors[:, first_axis] = np.sqrt(pairwise_cosine)
    for i in range(count):
        vectors[i, first_axis + 1 + i] = np.sqrt(1.0 - pairwise_cosine)
    return vectors


def copies(count: int, axis: int = 0) -> np.ndarray:
    """(count, DIM) copies of one unit vector."""
    vectors = np.zeros((count, DIM), np.float32)
    vectors[:, axis] = 1.0
    return vectors


PEOPLE = [
    # no sample (the store's empty read is (0, 0)): nobody to match
    (np.zeros((0, 0), np.float32), 0, 0, 0.0, "none"),
    # one photo: one template (the mean is the sample)
    (copies(1), 1, 1, 0.0, "one_view"),
    # five frames of a still face, all within the gallery's duplicate cosine (0.95) of their mean: one view
    (views(5, 0.97), 5, 1, 0.0, "one_view"),
    # a wrong face far from the others (cosine under 0.2 to their mean) is dropped, not counted as a view
    (np.concatenate([copies(3), -copies(1)]), 4, 1, 0.0, "one_view"),
    # two photos alike (0.85, as two frames of one shot): both within 0.95 of their mean, which alone is kept
    (views(2, 0.85), 2, 1, 0.0, "one_view"),
    # two distinct photos (0.7, as obama's two): the mean and both
    (views(2, 0.7), 2, 3, 0.3, "few_views"),
    # three distinct photos (0.7): the mean and all three, spread as photos of different occasions
    (views(3, 0.7), 3, 4, 0.3, "good"),
    # many distinct photos: the gallery keeps MAX_TEMPLATES, no more
    (views(12, 0.6), 12, MAX_TEMPLATES, 0.4, "good"),
    # many frames of one moment (0.88 apart: not duplicates, but as alike as frames of one shot)
    (views(10, 0.88), 10, MAX_TEMPLATES, 0.12, "few_views"),
]


@pytest.mark.parametrize(("embeddings", "samples", "expected_views", "spread", "level"), PEOPLE)
def test_person_coverage(embeddings: np.ndarray, samples: int, expected_views: int, spread: float, level: str) -> None:
    coverage = person_coverage(embeddings)
    assert (coverage.samples, coverage.views, coverage.level) == (samples, expected_views, level)
    assert coverage.spread == pytest.approx(spread, abs=1e-3)
    assert coverage.advice == ADVICE[coverage.level]


LEVELS = [
    (0, 0, 0.0, "none"),  # nothing
    (1, 1, 0.0, "one_view"),  # one photo
    (40, 1, 0.0, "one_view"),  # a long video of a still face: still one template
    (3, 2, 0.3, "few_views"),  # three photos, two of them alike: the mean and one more
    (2, 3, 0.5, "few_views"),  # two photos, however different
    (3, 4, 0.19, "few_views"),  # enough templates, all of one moment
    (3, 4, 0.2, "good"),  # the mean and three distinct photos
    (200, 8, 0.6, "good"),  # a full gallery entry
]


@pytest.mark.parametrize(("samples", "template_count", "spread", "level"), LEVELS)
def test_coverage_level(samples: int, template_count: int, spread: float, level: str) -> None:
    assert coverage_level(samples, template_count, spread) == level


def test_advice_says_what_to_add() -> None:
    assert ADVICE["none"].startswith("no photo: this person cannot be recognised")
    assert ADVICE["one_view"].startswith("one view: expect weak recognition in profile and in other light")
    assert all("add" in ADVICE[level] for level in ("none", "one_view", "few_views"))


def library_read(model_id: str, rows: list[tuple[str, str, np.ndarray]]) -> SampleEmbeddings:
    """What the store returns for (sample id, person id, embedding) rows of one model."""
    return SampleEmbeddings(
        model_id,
        tuple(r[0] for r in rows),
        np.array([r[1] for r in rows], object),
        np.stack([r[2] for r in rows]) if rows else np.zeros((0, 0), np.float32),
    )


def test_coverage_cache_groups_one_read_and_reuses_unchanged_people() -> None:
    one, two = copies(1, axis=0)[0], views(3, 0.7, first_axis=10)
    # rows of two people interleaved, as the store returns them (oldest sample first)
    rows = [("s1", "b", two[0]), ("s2", "a", one), ("s3", "b", two[1]), ("s4", "b", two[2])]
    cache = CoverageCache()
    first = cache.of_everyone(library_read("m1", rows))
    assert first == {"a": person_coverage(one[None]), "b": person_coverage(two)}
    assert (first["a"].level, first["b"].level) == ("one_view", "good")
    # the same samples again: the coverage worked out last time, not a new one
    again = cache.of_everyone(library_read("m1", rows))
    assert again["a"] is first["a"] and again["b"] is first["b"]
    # a sample of b deleted: b worked out again, a reused
    fewer = cache.of_everyone(library_read("m1", [r for r in rows if r[0] != "s4"]))
    assert fewer["a"] is first["a"] and (fewer["b"].samples, fewer["b"].views) == (2, 3)
    # another model's embeddings of the same samples are other vectors: nothing reused
    assert cache.of_everyone(library_read("m2", rows))["a"] is not first["a"]
    # an empty library
    assert cache.of_everyone(library_read("m2", [])) == {}
    assert person_coverage(np.zeros((0, DIM), np.float32)) == NO_SAMPLES


def recaptures(image: np.ndarray) -> dict[str, np.ndarray]:
    """One photo as a camera might catch the same moment again: scaled, lighter, darker, turned 6 degrees
    each way, softer, shifted."""
    h, w = image.shape[:2]
    turn = {a: cv2.getRotationMatrix2D((w / 2, h / 2), a, 1.0) for a in (-6, 6)}
    shift = np.array([[1, 0, 0.05 * w], [0, 1, 0.03 * h]], np.float32)
    return {
        "as is": image,
        "scaled": cv2.resize(image, (int(w * 0.6), int(h * 0.6))),
        "lighter": np.clip(image * 1.3, 0, 255).astype(np.uint8),
        "darker": (image * 0.6).astype(np.uint8),
        **{f"turned {a}": cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for a, m in turn.items()},
        "softer": cv2.GaussianBlur(image, (5, 5), 1.2),
        "shifted": cv2.warpAffine(image, shift, (w, h), borderMode=cv2.BORDER_REPLICATE),
    }


@pytest.mark.parametrize(
    "photo",
    [
        "clips/people/obama/obama.jpg",
        "clips/people/rose_leslie/img1.jpg",
        "lfw/images_deepfunneled/Colin_Powell/Colin_Powell_0001.jpg",
    ],
)
def test_recaptures_of_one_photo_are_not_good(pipeline, shared_data: Path, photo: str) -> None:  # type: ignore[no-untyped-def]
    # duplicates kept (cosine 1.0): the point is what the gallery's rule makes of eight near-copies
    enroller = Enroller(lambda: pipeline, EnrollConfig(duplicate_cosine=1.0))
    copies_jpeg = [
        (f"{name}.jpg", io.BytesIO(cv2.imencode(".jpg", image)[1].tobytes()))
        for name, image in recaptures(load_image(shared_data / photo)).items()
    ]
    report = enroller.from_photos(copies_jpeg, np.zeros((0, 0), np.float32))
    coverage = person_coverage(np.stack([c.embedding for c in report.accepted]))
    assert coverage.samples == 8
    assert coverage.spread < GOOD_MIN_SPREAD and coverage.level in ("one_view", "few_views")


def test_photos_of_different_occasions_are_good(pipeline, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    enroller = Enroller(lambda: pipeline, EnrollConfig())
    folder = shared_data / "lfw" / "images_deepfunneled" / "Colin_Powell"
    photos = [(p.name, io.BytesIO(p.read_bytes())) for p in sorted(folder.iterdir())[:4]]
    report = enroller.from_photos(photos, np.zeros((0, 0), np.float32))
    coverage = person_coverage(np.stack([c.embedding for c in report.accepted]))
    assert (coverage.samples, coverage.views, coverage.level) == (4, 5, "good")
    assert coverage.spread > GOOD_MIN_SPREAD + 0.05
