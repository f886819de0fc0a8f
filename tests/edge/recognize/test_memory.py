"""Memory of who was just seen: what a camera's tracks lend (bounded, expiring, only from clear names), and
that a wrong name cannot spread through it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from edge.capture.frames import Frame
from edge.config import MemoryConfig, RecognitionConfig, TrackerConfig
from edge.recognize.memory import SightingMemory
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.processor import CameraProcessor
from facefleet.gallery import Gallery, build_gallery
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline
from tests.conftest import LFW
from tests.edge.scenes import face_patch, lfw_image

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PEOPLE = ("ann", "bob")


def unit(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    unit_vector: np.ndarray = v / np.linalg.norm(v)
    return unit_vector


def memory(**config: float) -> SightingMemory:
    held = SightingMemory(MemoryConfig(**config))  # type: ignore[arg-type]
    held.refresh(T0, "m", PEOPLE)
    return held


def test_a_lent_template_scores_for_its_person_only() -> None:
    held = memory()
    assert held.person_cosines(unit(1), PEOPLE) is None, "nothing lent: nothing to score"
    held.lend("ann", unit(1), T0, track_id=3)
    cosines = held.person_cosines(unit(1), PEOPLE)
    assert cosines is not None and cosines.tolist() == pytest.approx([1.0, -1.0])


@pytest.mark.parametrize(
    ("config", "lent", "kept"),
    [
        ({"per_person": 2}, ["ann", "ann", "ann"], 2),  # a person keeps their newest two
        ({"max_templates": 3}, ["ann", "bob", "ann", "bob", "ann"], 3),  # the camera keeps its newest three
        ({"enabled": False}, ["ann"], 0),  # off: nothing is kept
    ],
)
def test_memory_is_bounded(config: dict[str, float], lent: list[str], kept: int) -> None:
    held = memory(**config)
    for i, person in enumerate(lent):
        held.lend(person, unit(i), T0 + timedelta(seconds=i), track_id=i)
    assert len(held) == kept


def test_the_newest_of_a_person_are_kept() -> None:
    held = memory(per_person=1)
    held.lend("ann", unit(1), T0, track_id=1)
    held.lend("ann", unit(2), T0 + timedelta(seconds=1), track_id=2)
    cosines = held.person_cosines(unit(2), PEOPLE)
    assert cosines is not None and cosines[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("after_s", "model", "people", "kept"),
    [
        (599, "m", PEOPLE, 1),  # within ttl_s (600)
        (601, "m", PEOPLE, 0),  # expired in camera time
        (10, "other-model", PEOPLE, 0),  # another model's embeddings: all gone
        (10, "m", ("bob",), 0),  # ann left the gallery (deleted): her templates go with her
    ],
)
def test_lent_templates_expire_and_follow_the_gallery(
    after_s: float, model: str, people: tuple[str, ...], kept: int
) -> None:
    held = memory()
    held.lend("ann", unit(1), T0, track_id=1)
    held.refresh(T0 + timedelta(seconds=after_s), model, people)
    assert len(held) == kept


# -- through the processor, on LFW faces pasted on a plain frame ------------------------------------------


def frame(patch: np.ndarray | None, i: int) -> Frame:
    image = np.full((240, 320, 3), 96, np.uint8)
    if patch is not None:
        image[60 : 60 + len(patch), 90 + i % 3 : 90 + i % 3 + len(patch)] = patch
    return Frame("cam", image, T0 + timedelta(seconds=i / 25), i)


def visit(processor: CameraProcessor, patch: np.ndarray, start: int, frames: int = 15) -> list[str | None]:
    """A person on screen for `frames` frames, then nobody until their track ends: the track's names."""
    names = []
    for i in range(start, start + frames):
        names += [
            e.identity.person_id
            for e in processor.process(frame(patch, i)).events
            if e.type in ("track_started", "identity_changed")
        ]
    for i in range(start + frames, start + frames + 20):
        processor.process(frame(None, i))
    return names


def embedding(pipeline: FacePipeline, name: str, number: int, blur_sigma: float = 0.0) -> np.ndarray:
    """The embedding of an LFW photo's face patch on the grey frame, optionally blurred first."""
    patch = face_patch(lfw_image(LFW, name, number), 130)
    if blur_sigma:
        patch = cv2.GaussianBlur(patch, (0, 0), blur_sigma)
    analysis = pipeline.analyze(frame(patch, 0).image_bgr)
    found: np.ndarray = analysis.embeddings[analysis.faces.nearest_centre((320, 240))]
    return found


