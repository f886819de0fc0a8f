"""Crops of tracks into the library through the normal enrollment path, without HTTP (auto-accepted
suggestions): the same face detection, quality checks (blurred, duplicates) and per-person cap as an upload
of photos (`POST /api/samples/photos`)."""

from __future__ import annotations

import numpy as np

from hub.embeddings import ModelChangedError
from hub.enroll import Enroller
from hub.library import ConflictError, Library


def enroll_crops(enroller: Enroller, library: Library, label: str, crops: list[tuple[str, bytes]],
                 max_per_person: int) -> tuple[int, str]:
    """Enroll JPEG crops as samples of the person named `label` (created if new).

    Returns (samples added, why none were when 0: the rejection counts, or the cap's refusal).
    """
    person = library.person_by_name(label)
    existing = library.embeddings(person.id).vectors if person else np.zeros((0, 0), np.float32)
    report = enroller.from_photos(crops, existing, person.samples if person else 0)
    if not report.accepted:
        return 0, ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items())) or "no face"
    try:
        _, samples = library.add_samples(label, report.accepted, report.model_id, max_per_person)
    except (ConflictError, ModelChangedError) as exc:
        return 0, str(exc)
    return len(samples), ""
