""" "Not this person": undoing a wrong attribution, from a track or from a sample.

From a track an agent named P that was someone else: the samples of P that made the stranger match are the
ones nearest the track's template. They are removed, nearest first, until P's templates (built as a gallery
builds them) no longer reach the agents' `match_threshold` on that template, at most half of P's samples
(a stranger who resembles P's typical face is not cured by emptying P: enrolling the stranger, so that the
margin tells them apart, is). The track then counts as unknown and joins a visitor. The next gallery
rollout carries the change.

From a sample wrongly filed under a person: the sample leaves the library and its crop and embedding become
an unknown track (camera `library`), so that the face joins a visitor and can be named correctly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facefleet.gallery import person_templates
from hub.errors import NotFoundError
from hub.library.active_model import HubModels
from hub.library.embeddings import EmbeddingStore
from hub.library.library import Library
from hub.library.reembed import embed_missing
from hub.visitors.records import EndedTrack, Visitor, VisitorError
from hub.visitors.store import VisitorStore


@dataclass(frozen=True)
class Correction:
    """Samples removed from the person, whether the track would still match them, the visitor it joined."""

    person_id: str
    removed_samples: list[str]
    still_matches: bool
    visitor: Visitor


def samples_behind_match(vectors: np.ndarray, template: np.ndarray, threshold: float) -> tuple[list[int], bool]:
    """Which of a person's samples (K, D) to remove so their templates no longer reach `threshold` on a (D,)
    template: nearest to it first, at most K // 2. Returns (indices, whether it still matches after)."""
    order = np.argsort(-(vectors @ template)).tolist()
    removed: list[int] = []
    while True:
        kept = np.delete(vectors, removed, axis=0)
        matches = len(kept) > 0 and float((person_templates(kept) @ template).max()) >= threshold
        if not matches or len(removed) >= len(vectors) // 2:
            return removed, matches
        removed.append(order[len(removed)])


def not_this_person(
    event_id: str,
    store: VisitorStore,
    library: Library,
    embeddings: EmbeddingStore,
    models: HubModels,
    threshold: float,
) -> Correction:
    """Undo a named track's attribution (see the module docstring)."""
    track = store.track(event_id)
    if track.person_id is None:
        raise VisitorError(f"track {event_id} is not named")
    person = library.person(track.person_id)
    embed_missing(library, embeddings, track.model_id, models.pipeline_for(track.model_id))
    found = library.embeddings(person.id, model_id=track.model_id)
    drop, still = samples_behind_match(found.vectors, store.template(event_id), threshold)
    removed = [found.sample_ids[i] for i in drop]
    if removed:
        library.delete_samples(removed)
    return Correction(person.id, removed, still, store.unname(event_id))


def sample_to_visitor(sample_id: str, store: VisitorStore, library: Library) -> Visitor:
    """Take a wrongly filed sample out of the library; its face joins a visitor (see the module docstring)."""
    sample = next((s for s in library.samples() if s.id == sample_id), None)
    if sample is None:
        raise NotFoundError(f"no sample {sample_id}")
    found = library.embeddings(sample.person_id)
    vector = found.vectors[found.sample_ids.index(sample_id)]
    track = EndedTrack(
        event_id=f"sample-{sample_id}",
        person_id=None,
        device_id="hub",
        camera="library",
        track_id=0,
        started_at=sample.created,
        ended_at=sample.created,
        model_id=found.model_id,
        confidence=0.0,
        frames=1,
        liveness=None,
        sharpness=sample.sharpness,
        ignored=False,
        template=vector,
        crop_jpeg=library.sample_path(sample_id).read_bytes(),
    )
    stored = store.add(track)
    library.delete_samples([sample_id])
    if stored is None or stored.visitor_id is None:
        raise VisitorError(f"sample {sample_id} was turned into a track before")
    return store.visitor(stored.visitor_id)
