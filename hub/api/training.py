"""Retraining jobs: start one, watch its progress and gate report, cancel it.

Retraining is the hub's optional `training` extra: without it a start answers 503 saying how to install it,
and `GET /api/training/availability` tells the page so before anyone presses the button.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from hub.api.deps import AdminScope, TrainingDep
from hub.training.config import TrainingConfig
from hub.training.dataset import NotEnoughPeopleError
from hub.training.jobs import JobBusyError, JobState, JobStatus, UnknownJobError
from hub.training.progress import TrainingProgress, TrainingReport
from hub.training.service import HubTraining, training_unavailable

router = APIRouter(prefix="/api/training", tags=["training"])


class JobPublic(BaseModel):
    job_id: str
    state: JobState
    created: str
    started: str | None
    finished: str | None
    progress: TrainingProgress | None
    report: TrainingReport | None
    error: str
    released_model: str | None = Field(None, description="the released `model` artifact version")
    released_gallery: str | None = Field(None, description="the `gallery` artifact built with it")


class AvailabilityPublic(BaseModel):
    available: bool
    detail: str = Field(description="why retraining cannot run here ('' when it can)")


def job_public(training: HubTraining, job: JobStatus) -> JobPublic:
    pair = training.released.get(job.report.version) if job.report and job.report.released else None
    return JobPublic(
        job_id=job.job_id,
        state=job.state,
        created=job.created.isoformat(),
        started=job.started.isoformat() if job.started else None,
        finished=job.finished.isoformat() if job.finished else None,
        progress=job.progress,
        report=job.report,
        error=job.error,
        released_model=pair[0].version if pair else None,
        released_gallery=pair[1].version if pair else None,
    )


@router.get("/availability")
def availability(_: AdminScope) -> AvailabilityPublic:
    """Whether this hub can retrain (the `training` extra, torch, is installed)."""
    reason = training_unavailable()
    return AvailabilityPublic(available=not reason, detail=reason)


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_training(training: TrainingDep, _: AdminScope, body: TrainingConfig | None = None) -> JobPublic:
    """Fine-tune the active model on the library (ArcFace loss by default); one job at a time."""
    try:
        job_id = await run_in_threadpool(training.start, body or TrainingConfig())
    except NotEnoughPeopleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except JobBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return job_public(training, training.status(job_id))


@router.get("")
def list_jobs(training: TrainingDep, _: AdminScope) -> list[JobPublic]:
    return [job_public(training, job) for job in training.jobs.jobs()]


@router.get("/{job_id}")
def get_job(job_id: str, training: TrainingDep, _: AdminScope) -> JobPublic:
    try:
        return job_public(training, training.status(job_id))
    except UnknownJobError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id}") from exc


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, training: TrainingDep, _: AdminScope) -> JobPublic:
    try:
        return job_public(training, training.jobs.cancel(job_id))
    except UnknownJobError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id}") from exc
