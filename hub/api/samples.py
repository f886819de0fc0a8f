"""Samples: enroll from photos or a short video, list with thumbnails, delete, optimize."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Header, HTTPException, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from hub.api.deps import EnrollmentDep, EnrollScope, LibraryDep, SettingsDep
from hub.api.people import person_public
from hub.api.schemas import (
    CountPublic,
    EnrollPublic,
    OptimizeRequest,
    Rejections,
    SampleDelete,
    SamplePublic,
    public,
)
from hub.library.enrolling import Enrolled, Enrollment
from hub.library.library import Library, Sample
from hub.library.names import NameRefused, clean_name
from hub.library.upload_keys import KEY_PATTERN, StoredUpload, UploadAlreadyStored
from hub.library.uploads import copy_limited, spool_dir

router = APIRouter(prefix="/api/samples", tags=["samples"])
Label = Annotated[str, Form(min_length=1, max_length=100, description="the person's name (created if new)")]
UploadKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="the client's name for this upload (8-100 of A-Z a-z 0-9 _ -): a retry with the same key after "
        "the upload was stored stores nothing and answers 200 with what the first try stored",
    ),
]


def sample_public(request: Request, sample: Sample) -> SamplePublic:
    url = str(request.url_for("sample_image", sample_id=sample.id).path)
    return public(SamplePublic, sample, image_url=url)


def clean_label(label: str) -> str:
    try:
        return clean_name(label)
    except NameRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"label: {exc}") from exc


def replay(request: Request, response: Response, library: Library, stored: StoredUpload, label: str) -> EnrollPublic:
    """The answer to a retry of a stored upload (200, `Idempotent-Replayed: true`): its person and those of
    its samples still there; 409 when the key was used for another label."""
    if stored.label != label:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this Idempotency-Key was used for an upload under another label; use a new key for a new upload",
        )
    person = library.person(stored.person_id)
    samples = [s for s in library.samples(person.id) if s.id in stored.sample_ids]
    response.status_code = status.HTTP_200_OK
    response.headers["Idempotent-Replayed"] = "true"
    return EnrollPublic(
        person=person_public(library, person),
        faces_extracted=len(samples),
        faces_found=len(samples),
        rejected=Rejections(),
        samples=[sample_public(request, s) for s in samples],
    )


async def replay_if_stored(
    request: Request, response: Response, library: Library, upload_key: str | None, label: str
) -> EnrollPublic | None:
    """The replayed answer when an upload with this key was stored already, else None."""
    done = await run_in_threadpool(library.stored_upload, upload_key) if upload_key else None
    return await run_in_threadpool(replay, request, response, library, done, label) if done else None


def enrolled_public(request: Request, library: Library, enrolled: Enrolled) -> EnrollPublic:
    """The answer to a stored enrollment, whichever way it came in."""
    report = enrolled.report
    return EnrollPublic(
        person=person_public(library, enrolled.person),
        faces_extracted=len(enrolled.samples),
        faces_found=report.faces_found,
        rejected=Rejections(**report.rejected),
        images=report.images,
        frames_read=report.frames_read,
        frames_analyzed=report.frames_analyzed,
        samples=[sample_public(request, s) for s in enrolled.samples],
    )


async def enroll_crops(
    request: Request, enrollment: Enrollment, label: str, crops: list[tuple[str, bytes]]
) -> EnrollPublic:
    """Track crops (a visitor's, a suggestion's, a collection's) through the enrollment path."""
    enrolled = await run_in_threadpool(enrollment.crops, label, crops)
    return await run_in_threadpool(enrolled_public, request, enrollment.library, enrolled)


@router.post("/photos", status_code=status.HTTP_201_CREATED)
async def enroll_photos(
    request: Request,
    label: Label,
    files: list[UploadFile],
    enrollment: EnrollmentDep,
    settings: SettingsDep,
    _: EnrollScope,
) -> EnrollPublic:
    """One sample per photo (the face nearest the centre). Any unreadable file fails the whole request."""
    label = clean_label(label)
    if len(files) > settings.enroll.max_upload_files:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"at most {settings.enroll.max_upload_files} files")
    photos = [(f.filename or f"file{i}", f.file) for i, f in enumerate(files)]  # read one at a time
    enrolled = await run_in_threadpool(enrollment.photos, label, photos)
    return await run_in_threadpool(enrolled_public, request, enrollment.library, enrolled)


@router.post("/video", status_code=status.HTTP_201_CREATED)
async def enroll_video(
    request: Request,
    response: Response,
    label: Label,
    file: UploadFile,
    enrollment: EnrollmentDep,
    settings: SettingsDep,
    _: EnrollScope,
    max_frames: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    max_samples: Annotated[int | None, Form(ge=1, le=1000)] = None,
    upload_key: UploadKey = None,
) -> EnrollPublic:
    """Samples of the person in the centre of a short video: at most `max_frames` read, at most `max_samples`
    kept, evenly spread. Motion-JPEG (JPEG frames one after another, as the collection page sends) is read
    too. With an `Idempotency-Key`, a retry of a stored upload stores nothing again."""
    label, library = clean_label(label), enrollment.library
    if answer := await replay_if_stored(request, response, library, upload_key, label):
        return answer
    with spool_dir(settings.data_dir) as tmp:
        path = tmp / "upload"
        await run_in_threadpool(copy_limited, file.file, path, settings.enroll.max_video_bytes)
        judged = await run_in_threadpool(
            enrollment.judge_video, label, path, file.filename or "video", max_frames, max_samples, upload_key or ""
        )
    # a try with this key that stored while this one was analysed made this one's faces duplicates: its answer
    if answer := await replay_if_stored(request, response, library, upload_key, label):
        return answer
    try:
        enrolled = await run_in_threadpool(enrollment.store, judged)
    except UploadAlreadyStored as exc:  # one that stored while this one was storing
        return await run_in_threadpool(replay, request, response, library, exc.stored, label)
    return await run_in_threadpool(enrolled_public, request, library, enrolled)


@router.get("")
def list_samples(
    request: Request, library: LibraryDep, _: EnrollScope, person_id: Annotated[str | None, Query()] = None
) -> list[SamplePublic]:
    return [sample_public(request, s) for s in library.samples(person_id)]


@router.get("/{sample_id}/image", response_class=FileResponse)
def sample_image(sample_id: str, library: LibraryDep, _: EnrollScope) -> FileResponse:
    """The aligned face crop (JPEG, 112x112), used as the thumbnail."""
    return FileResponse(library.sample_path(sample_id), media_type="image/jpeg")


@router.delete("/{sample_id}")
def delete_sample(sample_id: str, library: LibraryDep, _: EnrollScope) -> CountPublic:
    return CountPublic(deleted=library.delete_samples([sample_id]))


@router.post("/delete")
def delete_samples(body: SampleDelete, library: LibraryDep, _: EnrollScope) -> CountPublic:
    """Delete the chosen samples; if any id is unknown, nothing is deleted (404)."""
    return CountPublic(deleted=library.delete_samples(body.ids))


@router.post("/optimize")
async def optimize(body: OptimizeRequest, library: LibraryDep, settings: SettingsDep, _: EnrollScope) -> CountPublic:
    """Keep at most `max_per_person` (default `max_samples_per_person`) samples per person, dropping
    near-duplicates and low quality first."""
    keep = body.max_per_person or settings.enroll.max_samples_per_person
    deleted = await run_in_threadpool(library.optimize, keep, body.person_id)
    return CountPublic(deleted=deleted)
