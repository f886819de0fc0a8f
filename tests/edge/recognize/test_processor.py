"""The processor's per-track evidence on LFW faces pasted on a plain frame (synthetic scenes: unit tests
only; the real clip is judged in tests/tooling/video_eval)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge.capture.frames import Frame
from edge.config import RecognitionConfig, TrackerConfig
from edge.recognize.events import TrackEventRecord
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.processor import CameraProcessor, embed_together
from facefleet.gallery import Gallery
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline
from tests.conftest import LFW
from tests.edge.scenes import face_patch, lfw_image

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def scene_frame(patches: list[np.ndarray], i: int) -> Frame:
    """The patches side by side on a grey 320x240 frame, jittering a pixel or two with the frame number."""
    image = np.full((240, 320, 3), 96, np.uint8)
    for k, patch in enumerate(patches):
        x = 10 + 150 * k + (i % 3)
        image[60 : 60 + len(patch), x : x + len(patch)] = patch
    return Frame("cam", image, T0 + timedelta(seconds=i / 25), i)


def show(processor: CameraProcessor, patches: list[np.ndarray], frames: range) -> list[TrackEventRecord]:
    """`scene_frame` for these frame numbers through the processor."""
    return [e for i in frames for e in processor.process(scene_frame(patches, i)).events]


def play(processor: CameraProcessor, patches: list[np.ndarray], frames: int = 20) -> list[TrackEventRecord]:
    """`show` for `frames` frames, then the end of every track."""
    return show(processor, patches, range(frames)) + processor.end_all(T0 + timedelta(seconds=frames / 25))


def processor_for(pipeline: FacePipeline, gallery: Gallery, **recognition: float) -> CameraProcessor:
    holder = ModelGalleryHolder(ModelGallery(pipeline, gallery))
    return CameraProcessor("cam", holder, TrackerConfig(), RecognitionConfig(**recognition), ScheduleConfig())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def powell(fast_pipeline: FacePipeline) -> tuple[Gallery, np.ndarray]:
    """A gallery of Colin Powell from his photo 1, and a 130 px face patch of his photo 10."""
    analysis = fast_pipeline.analyze(lfw_image(LFW, "Colin_Powell", 1))
    index = analysis.faces.nearest_centre((250, 250))
    gallery = Gallery(
        "1",
        fast_pipeline.model_id,
        ("powell",),
        ("Colin Powell",),
        np.zeros(1, np.int64),
        analysis.embeddings[index : index + 1],
    )
    return gallery, face_patch(lfw_image(LFW, "Colin_Powell", 10), 130)


def ended(events: list[TrackEventRecord]) -> list[TrackEventRecord]:
    return [e for e in events if e.type == "track_ended"]


def test_a_known_face_is_named_at_the_start_of_its_track(
    fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray]
) -> None:
    gallery, patch = powell
    events = play(processor_for(fast_pipeline, gallery), [patch])
    started = [e for e in events if e.type == "track_started"]
    assert len(started) == 1 and started[0].identity.person_id == "powell", "named in track_started already"
    assert [e.type for e in events].count("identity_confirmed") == 1
    last = ended(events)[0]
    assert last.identity.person_id == "powell" and last.template is not None and last.best_crop_jpeg


def test_one_embedding_decides_alone(fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray]) -> None:
    gallery, patch = powell
    last = ended(play(processor_for(fast_pipeline, gallery, embed_every_frames=1000), [patch]))[0]
    assert last.identity.frames == 1 and last.identity.person_id == "powell"
    assert not last.identity.confirmed, "one decision does not confirm"


def test_a_track_whose_faces_are_all_below_the_floor_is_never_embedded(
    fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray]
) -> None:
    gallery, patch = powell
    events = play(processor_for(fast_pipeline, gallery, min_embed_face_px=200, good_face_px=200), [patch])
    last = ended(events)[0]
    assert last.identity.person_id is None and last.identity.frames == 0
    assert last.template is None and last.best_crop_jpeg is None


def test_an_empty_gallery_leaves_every_track_unknown(
    fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray]
) -> None:
    _, patch = powell
    events = play(processor_for(fast_pipeline, Gallery.empty(fast_pipeline.model_id)), [patch])
    assert {e.identity.person_id for e in events} == {None}
    assert ended(events)[0].identity.frames >= 1, "still embedded: the template is kept for the hub"


def shifted_frame(patch: np.ndarray, i: int, dx: int, paint: bool = False) -> Frame:
    """One patch at x = 10 + dx on the grey frame; `paint`: the left 60 columns of the background turn green
    (a quarter of the frame's colours change: a suspected cut, not a cut)."""
    image = np.full((240, 320, 3), 96, np.uint8)
    if paint:
        image[:, :60] = (40, 160, 40)
    image[60 : 60 + len(patch), 10 + dx : 10 + dx + len(patch)] = patch
    return Frame("cam", image, T0 + timedelta(seconds=i / 25), i)


def swap(
    fast_pipeline: FacePipeline, gallery: Gallery, patch: np.ndarray, dx: int, paint: bool
) -> tuple[dict[int, str | None], list[TrackEventRecord]]:
    """Powell for 10 frames, then Schroeder from frame 10 at `dx` pixels to the right (and `paint`)."""
    other = face_patch(lfw_image(LFW, "Gerhard_Schroeder", 10), 130)
    processor = processor_for(fast_pipeline, gallery, embed_every_frames=2)
    events = [e for i in range(10) for e in processor.process(shifted_frame(patch, i, 0)).events]
    events += [e for i in range(10, 24) for e in processor.process(shifted_frame(other, i, dx, paint)).events]
    events += processor.end_all(T0 + timedelta(seconds=1))
    return {e.track_id: e.identity.person_id for e in ended(events)}, events


@pytest.mark.parametrize(
    ("dx", "paint", "why"),
    [
        (45, False, "the new face overlaps the old box by 0.49: the boxes alone do not vouch, the face must agree"),
        (60, False, "overlap 0.37, as the box carried across the sitcom's missed cut (0.33)"),
        (0, True, "the same box, on a frame whose colours changed like a cut, though too little to be one"),
    ],
)
def test_someone_else_where_the_boxes_do_not_vouch_starts_a_new_track(
    fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray], dx: int, paint: bool, why: str
) -> None:
    gallery, patch = powell
    names, events = swap(fast_pipeline, gallery, patch, dx, paint)
    assert len(names) == 2 and set(names.values()) == {"powell", None}, why
    assert not any(e.type == "identity_changed" and e.identity.person_id is None for e in events), (
        "Powell's track never turned into the stranger's"
    )


