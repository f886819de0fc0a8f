"""Enrollment, the one use case: faces of photos, a short video or track crops into the library.

Every way in goes through here: an upload of photos or a video (`POST /api/samples/...`), a collection's
crops, naming a visitor, accepting a suggestion by hand or automatically. Each begins an upload ticket (a
person deleted meanwhile is not re-created), judges the faces against the person's stored embeddings
(duplicates) and sample count (the cap) with the same header checks, pixel budget and quality checks, and
stores the accepted ones in one transaction, counted in the hub's metrics. Crops of tracks are judged as
photos are. Library code: the web API turns `NothingEnrolled` into HTTP 422.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from hub.errors import ConflictError
from hub.library.embeddings import ModelChangedError
from hub.library.enroll import Enroller, EnrollReport
from hub.library.library import Library, Person, Sample, UploadTicket
from hub.metrics import HubMetrics

Source = Literal["photos", "video", "crops"]


class NothingEnrolled(ValueError):
    """No face of the upload could be stored (HTTP 422); `rejected` counts why, by reason."""

    def __init__(self, message: str, rejected: dict[str, int], faces_found: int) -> None:
        super().__init__(message)
        self.rejected = rejected
        self.faces_found = faces_found


@dataclass(frozen=True)
class Judged:
    """An analysed upload, not stored yet: its ticket and what the enroller made of its faces."""

    ticket: UploadTicket
    report: EnrollReport


@dataclass(frozen=True)
class Enrolled:
    """A stored upload: the person (created if new), the samples added, and the report they came from."""

    person: Person
    samples: list[Sample]
    report: EnrollReport


def crop_files(crops: list[tuple[str, bytes]]) -> list[tuple[str, BinaryIO]]:
    """(file name, JPEG bytes) -> (file name, open file), as `Enroller.from_photos` reads an upload."""
    return [(name, io.BytesIO(jpeg)) for name, jpeg in crops]


class Enrollment:
    def __init__(self, enroller: Enroller, library: Library, max_samples_per_person: int, metrics: HubMetrics) -> None:
        self.enroller, self.library, self.metrics = enroller, library, metrics
        self.max_samples_per_person = max_samples_per_person

    def photos(self, label: str, photos: Sequence[tuple[str, BinaryIO]], source: Source = "photos") -> Enrolled:
        """One sample per photo (the face nearest its centre) for the person named `label`."""
        return self.store(self.judge_photos(label, photos, source))

    def crops(self, label: str, crops: list[tuple[str, bytes]]) -> Enrolled:
        """Track crops (file name, JPEG) of a visitor, a suggestion or a collection, judged as photos are."""
        return self.photos(label, crop_files(crops), "crops")

    def accept_crops(self, label: str, crops: list[tuple[str, bytes]]) -> tuple[int, str]:
        """`crops` for a caller without HTTP (auto-accepted suggestions, the evaluations), which records a
        refusal rather than raise it: (samples added, why none were when 0: the rejection counts, or the
        library's refusal)."""
        try:
            return len(self.crops(label, crops).samples), ""
        except NothingEnrolled as exc:
            return 0, ", ".join(f"{k} {v}" for k, v in sorted(exc.rejected.items())) or "no face"
        except (ConflictError, ModelChangedError) as exc:
            return 0, str(exc)

    def judge_photos(self, label: str, photos: Sequence[tuple[str, BinaryIO]], source: Source = "photos") -> Judged:
        ticket, existing, stored = self._begin(label)
        with self.metrics.enroll_seconds.labels(source).time():
            return Judged(ticket, self.enroller.from_photos(photos, existing, stored))

    def judge_video(
        self,
        label: str,
        path: Path,
        name: str,
        max_frames: int | None = None,
        max_samples: int | None = None,
        upload_key: str = "",
    ) -> Judged:
        """Samples of the person in the centre of a short video (`Enroller.from_video`), not stored yet: the
        caller looks for a retry that stored meanwhile (`upload_key`) before `store`."""
        ticket, existing, stored = self._begin(label, upload_key)
        with self.metrics.enroll_seconds.labels("video").time():
            return Judged(ticket, self.enroller.from_video(path, name, existing, max_frames, max_samples, stored))

    def store(self, judged: Judged) -> Enrolled:
        """Store the accepted faces in one transaction, or refuse (NothingEnrolled) when there are none."""
        report = judged.report
        for reason, count in report.rejected.items():
            self.metrics.faces_rejected.labels(reason).inc(count)
        if not report.accepted:
            raise NothingEnrolled(self._why_none(report), dict(report.rejected), report.faces_found)
        person, samples = self.library.add_samples(
            judged.ticket, report.accepted, report.model_id, self.max_samples_per_person
        )
        self.metrics.samples_added.inc(len(samples))
        return Enrolled(person, samples, report)

    def _begin(self, label: str, upload_key: str = "") -> tuple[UploadTicket, np.ndarray, int]:
        """The upload's ticket (checked again when it stores), the person's stored embeddings (K, D) of the
        active model (for duplicates) and how many samples they hold (for the cap: every sample has an
        embedding of the active model, so K)."""
        ticket = self.library.begin_upload(label, upload_key)
        if not ticket.person_id:
            return ticket, np.zeros((0, 0), np.float32), 0
        found = self.library.embeddings(ticket.person_id)
        return ticket, found.vectors, len(found.sample_ids)

    def _why_none(self, report: EnrollReport) -> str:
        if report.rejected.get("over_limit"):
            return (
                f"the person holds max_samples_per_person ({self.max_samples_per_person}) samples already; "
                "nothing was stored"
            )
        return "no usable face found; nothing was stored"
