"""Crops of tracks into the library through the normal enrollment path: the same header checks and pixel
budget, face detection, quality checks (blurred, duplicates) and per-person cap as an upload of photos
(`POST /api/samples/photos`), and the same upload ticket, so a person deleted meanwhile is not re-created.
Used by naming a visitor and accepting a suggestion (the API stores the report) and by auto-accepted
suggestions (stored here, without HTTP)."""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np

from hub.errors import ConflictError
from hub.library.embeddings import ModelChangedError
from hub.library.enroll import Enroller, EnrollReport
from hub.library.library import Library, UploadTicket


def crop_files(crops: list[tuple[str, bytes]]) -> list[tuple[str, BinaryIO]]:
    """(file name, JPEG bytes) -> (file name, open file), as `Enroller.from_photos` reads an upload."""
    return [(name, io.BytesIO(jpeg)) for name, jpeg in crops]


def analyse_crops(enroller: Enroller, library: Library, label: str,
                  crops: list[tuple[str, bytes]]) -> tuple[UploadTicket, EnrollReport]:
    """Begin an upload for the person named `label` (created when stored, if new) and judge the JPEG crops
    against that person's stored embeddings of the active model (duplicates) and sample count (the cap)."""
    ticket = library.begin_upload(label)
    found = library.embeddings(ticket.person_id) if ticket.person_id else None
    existing = found.vectors if found is not None else np.zeros((0, 0), np.float32)
    stored = len(found.sample_ids) if found is not None else 0
    return ticket, enroller.from_photos(crop_files(crops), existing, stored)


def enroll_crops(enroller: Enroller, library: Library, label: str, crops: list[tuple[str, bytes]],
                 max_per_person: int) -> tuple[int, str]:
    """Enroll JPEG crops as samples of the person named `label` (created if new).

    Returns (samples added, why none were when 0: the rejection counts, or the refusal of the store).
    """
    ticket, report = analyse_crops(enroller, library, label, crops)
    if not report.accepted:
        return 0, ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items())) or "no face"
    try:
        _, samples = library.add_samples(ticket, report.accepted, report.model_id, max_per_person)
    except (ConflictError, ModelChangedError) as exc:
        return 0, str(exc)
    return len(samples), ""