def test_a_face_that_changes_where_the_boxes_vouch_keeps_its_track(
    fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray]
) -> None:
    """The same box, a steady frame: the boxes vouch for the face (a head turning), so the track goes on, and
    its name is dropped as the new views outweigh the ones that matched."""
    gallery, patch = powell
    names, events = swap(fast_pipeline, gallery, patch, 0, False)
    assert len(names) == 1 and list(names.values()) == [None]
    assert [e.identity.person_id for e in events if e.type == "identity_changed"] == [None]


def test_cameras_embedded_together_give_what_each_alone_gives(
    fast_pipeline: FacePipeline, powell: tuple[Gallery, np.ndarray]
) -> None:
    """Two cameras whose due faces go to the embedder in one batch (`begin`, `embed_together`, `finish`, as
    the agent's frame loop does) produce the events each produces alone with `process`."""
    gallery, patch = powell
    stranger = face_patch(lfw_image(LFW, "George_W_Bush", 1), 130)
    scenes = {"a": [patch], "b": [stranger, patch]}
    alone = {
        name: [
            (e.type, e.track_id, e.identity.person_id, e.frames) for e in play(processor_for(fast_pipeline, gallery), p)
        ]
        for name, p in scenes.items()
    }
    together = {name: processor_for(fast_pipeline, gallery) for name in scenes}
    events: dict[str, list[TrackEventRecord]] = {name: [] for name in scenes}
    batch_sizes = []
    for i in range(20):
        pending = [together[name].begin(scene_frame(p, i)) for name, p in scenes.items()]
        batch_sizes.append(sum(len(p.due) for p in pending))
        for name, frame_pending, embedded in zip(scenes, pending, embed_together(pending), strict=True):
            assert len(embedded.embeddings) == len(frame_pending.due)
            events[name] += together[name].finish(frame_pending, embedded).events
    for name, processor in together.items():
        events[name] += processor.end_all(T0 + timedelta(seconds=20 / 25))
    assert max(batch_sizes) >= 2  # the batches really mixed the cameras' faces
    assert {
        name: [(e.type, e.track_id, e.identity.person_id, e.frames) for e in evs] for name, evs in events.items()
    } == alone
    assert any(person == "powell" for _, _, person, _ in alone["a"])