@pytest.fixture(scope="module")
def photos(fast_pipeline: FacePipeline) -> dict[str, np.ndarray]:
    """Poor enrollment photos (blurred) of Powell (his photo 3) and Rumsfeld (his photo 4), a clear Powell."""
    return {
        "powell_poor": embedding(fast_pipeline, "Colin_Powell", 3, blur_sigma=4.0),
        "powell_1": embedding(fast_pipeline, "Colin_Powell", 1),
        "rumsfeld_poor": embedding(fast_pipeline, "Donald_Rumsfeld", 4, blur_sigma=4.0),
    }


def processor_with(pipeline: FacePipeline, gallery: Gallery, **recognition: object) -> CameraProcessor:
    holder = ModelGalleryHolder(ModelGallery(pipeline, gallery))
    return CameraProcessor(
        "cam",
        holder,
        TrackerConfig(),
        RecognitionConfig(**recognition),  # type: ignore[arg-type]
        ScheduleConfig(),
    )


def test_a_clearly_named_track_lends_and_the_next_sighting_is_named_by_it(
    fast_pipeline: FacePipeline, photos: dict[str, np.ndarray], cohort: np.ndarray
) -> None:
    """Powell is enrolled from a poor photo. A track of his photo 12 is named and lends its template; a later
    track of his photo 48, which the gallery alone leaves unknown, is named through it. That second track,
    named thanks to a lent template, lends nothing in turn."""
    gallery = build_gallery(
        "1",
        fast_pipeline.model_id,
        ["powell"],
        ["Colin Powell"],
        photos["powell_poor"][None],
        np.zeros(1, np.int64),
        cohort=cohort,
    )
    later = face_patch(lfw_image(LFW, "Colin_Powell", 48), 130)
    assert set(visit(processor_with(fast_pipeline, gallery), later, 0)) == {None}, "the gallery alone: unknown"
    processor = processor_with(fast_pipeline, gallery)
    assert "powell" in visit(processor, face_patch(lfw_image(LFW, "Colin_Powell", 12), 130), 0)
    assert len(processor.memory) == 1
    assert visit(processor, later, 100)[-1] == "powell"
    assert len(processor.memory) == 1, "a borrowed name lends nothing"


def test_a_wrong_name_does_not_spread(
    fast_pipeline: FacePipeline, photos: dict[str, np.ndarray], cohort: np.ndarray
) -> None:
    """A gallery holding a poor photo of Rumsfeld under Powell's name: a track of Rumsfeld (his photo 7) is
    named powell, one wrong decision, and lends its template. Later tracks of him (photos 5 and 13, which that
    gallery alone leaves unknown) match the lent template and are named powell too, but they are borrowed and
    lend nothing: the camera holds the one wrong template, and when it expires the error is gone."""
    gallery = build_gallery(
        "1",
        fast_pipeline.model_id,
        ["powell"],
        ["Colin Powell"],
        photos["rumsfeld_poor"][None],
        np.zeros(1, np.int64),
        cohort=cohort,
    )
    processor = processor_with(fast_pipeline, gallery, memory={"ttl_s": 30.0})
    assert visit(processor, face_patch(lfw_image(LFW, "Donald_Rumsfeld", 7), 130), 0)[-1] == "powell"
    assert len(processor.memory) == 1, "the wrong decision lent its template"
    for start, number in ((100, 5), (200, 13)):
        assert visit(processor, face_patch(lfw_image(LFW, "Donald_Rumsfeld", number), 130), start)[-1] == "powell"
        assert len(processor.memory) == 1, "tracks named through the lent template lend nothing"
    processor.memory.refresh(T0 + timedelta(seconds=100), fast_pipeline.model_id, gallery.person_ids)
    assert len(processor.memory) == 0, "and it expires"
    assert set(visit(processor, face_patch(lfw_image(LFW, "Donald_Rumsfeld", 5), 130), 2600)) == {None}


def test_a_contested_track_lends_nothing(
    fast_pipeline: FacePipeline, photos: dict[str, np.ndarray], cohort: np.ndarray
) -> None:
    """Two enrolled 'people' from the same man's photo: every track of him is contested (two names within the
    margin), is named neither, and lends nothing."""
    gallery = build_gallery(
        "1",
        fast_pipeline.model_id,
        ["a", "b"],
        ["A", "B"],
        np.stack([photos["powell_1"], photos["powell_1"]]),
        np.array([0, 1]),
        cohort=cohort,
    )
    processor = processor_with(fast_pipeline, gallery)
    assert set(visit(processor, face_patch(lfw_image(LFW, "Colin_Powell", 10), 130), 0)) == {None}
    assert len(processor.memory) == 0
